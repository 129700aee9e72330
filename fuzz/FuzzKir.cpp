// Fuzzes the .kir parser, and takes every graph it accepts through the verifier, the compile stages
// (simplify, fuse, plan-memory) and, when its values are small, the interpreter.
#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "fuzz/FuzzCommon.h"
#include "ir/Error.h"
#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "passes/PassRegistry.h"

namespace {

/// Whether every value of `g` is small enough to evaluate in a fuzzing loop (1 MB in all).
bool small(const kiln::Graph& g) {
  int64_t bytes = 0;
  for (const kiln::Node& n : g.nodes()) bytes += n.type.bytes();
  return bytes <= (1 << 20);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    kiln::Graph g = kiln::parseKir(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.kir");
    kiln::verifyOrThrow(g);
    kiln::PipelineState state{g, {}, {}};
    kiln::runPipeline(state, kiln::compileStages(true));
    if (small(g)) {
      kiln::TensorMap feeds = kiln::randomInputs(g, 1);
      for (auto& [name, t] : kiln::initParameters(g, 1)) feeds[name] = t;
      kiln::evaluate(g, feeds);
    }
  } catch (const kiln::Error&) {
  }
  return 0;
}
