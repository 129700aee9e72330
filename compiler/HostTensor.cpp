// Conversions between interpreter tensors and safetensors bytes (little-endian, as x86 and the format).
#include "compiler/HostTensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "ir/Error.h"
#include "ir/Printer.h"

namespace kiln {

namespace {
template <class T>
void put(std::vector<uint8_t>& out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.insert(out.end(), b, b + sizeof(T));
}
template <class T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
}  // namespace

std::string storedDtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I32: return "I32";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

StoredTensor toStored(const HostTensor& t) {
  StoredTensor s;
  s.dtype = storedDtype(t.dtype);
  s.shape = t.shape;
  s.bytes.reserve(size_t(t.numel() * dtypeSize(t.dtype)));
  switch (t.dtype) {
    case DType::F32: for (double v : t.data) put(s.bytes, float(v)); break;
    case DType::F64: for (double v : t.data) put(s.bytes, v); break;
    case DType::I32: for (double v : t.data) put(s.bytes, int32_t(v)); break;
    case DType::Bool: for (double v : t.data) put(s.bytes, uint8_t(v != 0)); break;
  }
  return s;
}

HostTensor fromStored(const StoredTensor& s, const std::string& name) {
  int64_t n = 1;
  for (int64_t d : s.shape) n *= d;
  int64_t size = storedDtypeSize(s.dtype);
  if (size == 0 || int64_t(s.bytes.size()) != n * size)
    throw Error(fmt::format("tensor \"{}\": {} bytes do not hold {} elements of {}", name, s.bytes.size(), n, s.dtype));
  if (s.shape.size() > size_t(kMaxRank))
    throw Error(fmt::format("tensor \"{}\": rank {} exceeds the maximum rank {}", name, s.shape.size(), kMaxRank));
  HostTensor t;
  t.shape = s.shape;
  t.data.resize(size_t(n));
  const uint8_t* p = s.bytes.data();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* e = p + i * size;
    if (s.dtype == "F32") t.dtype = DType::F32, t.data[size_t(i)] = get<float>(e);
    else if (s.dtype == "F64") t.dtype = DType::F64, t.data[size_t(i)] = get<double>(e);
    else if (s.dtype == "I32") t.dtype = DType::I32, t.data[size_t(i)] = get<int32_t>(e);
    else if (s.dtype == "BOOL" || s.dtype == "U8") {
      t.dtype = s.dtype == "BOOL" ? DType::Bool : DType::I32;
      t.data[size_t(i)] = s.dtype == "BOOL" ? (e[0] != 0) : e[0];
    } else {
      int64_t v = get<int64_t>(e);
      if (v < INT32_MIN || v > INT32_MAX)
        throw Error(fmt::format("tensor \"{}\": I64 value {} at element {} does not fit in i32", name, v, i));
      t.dtype = DType::I32, t.data[size_t(i)] = double(v);
    }
  }
  if (n == 0) {
    t.dtype = s.dtype == "F64" ? DType::F64 : s.dtype == "F32" ? DType::F32 : s.dtype == "BOOL" ? DType::Bool : DType::I32;
  }
  return t;
}

TensorFile toStored(const TensorMap& m) {
  TensorFile f;
  for (const auto& [k, v] : m) f[k] = toStored(v);
  return f;
}

TensorMap fromStored(const TensorFile& f) {
  TensorMap m;
  for (const auto& [k, v] : f) m[k] = fromStored(v, k);
  return m;
}

std::string summarize(const HostTensor& t) {
  std::string s = t.type().str();
  if (t.data.empty()) return s + " (empty)";
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  int64_t nonFinite = 0;
  for (double v : t.data) {
    if (!std::isfinite(v)) { nonFinite++; continue; }
    lo = std::min(lo, v), hi = std::max(hi, v), sum += v;
  }
  int64_t finite = t.numel() - nonFinite;
  if (finite > 0) s += fmt::format(" min {:.6g} max {:.6g} mean {:.6g}", lo, hi, sum / double(finite));
  if (nonFinite > 0) s += fmt::format(" ({} non-finite)", nonFinite);
  s += ": [";
  for (int64_t i = 0; i < std::min<int64_t>(t.numel(), 6); ++i) s += (i ? ", " : "") + fmt::format("{:.6g}", t.data[size_t(i)]);
  return s + (t.numel() > 6 ? ", ...]" : "]");
}

}  // namespace kiln
