// The kiln command line, run as a user would: help, round trips through pipes, and errors that name
// the place and exit 1 (never a crash).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include <sys/stat.h>

#include <fmt/format.h>

#include "compiler/HostTensor.h"
#include "runtime/Safetensors.h"

#include <nlohmann/json.hpp>
#include "runtime/Safetensors.h"

#include <nlohmann/json.hpp>
#include "tests/TestUtil.h"

namespace kiln {

using test::runKiln;

TEST_CASE("kiln --help and every verb's --help") {
  test::CliResult top = runKiln("--help");
  CHECK(top.status == 0);
  for (const char* verb : {"export", "dump", "run", "train", "gradcheck", "llvm", "asm", "models", "passes", "fuzz-programs"}) {
    INFO("verb ", verb);
    CHECK(top.out.find(std::string("  ") + verb) != std::string::npos);
    test::CliResult r = runKiln(std::string(verb) + " --help");
    CHECK(r.status == 0);
    CHECK(r.out.rfind(std::string("usage: kiln ") + verb, 0) == 0);
  }
  test::CliResult none = runKiln("");
  CHECK(none.status == 1);
  CHECK(none.err.find("usage: kiln VERB") != std::string::npos);
}

TEST_CASE("export | dump round-trips, in text and JSON") {
  test::CliResult kir = runKiln("export mlp --batch 4");
  REQUIRE(kir.status == 0);
  CHECK(kir.out.rfind("kiln 1\ngraph \"mlp\"\n", 0) == 0);
  CHECK(kir.out.find("%0 = input {name=\"x\"} : f32[4,784]") != std::string::npos);
  test::CliResult again = runKiln("dump -", kir.out);
  CHECK(again.status == 0);
  CHECK(again.out == kir.out);
  test::CliResult json = runKiln("export mlp --batch 4 --json");
  REQUIRE(json.status == 0);
  CHECK(json.out.find("\"format\": \"kiln-ir\"") != std::string::npos);
  test::CliResult fromJson = runKiln("dump -", json.out);
  CHECK(fromJson.out == kir.out);
  CHECK(runKiln("dump - --json", kir.out).out == json.out);
  CHECK(runKiln("dump - --passes=verify --print-after-all", kir.out).out == "# after verify\n" + kir.out);
}

TEST_CASE("kiln run evaluates, reads and writes safetensors") {
  std::string dir = test::tempDir("clirun");
  std::string graph = dir + "/g.kir";
  std::ofstream(graph) << "kiln 1\n%0 = input {name=\"a\"} : f32[3]\n%1 = parameter {name=\"w\", init=ones, scale=0} : f32[3]\n"
                          "%2 = mul %0, %1 : f32[3]\n%3 = reduce_sum %2 {axes=[0]} : f32[]\noutput \"s\" = %3\n";
  writeSafetensors(dir + "/in.safetensors", toStored(TensorMap{{"a", test::tensor(DType::F32, {3}, {1, 2, 3.5})}}));
  test::CliResult r = runKiln("run " + graph + " --inputs " + dir + "/in.safetensors --out " + dir + "/out.safetensors");
  CHECK(r.status == 0);
  CHECK(r.out == "s: f32[] min 6.5 max 6.5 mean 6.5: [6.5]\n");
  CHECK(fromStored(readSafetensors(dir + "/out.safetensors")).at("s").data == std::vector<double>{6.5});
  // Parameters may come from the same file; random inputs are reproducible by seed.
  writeSafetensors(dir + "/in2.safetensors", toStored(TensorMap{{"a", test::tensor(DType::F32, {3}, {1, 2, 3})},
                                                              {"w", test::tensor(DType::F32, {3}, {2, 2, 2})}}));
  CHECK(runKiln("run " + graph + " --inputs " + dir + "/in2.safetensors").out == "s: f32[] min 12 max 12 mean 12: [12]\n");
  CHECK(runKiln("run " + graph + " --seed 5").out == runKiln("run " + graph + " --seed 5").out);
  CHECK(runKiln("run " + graph + " --seed 5").out != runKiln("run " + graph + " --seed 6").out);
  // Wrong shapes and unknown names in --inputs are errors naming the tensor.
  writeSafetensors(dir + "/bad.safetensors", toStored(TensorMap{{"a", test::tensor(DType::F32, {2}, {1, 2})}}));
  test::CliResult bad = runKiln("run " + graph + " --inputs " + dir + "/bad.safetensors");
  CHECK(bad.status == 1);
  CHECK(bad.err == dir + "/bad.safetensors: error: input \"a\": expected f32[3], got F32[2]\n");
  writeSafetensors(dir + "/extra.safetensors", toStored(TensorMap{{"zz", test::tensor(DType::F32, {2}, {1, 2})}}));
  CHECK(runKiln("run " + graph + " --inputs " + dir + "/extra.safetensors").err ==
        dir + "/extra.safetensors: error: tensor \"zz\" matches no input or parameter\n");
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln run --data fashion-mnist evaluates the MLP on a real batch") {
  test::CliResult kir = runKiln("export mlp --batch 16");
  test::CliResult r = runKiln("run - --data fashion-mnist", kir.out);
  CHECK(r.status == 0);
  CHECK(r.out.rfind("loss: f32[] min 2.", 0) == 0);
}

TEST_CASE("CLI errors: clear message, exit status 1") {
  struct Case {
    std::string args, stdinText, err;
  };
  std::vector<Case> cases = {
      {"export nosuch", "", "error: unknown model 'nosuch'; known models: mlp, cnn, gpt, gpt2-124m, bert, gpt-block\n"},
      {"export mlp --bogus", "", "error: kiln export: unknown flag --bogus; see kiln export --help\n"},
      {"export mlp --batch 0", "", "error: kiln export: --batch expects an integer in [1, 1048576], got '0'\n"},
      {"export mlp --batch", "", "error: kiln export: --batch needs a value\n"},
      {"export", "", "error: kiln export: expected one MODEL, got 0 argument(s); see kiln export --help\n"},
      {"frobnicate", "", "error: unknown verb 'frobnicate'; see kiln --help\n"},
      {"dump /nonexistent/g.kir", "", "/nonexistent/g.kir: error: cannot open file: No such file or directory\n"},
      {"dump -", "kiln 1\n%0 = input {name=\"x\"} : f32[2]\n%1 = frob %0 : f32[2]\n", "<stdin>:3:6: error: unknown op 'frob'\n"},
      {"dump - --passes=nope", "kiln 1\n", "error: unknown pass 'nope'; known passes: verify, autodiff, optimizer, simplify, split-reductions, fuse, unfused, plan-memory, plan-no-reuse\n"},
      {"dump -", "{\"format\": 1", "<stdin>: error: malformed JSON at byte 13: "},
      {"run - --data mnist", "kiln 1\n", "error: kiln run: unknown --data 'mnist'; expected fashion-mnist or fashion-mnist:DIR\n"},
      {"run - --data fashion-mnist", "kiln 1\n", "error: --data fashion-mnist needs inputs x [B, 784] or [B, 1, 28, 28] and labels i32[B]\n"},
      {"run - --f64 --engine jit", "kiln 1\n", "error: kiln run: --f64 is an interpreter option\n"},
      {"run - --engine gpu", "kiln 1\n", "error: kiln run: unknown --engine 'gpu'; expected interp or jit\n"},
      {"run - --inputs a --data fashion-mnist", "kiln 1\n", "error: kiln run: give at most one of --inputs and --data\n"},
      {"export mlp --train sgd --optimizer adam", "", "error: kiln export: give the optimizer once, as --train OPTIMIZER\n"},
      {"models extra", "", "error: kiln models: expected no arguments, got 1 argument(s); see kiln models --help\n"},
      {"passes extra", "", "error: kiln passes: expected no arguments, got 1 argument(s); see kiln passes --help\n"},
      {"plan - --svg", "kiln 1\n", "error: kiln plan: --svg needs a value\n"},
      {"kernels", "", "error: kiln kernels: expected one FILE (or - for standard input), got 0 argument(s); see kiln kernels --help\n"},
      {"llvm", "", "error: kiln llvm: expected one FILE (or - for standard input), got 0 argument(s); see kiln llvm --help\n"},
  };
  for (const Case& c : cases) {
    INFO("kiln ", c.args);
    test::CliResult r = runKiln(c.args, c.stdinText);
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    CHECK(r.err.rfind(c.err, 0) == 0);
  }
  // An index out of range at run time is an error naming the node, not a crash.
  std::string g = "kiln 1\n%0 = input {name=\"t\"} : f32[2,2]\n%1 = constant {values=[5]} : i32[1]\n"
                  "%2 = gather %0, %1 : f32[1,2]\noutput \"y\" = %2\n";
  test::CliResult r = runKiln("run -", g);
  CHECK(r.status == 1);
  CHECK(r.err == "error: %2 (gather): index 5 at position 0 is out of range [0, 2)\n");
  test::CliResult past = runKiln("run - --data fashion-mnist --batch-index 100000", runKiln("export mlp --batch 2").out);
  CHECK(past.status == 1);
  CHECK(past.err == "error: --batch-index 100000 is past the 60000 training images\n");
  CHECK(runKiln("models").out.rfind("mlp ", 0) == 0);
  CHECK(runKiln("passes").out.find("plan-memory") != std::string::npos);
}

}  // namespace kiln

