// The op sweep's cases, shared by the interpreter test (against hand-computed values) and the JIT test
// (against the interpreter).
#pragma once

#include <string>
#include <vector>

#include "compiler/HostTensor.h"
#include "ir/Ops.h"

namespace kiln {

/// One op under test: a graph body whose output "y" is the op, its feeds and the expected values.
struct OpCase {
  Op op;
  std::string body;  ///< nodes after the header; the output "y" is the op under test
  TensorMap feeds;
  DType dtype;       ///< of y
  std::vector<double> expected;
};

/// One case per op of the table.
std::vector<OpCase> opCases();

}  // namespace kiln
