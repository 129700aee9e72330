// Names, sizes and validity of dtypes and shapes.
#include "ir/Types.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {

std::string_view dtypeName(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::I32: return "i32";
    case DType::Bool: return "bool";
  }
  return "?";
}

std::optional<DType> parseDType(std::string_view name) {
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::Bool})
    if (dtypeName(t) == name) return t;
  return std::nullopt;
}

int64_t dtypeSize(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::Bool: return 1;
  }
  return 0;
}

bool isFloat(DType t) { return t == DType::F32 || t == DType::F64; }

std::string shapeStr(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ",")); }

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string Type::str() const { return std::string(dtypeName(dtype)) + shapeStr(shape); }

std::string checkType(const Type& t) {
  if (t.rank() > kMaxRank) return fmt::format("rank {} exceeds the maximum rank {}", t.rank(), kMaxRank);
  // Zero dimensions count as one so that strides of empty tensors cannot overflow either.
  int64_t bytes = dtypeSize(t.dtype);
  for (int64_t d : t.shape) {
    if (d < 0) return fmt::format("dimension {} in {} is negative", d, shapeStr(t.shape));
    if (__builtin_mul_overflow(bytes, d == 0 ? 1 : d, &bytes) || bytes > kMaxBytes)
      return fmt::format("{} is too large: its byte size exceeds 2^48", t.str());
  }
  return "";
}

std::vector<int64_t> stridesOf(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t i = int64_t(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

}  // namespace kiln