namespace kiln {

TEST_CASE("kiln export --train and dump --passes=autodiff,optimizer print one training program") {
  test::CliResult prog = runKiln("export mlp --batch 4 --train adamw --lr 0.001");
  REQUIRE(prog.status == 0);
  CHECK(prog.out.find("output \"fc1.weight\" = %") != std::string::npos);
  CHECK(prog.out.find("state {name=\"fc1.weight.exp_avg\", init=zeros, scale=0} : f32[512,784]") != std::string::npos);
  CHECK(prog.out.find(" from %") != std::string::npos);
  CHECK(prog.out.find("# saved for backward: ") != std::string::npos);
  CHECK(runKiln("dump -", prog.out).out == prog.out);  // provenance, aliases and the saved list round-trip
  test::CliResult viaDump = runKiln("dump - --passes=autodiff,optimizer --optimizer adamw --lr 0.001",
                                    runKiln("export mlp --batch 4").out);
  CHECK(viaDump.out == prog.out);
  test::CliResult json = runKiln("dump - --json", prog.out);
  CHECK(runKiln("dump -", json.out).out == prog.out);
  CHECK(runKiln("export mlp --train rmsprop").err == "error: unknown optimizer 'rmsprop'; expected sgd, sgd-momentum, sgd-nesterov, adam or adamw\n");
  CHECK(runKiln("export mlp --train sgd --lr fast").err == "error: --lr expects a decimal number, got 'fast'\n");
  CHECK(runKiln("export mlp --train sgd --lr 0x10").err == "error: --lr expects a decimal number, got '0x10'\n");
  CHECK(runKiln("export mlp --train sgd --lr ' 0.1'").err == "error: --lr expects a decimal number, got ' 0.1'\n");
  CHECK(runKiln("export mlp --train sgd --lr 1e-3").status == 0);
}

TEST_CASE("kiln gradcheck: the op sweep and a file") {
  test::CliResult all = runKiln("gradcheck --all-ops");
  CHECK(all.status == 0);
  CHECK(all.out.find("conv2d stride 2 padding 1") != std::string::npos);
  CHECK(all.out.find(" 0 failed, worst relative error ") != std::string::npos);
  std::string g = "kiln 1\n%0 = parameter {name=\"w\", init=normal, scale=1} : f32[3]\n%1 = exp %0 : f32[3]\n"
                  "%2 = reduce_sum %1 {axes=[0]} : f32[]\noutput \"loss\" = %2\n";
  test::CliResult one = runKiln("gradcheck -", g);
  CHECK(one.status == 0);
  CHECK(one.out.find("<stdin>") != std::string::npos);
  CHECK(one.out.find("1 cases, 0 failed") != std::string::npos);
}

TEST_CASE("kiln train on both engines, and a resumed run ends where an uninterrupted one does") {
  for (const char* engine : {"interp", "jit"}) {
    INFO("engine ", engine);
    test::CliResult r = runKiln(std::string("train mlp --data fashion-mnist --steps 30 --batch 16 --eval-limit 200 --log-every 10 --engine ") + engine);
    CHECK(r.status == 0);
    CHECK(r.out.find("epoch 1: test accuracy ") != std::string::npos);
    CHECK(r.err.find("step 30/30 loss ") != std::string::npos);
  }
  std::string dir = test::tempDir("resume");
  std::string common = " --data fashion-mnist --batch 16 --eval-limit 100 --optimizer adamw --lr 0.001";
  REQUIRE(runKiln("train mlp --steps 30 --save " + dir + "/full.ckpt" + common).status == 0);
  REQUIRE(runKiln("train mlp --steps 20 --save " + dir + "/part.ckpt" + common).status == 0);
  test::CliResult resumed = runKiln("train mlp --steps 30 --resume " + dir + "/part.ckpt --save " + dir + "/resumed.ckpt" + common);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.out.find("resumed from " + dir + "/part.ckpt after step 20") != std::string::npos);
  TensorFile full = readSafetensors(dir + "/full.ckpt"), again = readSafetensors(dir + "/resumed.ckpt");
  REQUIRE(full.size() == again.size());
  for (const auto& [name, t] : full) {
    INFO("tensor ", name);
    CHECK(again.at(name).bytes == t.bytes);
  }
  CHECK(runKiln("train mlp --steps 5 --resume " + dir + "/missing.ckpt" + common).err.find("cannot open file") != std::string::npos);
  std::filesystem::remove_all(dir);
  CHECK(runKiln("train mlp --data fashion-mnist").err == "error: kiln train: give exactly one of --steps and --epochs\n");
  CHECK(runKiln("train mlp --data fashion-mnist --steps 1 --engine gpu").err ==
        "error: kiln train: unknown --engine 'gpu'; expected jit or interp\n");
}

