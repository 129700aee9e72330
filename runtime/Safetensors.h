// safetensors files: an 8-byte little-endian header length, a JSON header, then raw little-endian data
// (the format of PyTorch and Hugging Face). Used for inputs, outputs and checkpoints.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln {

/// One stored tensor: its safetensors dtype name ("F32", "F64", "I32", "I64", "BOOL", "U8"), shape and
/// raw little-endian bytes.
struct StoredTensor {
  std::string dtype;           ///< safetensors dtype name
  std::vector<int64_t> shape;  ///< dimensions, outermost first
  std::vector<uint8_t> bytes;  ///< exactly shape x dtype bytes, row-major
};

/// Tensors by name, in name order (the order the writer lays them out).
using TensorFile = std::map<std::string, StoredTensor>;

/// The header's optional "__metadata__": free-form string keys and values (kiln's checkpoints name their
/// model and settings there).
using Metadata = std::map<std::string, std::string>;
/// Bytes per element of a safetensors dtype name, or 0 when kiln does not know it.
int64_t storedDtypeSize(const std::string& dtype);

/// Parses a safetensors image. Rejects a truncated file, a header length past the end, a header that is
/// not a JSON object of {dtype, shape, data_offsets}, unknown dtypes, negative or overflowing shapes,
/// offsets outside the data or overlapping, and sizes that differ from shape x dtype. `file` names the
/// source in errors. With `metadata`, fills it from "__metadata__" (Error unless that is an object of strings).
TensorFile parseSafetensors(const std::vector<uint8_t>& image, const std::string& file, Metadata* metadata = nullptr);
/// Reads and parses a file.
TensorFile readSafetensors(const std::string& path, Metadata* metadata = nullptr);
/// The safetensors image of `tensors` (header padded to 8 bytes, "__metadata__" first when there is any,
/// data in name order).
std::vector<uint8_t> serializeSafetensors(const TensorFile& tensors, const Metadata& metadata = {});
/// Writes atomically: a temporary file in the same folder, fsync, rename over `path`, fsync the folder.
/// A crash leaves either the old file or the new one, never half of one.
void writeSafetensors(const std::string& path, const TensorFile& tensors, const Metadata& metadata = {});
/// Writes `bytes` to `path` atomically, as writeSafetensors does; Error, with nothing written, when `path`
/// exists and is not a regular file (a device, a FIFO, a directory or a symlink). The temporary is
/// .NAME.tmp-PID-XXXXXX; one left by a writer killed mid-write (its PID no longer runs) is removed by the
/// next write of the same file.
void writeFileAtomic(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace kiln
