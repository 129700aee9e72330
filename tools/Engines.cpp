// The interpreter and JIT sessions behind `kiln train`.
#include "tools/Engines.h"

#include <iostream>

#include <fmt/format.h>

#include "compiler/InterpSession.h"
#include "ir/Error.h"

namespace kiln {

std::unique_ptr<Session> makeSession(const std::string& kind, const Graph& program, uint64_t seed,
                                     const CompileOptions& opts, bool timePasses, const std::string& label) {
  if (kind == "interp") return std::make_unique<InterpSession>(program, seed);
  if (kind != "jit") throw Error(fmt::format("unknown engine '{}'; expected jit or interp", kind));
  CompileStats stats;
  std::unique_ptr<Session> s = compileSession(program, seed, opts, &stats);
  if (timePasses) std::cerr << label << " " << stats.report();
  return s;
}

}  // namespace kiln
