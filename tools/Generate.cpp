// kiln generate: samples text from a trained language model, one token at a time, with the model's
// incremental decoder (a forward-only program whose key/value caches are state), printing each token as it
// comes and the speed at the end.
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "models/Models.h"
#include "models/TextCorpus.h"
#include "tools/CliCommon.h"
#include "tools/Engines.h"
#include "runtime/Generator.h"

namespace kiln {

const char* kGenerateHelp =
    "usage: kiln generate CKPT [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K] [--seed S]\n"
    "                     [--model NAME] [--set KEY=N,...] [--engine jit|interp] [--threads N] [--no-cache]\n"
    "Continues TEXT with N tokens sampled from the language model in CKPT (a checkpoint of kiln train --save;\n"
    "it names its model and settings), printing the prompt and each token as it is produced, then the speed\n"
    "on standard error. Tokens are bytes (the text data source's tokenizer). Decoding is incremental: each\n"
    "step runs the model on one token, with every layer's keys and values kept in a cache, so a step costs\n"
    "the same at any position. The prompt and the new tokens must fit in the model's context.\n"
    "  --prompt TEXT        the text to continue (default: a newline, the start of a fortune)\n"
    "  --tokens N           tokens to generate (default 200, or fewer: as many as the context has room for)\n"
    "  --temperature T      divide the logits by T before sampling (default 1); 0 takes the most likely token\n"
    "  --top-k K            sample only among the K most likely tokens (default: all of them)\n"
    "  --seed S             the sampler's seed (default 0): the same seed gives the same text\n"
    "  --model NAME         the model, for a checkpoint that does not name it (--set changes its settings)\n"
    "  --engine jit|interp  compiled kernels (default) or the reference interpreter\n"
    "  --threads N, --no-cache  as for kiln train\n";

namespace {

struct Decoding {
  const ModelSpec* model;
  ModelConfig config;
  int64_t context = 0;
};

/// The model and settings: the checkpoint's metadata, or --model, with --set applied on top.
Decoding decodingFor(const Args& args, const Metadata& meta, const std::string& ckpt) {
  auto named = meta.find("kiln.model");
  std::optional<std::string> name = args.value("model");
  if (!name && named == meta.end())
    throw Error(Location{ckpt, 0, 0}, "the checkpoint does not name its model (it was not written by kiln train "
                                      "--save): give --model NAME and any --set its training used");
  Decoding d{&findModel(name ? *name : named->second), {}, 0};
  if (!d.model->decoder) throw Error(fmt::format("kiln generate: model {} is not a language model: it cannot generate", d.model->name));
  std::string sets = !name && meta.count("kiln.settings") ? meta.at("kiln.settings") : "";
  if (auto extra = args.value("set")) sets += (sets.empty() ? "" : ",") + *extra;
  d.config = d.model->configure(sets);
  d.context = d.config.at("context");
  if (d.config.at("vocab") != ByteTokenizer::kVocab)
    throw Error(fmt::format("kiln generate: tokens are bytes (a vocabulary of {}), but {} has vocab={}", ByteTokenizer::kVocab,
                            d.model->name, d.config.at("vocab")));
  return d;
}

/// The parameters of `program` from the checkpoint's tensors (its optimizer state is left out).
void loadParameters(Session& session, const Graph& program, TensorFile& file, const std::string& ckpt) {
  std::vector<TensorSpec> wanted;
  for (const TensorSpec& s : session.stateSpec()) {
    auto id = program.findLeaf(s.name);
    if (id && program[*id].op == Op::Parameter) wanted.push_back(s);
  }
  for (auto& [name, t] : takeCheckpointPart(file, wanted, ckpt)) session.setState(name, t);
}

}  // namespace

int cmdGenerate(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kGenerateHelp)) return 0;
  Args args("generate", argv,
            {{"prompt", "tokens", "temperature", "top-k", "seed", "model", "set", "engine", "threads"}, {"no-cache"}});
  args.expectPositionals(1, "one CKPT");
  const std::string& ckpt = args.positionals()[0];
  Metadata meta;
  TensorFile file = readSafetensors(ckpt, &meta);
  Decoding d = decodingFor(args, meta, ckpt);
  std::string prompt = args.value("prompt").value_or("\n");
  int64_t room = std::max<int64_t>(d.context - int64_t(prompt.size()), 0);
  int64_t count = args.integer("tokens", std::min<int64_t>(200, room), 0, INT32_MAX);
  SamplerOptions so{args.real("temperature", 1.0, 0, 1e6), args.integer("top-k", 0, 0, INT32_MAX)};
  Rng rng(uint64_t(args.integer("seed", 0, 0, INT64_MAX)));
  if (prompt.empty()) throw Error("kiln generate: the prompt is empty; give at least one character (the default is a newline)");
  if (int64_t(prompt.size()) > d.context)
    throw Error(fmt::format("kiln generate: the prompt is {} tokens, longer than the model's context of {}", prompt.size(), d.context));
  if (int64_t(prompt.size()) + count > d.context)
    throw Error(fmt::format("kiln generate: the prompt's {} tokens and --tokens {} make {}, more than the model's context of {}",
                            prompt.size(), count, int64_t(prompt.size()) + count, d.context));
  Graph program = d.model->decoder(1, d.config);
  std::unique_ptr<Session> session = makeSession(args.value("engine").value_or("jit"), program, 0, compileOptions(args), false, "decoder");
  loadParameters(*session, program, file, ckpt);
  Generator gen(std::move(session), d.context);
  std::cout << prompt << std::flush;
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  std::vector<double> logits;
  for (unsigned char c : prompt) logits = gen.feed(c);
  auto prompted = Clock::now();
  for (int64_t i = 0; i < count; ++i) {
    int64_t token = sampleToken(logits, so, rng.uniform());
    std::cout << char(token) << std::flush;
    if (i + 1 < count) logits = gen.feed(token);
  }
  auto secs = [](Clock::duration d) { return std::max(std::chrono::duration<double>(d).count(), 1e-9); };
  std::cout << "\n" << std::flush;  // the text, then the speed on stderr
  std::cerr << fmt::format("prompt: {} tokens in {:.6f} s; generated: {} tokens in {:.6f} s, {:.1f} tokens/s\n", prompt.size(),
                           secs(prompted - start), count, secs(Clock::now() - prompted),
                           double(count) / secs(Clock::now() - prompted));
  return 0;
}

}  // namespace kiln
