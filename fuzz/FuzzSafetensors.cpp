// Fuzzes the safetensors reader and the conversion of what it reads to interpreter tensors.
#include <vector>

#include "compiler/HostTensor.h"
#include "fuzz/FuzzCommon.h"
#include "ir/Error.h"
#include "runtime/Safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    kiln::TensorFile f = kiln::parseSafetensors(std::vector<uint8_t>(data, data + size), "fuzz.safetensors");
    kiln::fromStored(f);
  } catch (const kiln::Error&) {
  }
  return 0;
}
