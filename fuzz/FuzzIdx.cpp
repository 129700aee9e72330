// Fuzzes the Fashion-MNIST IDX loader: the input's first 4 bytes (little-endian) give the length of the
// images file, the rest is the labels file (each read gzipped or plain), written to a folder of this
// process's own.
#include "fuzz/FuzzCommon.h"
#include "ir/Error.h"
#include "models/FashionMnist.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t length = uint32_t(data[0]) | uint32_t(data[1]) << 8 | uint32_t(data[2]) << 16 | uint32_t(data[3]) << 24;
  size_t split = std::min<size_t>(size - 4, length);
  const std::string& dir = kiln::fuzz::scratchDir();
  kiln::fuzz::writeFile(dir + "/train-images-idx3-ubyte.gz", data + 4, split);
  kiln::fuzz::writeFile(dir + "/train-labels-idx1-ubyte.gz", data + 4 + split, size - 4 - split);
  try {
    kiln::loadFashionMnist("train", dir);
  } catch (const kiln::Error&) {
  }
  return 0;
}
