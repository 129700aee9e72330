// Helpers shared by the kiln verbs: help, loading graphs, pass options from flags, and the verbs that
// live in their own files.
#pragma once

#include <string>
#include <vector>

#include "compiler/Pipeline.h"
#include "ir/Graph.h"
#include "passes/PassRegistry.h"
#include "tools/Args.h"

namespace kiln {

/// Prints `help` and returns true when --help or -h is among the arguments.
bool wantsHelp(const std::vector<std::string>& args, const char* help);
/// "<stdin>" for "-", else the path.
std::string fileLabel(const std::string& path);
/// Reads, parses (.kir or JSON) and verifies a graph file, or standard input for "-".
Graph loadGraph(const std::string& path);
/// The graph of FILE (the one positional) through the compile stages up to and including `last` (fuse or
/// plan-memory), without simplify when the verb's --no-simplify is given.
PipelineState compileThrough(const Args& args, const std::string& last);
/// `spec` plus a value flag for every option any pass reads (--lr, --optimizer, ...).
FlagSpec withPassFlags(FlagSpec spec);
/// The pass options given as flags.
PassOptions passOptions(const Args& args);
/// The JIT's options from --no-cache and --threads N (1 to 256; default $KILN_THREADS, else the cores).
CompileOptions compileOptions(const Args& args);
/// Help text for the optimizer flags, shared by the verbs that build training programs.
extern const char* kOptimizerFlagsHelp;

int cmdTrain(const std::vector<std::string>& args);
/// kiln generate (tools/Generate.cpp): text sampled from a trained language model.
int cmdGenerate(const std::vector<std::string>& args);
extern const char* kGenerateHelp;
int cmdGradcheck(const std::vector<std::string>& args);
int cmdFuzzPrograms(const std::vector<std::string>& args);
/// kiln dot (tools/Dot.cpp): a graph, or its kernels, as Graphviz DOT or SVG.
int cmdDot(const std::vector<std::string>& args);
extern const char* kDotHelp;
extern const char* kFuzzProgramsHelp;
extern const char* kTrainHelp;
extern const char* kGradcheckHelp;

}  // namespace kiln
