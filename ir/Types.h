// Element types and static shapes: the type of every value in a graph.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// Element type of a tensor.
enum class DType : uint8_t { F32, F64, I32, Bool };

/// "f32", "f64", "i32", "bool".
std::string_view dtypeName(DType t);
/// The inverse of dtypeName; nullopt for anything else.
std::optional<DType> parseDType(std::string_view name);
/// Bytes per element.
int64_t dtypeSize(DType t);
/// f32 or f64.
bool isFloat(DType t);

/// Dimensions, outermost first. Rank 0 is a scalar.
using Shape = std::vector<int64_t>;

/// The highest rank a value may have.
inline constexpr int kMaxRank = 6;
/// The largest byte size a single value may have (2^48 bytes): guards every size computation.
inline constexpr int64_t kMaxBytes = int64_t(1) << 48;

/// "[128,784]".
std::string shapeStr(const Shape& s);
/// Element count. The shape must be valid (see checkType).
int64_t numel(const Shape& s);

/// A tensor type: dtype and static shape, e.g. f32[128,784].
struct Type {
  DType dtype = DType::F32;  ///< the element type
  Shape shape;               ///< the dimensions; {} is a scalar

  /// The number of dimensions.
  int64_t rank() const { return int64_t(shape.size()); }
  /// The element count (1 for a scalar); the shape must be valid.
  int64_t numel() const { return kiln::numel(shape); }
  /// The size in bytes: numel times the element size (bool is 1 byte).
  int64_t bytes() const { return numel() * dtypeSize(dtype); }
  /// "f32[128,784]".
  std::string str() const;
  /// Same dtype and same shape.
  bool operator==(const Type&) const = default;
};

/// Empty when the type is valid: rank <= kMaxRank, dimensions >= 0, byte size <= kMaxBytes (computed
/// without overflow). Otherwise a message saying which rule failed.
std::string checkType(const Type& t);

/// Row-major strides of a shape, in elements.
std::vector<int64_t> stridesOf(const Shape& s);

}  // namespace kiln
