// HostTensor: a tensor as the reference interpreter holds it (every element a double), and its
// conversion to and from the stored (safetensors) form.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/Types.h"
#include "runtime/Safetensors.h"

namespace kiln {

/// A tensor with its elements held as doubles: f32 values are exactly representable, i32 and bool too.
struct HostTensor {
  DType dtype = DType::F32;  ///< the declared element type; data holds values of it
  Shape shape;               ///< the dimensions
  std::vector<double> data;  ///< numel(shape) elements, row-major; bool as 0 or 1

  /// An f32 scalar-shaped tensor with no data (a placeholder to assign to).
  HostTensor() = default;
  /// Zeros of `dt` over `s`.
  HostTensor(DType dt, Shape s) : dtype(dt), shape(std::move(s)), data(size_t(kiln::numel(shape)), 0.0) {}
  /// Given elements; `d` must have numel(s) of them.
  HostTensor(DType dt, Shape s, std::vector<double> d) : dtype(dt), shape(std::move(s)), data(std::move(d)) {}
  /// The dtype and shape as an IR type.
  Type type() const { return {dtype, shape}; }
  /// The element count, as data holds it.
  int64_t numel() const { return int64_t(data.size()); }
};

/// Named tensors: inputs, parameters, outputs.
using TensorMap = std::map<std::string, HostTensor>;

/// The safetensors form: F32, F64, I32 or BOOL by dtype.
StoredTensor toStored(const HostTensor& t);
/// The safetensors name of `t`'s stored form: F32, F64, I32 or BOOL.
std::string storedDtype(DType t);
/// From the safetensors form. Accepts F32, F64, I32, BOOL, U8 and I64 (values outside i32 range are an
/// Error naming `name`).
HostTensor fromStored(const StoredTensor& t, const std::string& name);
/// Whole files, tensor by tensor.
TensorFile toStored(const TensorMap& m);
/// Whole files; errors name the tensor.
TensorMap fromStored(const TensorFile& f);

/// "f32[10] min -1.2 max 3.4 mean 0.1: [0.5, ...]": a one-line summary for the CLI.
std::string summarize(const HostTensor& t);

}  // namespace kiln
