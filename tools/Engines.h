// The engines behind `kiln train`: a session (runtime/Session.h) of the reference interpreter or of the
// LLVM JIT, chosen by name.
#pragma once

#include <memory>
#include <string>

#include "compiler/Pipeline.h"
#include "ir/Graph.h"
#include "runtime/Session.h"

namespace kiln {

/// The session of engine `kind` ("interp" or "jit") for `program`, its parameters and state initialised
/// from `seed` as the program declares. With `timePasses` the JIT prints its compile times, headed by
/// `label`. Throws Error for another engine name.
std::unique_ptr<Session> makeSession(const std::string& kind, const Graph& program, uint64_t seed,
                                     const CompileOptions& opts, bool timePasses, const std::string& label);

}  // namespace kiln