TEST_CASE("kiln run --engine jit, kiln llvm and kiln asm") {
  std::string g = runKiln("export mlp --batch 2").out;
  test::CliResult interp = runKiln("run - --seed 3", g), jit = runKiln("run - --seed 3 --engine jit --time-passes", g);
  CHECK(jit.status == 0);
  CHECK(jit.out.substr(0, jit.out.find('\n')) == interp.out.substr(0, interp.out.find('\n')));  // the same loss line
  CHECK(jit.err.find("compile: simplify ") != std::string::npos);
  test::CliResult ir = runKiln("llvm -", g);
  CHECK(ir.status == 0);
  CHECK(ir.out.find("i32 @k12_matmul_fused(ptr noalias") != std::string::npos);
  CHECK(runKiln("llvm - --unoptimized", g).out.find("alloca i32") != std::string::npos);
  test::CliResult as = runKiln("asm -", g);
  CHECK(as.status == 0);
  CHECK(as.out.find("k12_matmul_fused:") != std::string::npos);
  ::setenv("KILN_PROFILE", "1", 1);  // the time of each kernel, most first, when the executable goes
  test::CliResult profiled = runKiln("run - --seed 3 --engine jit", g);
  ::unsetenv("KILN_PROFILE");
  CHECK(profiled.status == 0);
  CHECK(profiled.err.find("KILN_PROFILE: 5 kernels, ") != std::string::npos);
  CHECK(profiled.err.find("k12_matmul_fused") != std::string::npos);
}

}  // namespace kiln

