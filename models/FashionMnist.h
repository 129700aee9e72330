// Fashion-MNIST from the IDX gz files of Debian's dataset-fashion-mnist package.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

/// Where Debian's dataset-fashion-mnist installs the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// One split: images normalised as (x/255 - 0.2860)/0.3530, row-major [count, 28*28], and labels 0..9.
struct Dataset {
  int64_t count = 0;             ///< number of images
  int64_t rows = 28, cols = 28;  ///< image height and width (always 28: the loader rejects other sizes)
  std::vector<float> images;     ///< count * rows * cols normalised pixels
  std::vector<int32_t> labels;   ///< count class indices
};

/// Loads "train" (60000 images) or "test" (10000) from `dir`. Throws Error naming the file when it is
/// missing (with the package to install), corrupt gzip (a plain, uncompressed IDX file is read as it is),
/// truncated, of the wrong IDX magic or shape, or when images and labels disagree in count, or a label is
/// outside 0..9.
Dataset loadFashionMnist(const std::string& split, const std::string& dir = kFashionMnistDir);
/// The folder a `--data` value names: "fashion-mnist" is Debian's copy (kFashionMnistDir), and
/// "fashion-mnist:DIR" the same four files in DIR. Error for anything else, naming `verb`.
std::string fashionMnistDir(const std::string& data, const std::string& verb);

}  // namespace kiln
