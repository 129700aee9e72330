// Fuzzes the JSON graph reader, and verifies what it accepts.
#include "fuzz/FuzzCommon.h"
#include "ir/Error.h"
#include "ir/Json.h"
#include "ir/Verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    kiln::Graph g = kiln::graphFromJson(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    kiln::verifyOrThrow(g);
  } catch (const kiln::Error&) {
  }
  return 0;
}
