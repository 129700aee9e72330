// IDX files (big-endian header, raw bytes), gzip-compressed as Debian ships them or plain: zlib reads both.
#include "models/FashionMnist.h"

#include <zlib.h>

#include <filesystem>

#include <fmt/format.h>

#include "ir/Error.h"

namespace kiln {

namespace {

std::vector<uint8_t> readGz(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw Error(Location{path, 0, 0}, "Fashion-MNIST file not found (install Debian's dataset-fashion-mnist)");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(Location{path, 0, 0}, "cannot open file");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      std::string msg = gzerror(f, &code);
      gzclose(f);
      throw Error(Location{path, 0, 0}, "corrupt gzip data: " + msg);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  gzclose(f);
  return out;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}

/// The payload of an IDX file with the given magic and rank, after checking its size.
std::vector<uint32_t> idxHeader(const std::vector<uint8_t>& b, uint32_t magic, size_t rank, const std::string& path) {
  size_t head = 4 + 4 * rank;
  if (b.size() < head) throw Error(Location{path, 0, 0}, "truncated IDX header");
  if (be32(b, 0) != magic)
    throw Error(Location{path, 0, 0}, fmt::format("IDX magic 0x{:08x}, expected 0x{:08x}", be32(b, 0), magic));
  std::vector<uint32_t> dims;
  uint64_t total = 1;
  for (size_t i = 0; i < rank; ++i) {
    dims.push_back(be32(b, 4 + 4 * i));
    total *= dims.back();
  }
  if (b.size() != head + total)
    throw Error(Location{path, 0, 0}, fmt::format("IDX data has {} bytes, the header promises {}", b.size() - head, total));
  return dims;
}

}  // namespace

Dataset loadFashionMnist(const std::string& split, const std::string& dir) {
  if (split != "train" && split != "test") throw Error(fmt::format("unknown split '{}': expected train or test", split));
  std::string prefix = dir + "/" + (split == "train" ? "train" : "t10k");
  std::string ipath = prefix + "-images-idx3-ubyte.gz", lpath = prefix + "-labels-idx1-ubyte.gz";
  std::vector<uint8_t> img = readGz(ipath), lab = readGz(lpath);
  std::vector<uint32_t> idims = idxHeader(img, 0x00000803, 3, ipath);
  std::vector<uint32_t> ldims = idxHeader(lab, 0x00000801, 1, lpath);
  if (idims[1] != 28 || idims[2] != 28)
    throw Error(Location{ipath, 0, 0}, fmt::format("images are {}x{}, expected 28x28", idims[1], idims[2]));
  if (idims[0] != ldims[0])
    throw Error(Location{lpath, 0, 0}, fmt::format("{} labels for {} images", ldims[0], idims[0]));
  Dataset d;
  d.count = idims[0];
  d.images.resize(size_t(d.count) * 784);
  for (size_t i = 0; i < d.images.size(); ++i) d.images[i] = (float(img[16 + i]) / 255.0f - 0.2860f) / 0.3530f;
  d.labels.resize(size_t(d.count));
  for (size_t i = 0; i < d.labels.size(); ++i) {
    d.labels[i] = lab[8 + i];
    if (d.labels[i] > 9) throw Error(Location{lpath, 0, 0}, fmt::format("label {} at {} is outside 0..9", d.labels[i], i));
  }
  return d;
}

std::string fashionMnistDir(const std::string& data, const std::string& verb) {
  if (data == "fashion-mnist") return kFashionMnistDir;
  const std::string prefix = "fashion-mnist:";
  if (data.rfind(prefix, 0) == 0 && data.size() > prefix.size()) return data.substr(prefix.size());
  throw Error(fmt::format("{}: unknown --data '{}'; expected fashion-mnist or fashion-mnist:DIR", verb, data));
}

}  // namespace kiln
