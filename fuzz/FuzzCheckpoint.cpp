// Fuzzes checkpoint loading against the state of a small program: a weight, a bias and a step counter.
#include "fuzz/FuzzCommon.h"
#include "ir/Error.h"
#include "runtime/Checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<kiln::TensorSpec> spec = {
      {"fc.weight", "F32", {4, 3}}, {"fc.bias", "F32", {4}}, {"optimizer.step", "I32", {}}};
  std::string path = kiln::fuzz::scratchDir() + "/fuzz.ckpt";
  kiln::fuzz::writeFile(path, data, size);
  try {
    kiln::loadCheckpoint(path, spec);
  } catch (const kiln::Error&) {
  }
  return 0;
}
