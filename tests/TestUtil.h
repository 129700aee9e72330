// Helpers shared by the tests: paths, running the kiln binary, comparing numbers.
#pragma once

#include <string>
#include <vector>

#include "compiler/HostTensor.h"
#include "compiler/Pipeline.h"
#include "ir/Graph.h"

namespace kiln::test {

/// Compile options with the object cache in the build folder, so reruns skip LLVM (tests/JitTest.cpp).
CompileOptions cachedOptions();

/// A path inside the source tree.
std::string sourcePath(const std::string& rel);
/// A fresh empty directory under the system temp dir for one test.
std::string tempDir(const std::string& tag);

/// What a run of the kiln binary printed and returned.
struct CliResult {
  int status = -1;
  std::string out, err;
};
/// Runs `kiln ARGS` (arguments shell-quoted by the caller where needed), with `stdinText` on stdin.
CliResult runKiln(const std::string& args, const std::string& stdinText = "");

/// Largest |a-b| / max(|b|, floor) over two equally long lists; infinity when the lengths differ or
/// only one of a pair is NaN.
double maxRelError(const std::vector<double>& a, const std::vector<double>& b, double floor = 1e-6);

/// A tensor from literal values.
HostTensor tensor(DType dt, Shape shape, std::vector<double> values);

/// Parses .kir text, failing the test on error.
Graph kir(const std::string& text);

}  // namespace kiln::test
