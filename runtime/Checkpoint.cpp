// Checkpoints: written atomically, read back only when they fit the program exactly.
#include "runtime/Checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/Error.h"

namespace kiln {

void saveCheckpoint(const std::string& path, const TensorFile& values, const Metadata& metadata) {
  writeSafetensors(path, values, metadata);
}

namespace {

/// Error unless `f` holds every tensor of `expected` with its dtype and shape.
void checkHolds(const TensorFile& f, const std::vector<TensorSpec>& expected, const Location& at) {
  for (const TensorSpec& e : expected) {
    auto it = f.find(e.name);
    if (it == f.end())
      throw Error(at, fmt::format("checkpoint has no tensor \"{}\" (is it from another model or optimizer?)", e.name));
    if (it->second.dtype != e.dtype || it->second.shape != e.shape)
      throw Error(at, fmt::format("checkpoint tensor \"{}\" is {} [{}], expected {} [{}]", e.name, it->second.dtype,
                                  fmt::join(it->second.shape, ","), e.dtype, fmt::join(e.shape, ",")));
  }
}

}  // namespace

TensorFile loadCheckpoint(const std::string& path, const std::vector<TensorSpec>& expected) {
  TensorFile f = readSafetensors(path);
  Location at{path, 0, 0};
  checkHolds(f, expected, at);
  for (const auto& [name, t] : f) {
    bool known = false;
    for (const TensorSpec& e : expected) known |= e.name == name;
    if (!known) throw Error(at, fmt::format("checkpoint tensor \"{}\" is not a parameter or state of this program", name));
  }
  return f;
}

TensorFile takeCheckpointPart(TensorFile& file, const std::vector<TensorSpec>& wanted, const std::string& path) {
  checkHolds(file, wanted, Location{path, 0, 0});
  TensorFile part;
  for (const TensorSpec& e : wanted) part[e.name] = std::move(file.at(e.name));
  return part;
}

}  // namespace kiln
