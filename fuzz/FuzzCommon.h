// What the libFuzzer targets share: each takes arbitrary bytes to one of kiln's readers, and the only
// acceptable outcomes are a result or a kiln::Error. Anything else -- a crash, a sanitizer report, an
// internal assertion, another exception -- is a finding. Built with `scripts/fuzz.sh` (clang, KILN_FUZZ=ON).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace kiln::fuzz {

/// A folder of this process's own for files a reader must open by path.
inline const std::string& scratchDir() {
  static const std::string dir = [] {
    std::string d = std::filesystem::temp_directory_path().string() + "/kiln-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

/// Writes `n` bytes at `data` to `path`.
inline void writeFile(const std::string& path, const uint8_t* data, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(n));
}

}  // namespace kiln::fuzz