namespace kiln {

TEST_CASE("kiln fuse and kiln plan print, explain and export their decisions") {
  std::string prog = runKiln("export mlp --batch 8 --train sgd-momentum").out;
  test::CliResult fuse = runKiln("fuse - --explain", prog);
  CHECK(fuse.status == 0);
  CHECK(fuse.out.rfind("# 18 kernels for ", 0) == 0);
  CHECK(fuse.out.find("kernel 0 matmul -> %") != std::string::npos);
  CHECK(fuse.out.find("refused %") != std::string::npos);
  CHECK(fuse.out.find("matmul reads its operands from memory") != std::string::npos);
  nlohmann::json fj = nlohmann::json::parse(runKiln("fuse - --json", prog).out);
  CHECK(fj["kernels"].get<int>() == 18);
  CHECK(fj["refusals"].size() > 0);
  test::CliResult plan = runKiln("plan -", prog);
  CHECK(plan.status == 0);
  CHECK(plan.out.find("efficiency ") != std::string::npos);
  test::CliResult verified = runKiln("plan - --verify", prog);
  CHECK(verified.status == 0);
  CHECK(verified.err.find("plan-verify: ok (") != std::string::npos);
  nlohmann::json pj = nlohmann::json::parse(runKiln("plan - --json", prog).out);
  CHECK(pj["peak_bytes"].get<int64_t>() >= pj["lower_bound_bytes"].get<int64_t>());
  CHECK(pj["no_reuse_bytes"].get<int64_t>() > pj["peak_bytes"].get<int64_t>());
  std::string dir = test::tempDir("svg");
  CHECK(runKiln("plan - --svg " + dir + "/arena.svg", prog).status == 0);
  CHECK(std::filesystem::file_size(dir + "/arena.svg") > 1000);
  std::filesystem::remove_all(dir);
  test::CliResult stats = runKiln("dump - --passes=simplify --stats --verify-each", prog);
  CHECK(stats.status == 0);
  CHECK(stats.err.find("common subexpression") != std::string::npos);
}

TEST_CASE("kiln fuzz-programs reports a failing program, shrinks it and writes it out (against an oracle wrong on purpose)") {
  std::string dir = test::tempDir("fuzz-fail");
  ::setenv("KILN_TORCH_ORACLE", (std::string(KILN_SOURCE_DIR) + "/tests/torch/wrong_oracle.py").c_str(), 1);
  test::CliResult wrong = runKiln("fuzz-programs --n 1 --seed 3 --torch --no-jit --no-fd --out " + dir);
  CHECK(wrong.status == 1);
  CHECK(wrong.out.find("FAIL seed 3:\n  torch: output \"loss\": scaled error 1") != std::string::npos);
  CHECK(wrong.out.find("shrunk from 180 to 1 nodes, still failing torch:") != std::string::npos);
  CHECK(wrong.out.find("1 failed (torch 3)") != std::string::npos);
  CHECK(std::filesystem::exists(dir + "/seed-3.kir"));
  CHECK(std::filesystem::exists(dir + "/seed-3.inputs.safetensors"));
  ::setenv("WRONG_ORACLE_REFUSE", "1", 1);  // the oracle refuses every program: shrunk to one it refuses too
  test::CliResult refused = runKiln("fuzz-programs --n 1 --seed 3 --torch --no-jit --no-fd");
  CHECK(refused.status == 1);
  CHECK(refused.out.find("torch: PyTorch could not evaluate the program: refused by the wrong oracle") != std::string::npos);
  CHECK(refused.out.find("still failing torch") != std::string::npos);
  ::unsetenv("WRONG_ORACLE_REFUSE");
  ::unsetenv("KILN_TORCH_ORACLE");
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln fuzz-programs prints the programs it draws, and refuses bad flags") {
  test::CliResult r = runKiln("fuzz-programs --n 2 --seed 5 --print --no-jit --no-fd");
  CHECK(r.status == 0);
  CHECK(r.out.find("# seed 5\nkiln 1\n") != std::string::npos);
  CHECK(r.out.find("# seed 6\n") != std::string::npos);
  CHECK(r.out.find("output \"loss\" = %") != std::string::npos);
  CHECK(r.out.find("fuzz-programs: 2 programs (seeds 5..6)") != std::string::npos);
  test::CliResult bad = runKiln("fuzz-programs --n -3");
  CHECK(bad.status == 1);
  CHECK(bad.err.find("--n") != std::string::npos);
}

TEST_CASE("kiln run refuses an input the file does not hold, with either engine and the same message") {
  std::string dir = test::tempDir("partial");
  writeSafetensors(dir + "/in.safetensors", toStored(TensorMap{{"a", test::tensor(DType::F32, {2}, {1, 2})}}));
  std::string prog = "kiln 1\n%0 = input {name=\"a\"} : f32[2]\n%1 = input {name=\"b\"} : f32[2]\n%2 = add %0, %1 : f32[2]\noutput \"y\" = %2\n";
  for (const char* engine : {"interp", "jit"}) {
    INFO(engine);
    test::CliResult r = runKiln(fmt::format("run - --inputs {}/in.safetensors --engine {}", dir, engine), prog);
    CHECK(r.status == 1);
    CHECK(r.err.find("input \"b\" (%1) has no value: expected f32[2]") != std::string::npos);
  }
  // A tensor of the wrong dtype or shape: the file, the input and the dtype as stored (a U8 tensor is not
  // "i32"), the same from either engine.
  TensorFile wrong = toStored(TensorMap{{"a", test::tensor(DType::F32, {2}, {1, 2})}, {"b", test::tensor(DType::F32, {3}, {1, 2, 3})}});
  writeSafetensors(dir + "/shape.safetensors", wrong);
  wrong["b"] = StoredTensor{"U8", {2}, {1, 2}};
  writeSafetensors(dir + "/u8.safetensors", wrong);
  for (const char* engine : {"interp", "jit"}) {
    INFO(engine);
    test::CliResult shape = runKiln(fmt::format("run - --inputs {}/shape.safetensors --engine {}", dir, engine), prog);
    CHECK(shape.status == 1);
    CHECK(shape.err == dir + "/shape.safetensors: error: input \"b\": expected f32[2], got F32[3]\n");
    test::CliResult u8 = runKiln(fmt::format("run - --inputs {}/u8.safetensors --engine {}", dir, engine), prog);
    CHECK(u8.status == 1);
    CHECK(u8.err == dir + "/u8.safetensors: error: input \"b\": expected f32[2], got U8[2]\n");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace kiln

namespace kiln {

TEST_CASE("kiln train: a non-finite loss keeps the last good parameters with --save, and every step is counted globally") {
  std::string dir = test::tempDir("nan");
  std::string common = " --data fashion-mnist --batch 16 --eval-limit 100 --log-every 1 --lr 1e30";  // step 2's loss is NaN
  test::CliResult stop = runKiln("train mlp --steps 5 --save " + dir + "/last.ckpt" + common);
  CHECK(stop.status == 1);
  CHECK(stop.err.find("error: step 2/5: the loss is nan (training stopped; the parameters are those before this step, saved to " +
                      dir + "/last.ckpt)") != std::string::npos);
  TensorFile last = readSafetensors(dir + "/last.ckpt");  // written at the stop: the state after step 1
  REQUIRE(last.count("optimizer.step"));
  CHECK(fromStored(last.at("optimizer.step"), "optimizer.step").data == std::vector<double>{1});
  // Resumed, the error counts the steps of the whole run, not of this process.
  test::CliResult resumed = runKiln("train mlp --steps 8 --resume " + dir + "/last.ckpt" + common);
  CHECK(resumed.status == 1);
  CHECK(resumed.err.find("error: step 2/8: the loss is nan") != std::string::npos);
  // --allow-nan: skipped steps are counted, not averaged in as a loss of 0; no accuracy from NaN logits.
  test::CliResult skip = runKiln("train mlp --steps 4 --allow-nan" + common);
  CHECK(skip.status == 0);
  CHECK(skip.err.find("step 2/4 loss - (1 skipped: not finite)") != std::string::npos);
  CHECK(skip.err.find("loss 0.0000") == std::string::npos);
  CHECK(skip.out.find("epoch 1: no test accuracy: the test loss is not finite") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln train --save onto a full disk: a clear error, the old checkpoint kept, no temporary left") {
  std::string dir = test::tempDir("full-disk");
  std::string common = " --data fashion-mnist --batch 16 --eval-limit 100 --steps 2 --save " + dir + "/ck.safetensors";
  REQUIRE(runKiln("train mlp" + common).status == 0);
  TensorFile before = readSafetensors(dir + "/ck.safetensors");
  // Files may not grow past 64 kB (ulimit -f counts 512-byte blocks), as on a full file system; SIGXFSZ
  // ignored, so that the write fails with EFBIG instead of killing kiln.
  std::string cmd = "sh -c \"trap '' XFSZ; ulimit -f 128; exec " + std::string(KILN_CLI_PATH) + " train mlp --seed 1" + common +
                    "\" >" + dir + "/out 2>" + dir + "/err";
  int raw = std::system(cmd.c_str());
  CHECK(WIFEXITED(raw));
  CHECK(WEXITSTATUS(raw) == 1);
  std::ifstream err(dir + "/err");
  std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  CHECK(text.find(dir + "/ck.safetensors: error: cannot write: File too large") != std::string::npos);
  CHECK(readSafetensors(dir + "/ck.safetensors").at("fc1.weight").bytes == before.at("fc1.weight").bytes);
  size_t temporaries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) temporaries += e.path().filename().string().find(".tmp-") != std::string::npos;
  CHECK(temporaries == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln train --resume refuses a checkpoint past the run's end or with a negative step counter") {
  std::string dir = test::tempDir("resume-bounds");
  std::string common = " --data fashion-mnist --batch 16 --eval-limit 100";
  REQUIRE(runKiln("train mlp --steps 5 --save " + dir + "/five.ckpt" + common).status == 0);
  test::CliResult done = runKiln("train mlp --steps 5 --resume " + dir + "/five.ckpt" + common);
  CHECK(done.status == 1);
  CHECK(done.err.find("the checkpoint is already at step 5 of this run's 5: nothing to train") != std::string::npos);
  TensorFile f = readSafetensors(dir + "/five.ckpt");
  HostTensor step = fromStored(f.at("optimizer.step"), "optimizer.step");
  for (double& v : step.data) v = -5;
  f["optimizer.step"] = toStored(step);
  writeSafetensors(dir + "/negative.ckpt", f);
  test::CliResult negative = runKiln("train mlp --steps 10 --resume " + dir + "/negative.ckpt" + common);
  CHECK(negative.status == 1);
  CHECK(negative.err.find("the checkpoint's step counter optimizer.step is -5: expected 0 or more") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("writes never replace what is not a regular file: a FIFO, a directory, a symlink") {
  namespace fs = std::filesystem;
  std::string dir = test::tempDir("special-files");
  std::string fifo = dir + "/fifo", sub = dir + "/sub", link = dir + "/link";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  fs::create_directory(sub);
  { std::ofstream(dir + "/target") << "keep"; }
  fs::create_symlink(dir + "/target", link);
  std::string kir = "kiln 1\n%0 = input {name=\"a\"} : f32[2]\noutput \"y\" = %0\n";
  for (const std::string& path : {fifo, sub, link}) {
    INFO("path ", path);
    test::CliResult r = runKiln("run - --seed 1 --out " + path, kir);
    CHECK(r.status == 1);
    CHECK(r.err.find("refusing to write: it exists and is not a regular file") != std::string::npos);
    CHECK_THROWS_AS(writeFileAtomic(path, {1, 2, 3}), Error);
  }
  CHECK(fs::is_fifo(fs::symlink_status(fifo)));
  CHECK(fs::is_directory(sub));
  CHECK(fs::is_symlink(fs::symlink_status(link)));
  std::ifstream kept(dir + "/target");
  std::string text;
  kept >> text;
  CHECK(text == "keep");
  fs::remove_all(dir);
}

}  // namespace kiln

namespace kiln {

namespace {

/// Writes a small Fashion-MNIST set (plain IDX, under the .gz names the loader opens) of `train` and
/// `test` images to `dir`.
void writeSmallFashionMnist(const std::string& dir, int train, int test) {
  auto be32 = [](std::ofstream& o, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) o.put(char((v >> s) & 0xff));
  };
  for (auto [prefix, count] : {std::pair<const char*, int>{"train", train}, {"t10k", test}}) {
    std::ofstream images(fmt::format("{}/{}-images-idx3-ubyte.gz", dir, prefix), std::ios::binary);
    be32(images, 0x803), be32(images, uint32_t(count)), be32(images, 28), be32(images, 28);
    for (int i = 0; i < count * 784; ++i) images.put(char(i * 7 % 256));
    std::ofstream labels(fmt::format("{}/{}-labels-idx1-ubyte.gz", dir, prefix), std::ios::binary);
    be32(labels, 0x801), be32(labels, uint32_t(count));
    for (int i = 0; i < count; ++i) labels.put(char(i % 10));
  }
}

}  // namespace

TEST_CASE("kiln train --data fashion-mnist:DIR: a folder of its own, and sets too small for the batch or the evaluation") {
  std::string dir = test::tempDir("small-fashion");
  writeSmallFashionMnist(dir, 40, 200);
  test::CliResult ok = runKiln("train mlp --data fashion-mnist:" + dir + " --steps 4 --batch 8");
  INFO(ok.err);
  CHECK(ok.status == 0);
  CHECK(ok.out.find("test accuracy") != std::string::npos);
  CHECK(ok.out.find("(200 images)") != std::string::npos);  // the default evaluation fits the test set
  test::CliResult big = runKiln("train mlp --data fashion-mnist:" + dir + " --steps 4 --batch 64");
  CHECK(big.status == 1);
  CHECK(big.err.find("the training set has 40 images, fewer than one batch of 64") != std::string::npos);
  test::CliResult eval = runKiln("train mlp --data fashion-mnist:" + dir + " --steps 4 --batch 8 --eval-limit 300");
  CHECK(eval.status == 1);
  CHECK(eval.err.find("--eval-limit 300 needs a test set of at least that many images (and 100); it has 200") != std::string::npos);
  writeSmallFashionMnist(dir, 40, 50);
  CHECK(runKiln("train mlp --data fashion-mnist:" + dir + " --steps 4 --batch 8").err.find("it has 50") != std::string::npos);
  test::CliResult missing = runKiln("train mlp --data fashion-mnist:" + dir + "/nope --steps 4");
  CHECK(missing.status == 1);
  CHECK(missing.err.find("not found") != std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace kiln
