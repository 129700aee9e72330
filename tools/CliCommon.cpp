// Shared helpers of the kiln verbs.
#include "tools/CliCommon.h"

#include <iostream>

#include "ir/Parser.h"
#include "ir/Verifier.h"

namespace kiln {

bool wantsHelp(const std::vector<std::string>& args, const char* help) {
  for (const std::string& a : args)
    if (a == "--help" || a == "-h") {
      std::cout << help;
      return true;
    }
  return false;
}

std::string fileLabel(const std::string& path) { return path == "-" ? "<stdin>" : path; }

Graph loadGraph(const std::string& path) {
  Graph g = parseGraph(readFile(path), fileLabel(path));
  verifyOrThrow(g, fileLabel(path));
  return g;
}

PipelineState compileThrough(const Args& args, const std::string& last) {
  PipelineState st{loadGraph(args.positionals()[0]), {}, {}};
  runPipeline(st, compileStagesThrough(last, !args.has("no-simplify")));
  return st;
}

FlagSpec withPassFlags(FlagSpec spec) {
  for (const std::string& o : allPassOptions()) spec.withValue.insert(o);
  return spec;
}

PassOptions passOptions(const Args& args) {
  PassOptions o;
  for (const std::string& name : allPassOptions())
    if (auto v = args.value(name)) o.set(name, *v);
  return o;
}

const char* kOptimizerFlagsHelp =
    "optimizer flags (PyTorch's meanings and defaults):\n"
    "  --optimizer NAME   sgd, sgd-momentum, sgd-nesterov, adam, adamw\n"
    "  --lr X             learning rate (default 0.01)\n"
    "  --momentum X       for sgd-momentum and sgd-nesterov (default 0.9)\n"
    "  --beta1 X --beta2 X --eps X   for adam and adamw (0.9, 0.999, 1e-8)\n"
    "  --weight-decay X   L2 for sgd and adam, decoupled for adamw (default 0; adamw 0.01)\n"
    "  --clip-norm X      clip gradients to this global L2 norm (default off)\n"
    "  --schedule NAME    constant or warmup-cosine (with --warmup-steps, --total-steps, --min-lr)\n";

CompileOptions compileOptions(const Args& args) {
  CompileOptions o;
  o.useCache = !args.has("no-cache");
  o.threads = int(args.integer("threads", 0, 1, 256));
  return o;
}

}  // namespace kiln
