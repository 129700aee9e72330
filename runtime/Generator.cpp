// Sampling and incremental decoding.
#include "runtime/Generator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "ir/Error.h"

namespace kiln {

namespace {

StoredTensor i32Tensor(std::vector<int64_t> shape, int32_t value) {
  StoredTensor t{"I32", std::move(shape), std::vector<uint8_t>(4)};
  std::memcpy(t.bytes.data(), &value, 4);
  return t;
}

std::vector<double> asDoubles(const StoredTensor& t) {
  size_t n = t.bytes.size() / storedDtypeSize(t.dtype);
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (t.dtype == "F32") {
      float f;
      std::memcpy(&f, t.bytes.data() + 4 * i, 4);
      out[i] = f;
    } else {
      std::memcpy(&out[i], t.bytes.data() + 8 * i, 8);
    }
  }
  return out;
}

}  // namespace

int64_t sampleToken(const std::vector<double>& logits, const SamplerOptions& o, double u) {
  if (logits.empty()) throw Error("sampleToken: no logits");
  int64_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[size_t(best)]) best = int64_t(i);
  if (o.temperature == 0) return best;
  std::vector<double> sorted = logits;
  double floor = -INFINITY;
  if (o.topK > 0 && size_t(o.topK) < logits.size()) {
    std::nth_element(sorted.begin(), sorted.begin() + (o.topK - 1), sorted.end(), std::greater<>());
    floor = sorted[size_t(o.topK - 1)];
  }
  std::vector<double> weights(logits.size());
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    weights[i] = logits[i] >= floor ? std::exp((logits[i] - logits[size_t(best)]) / o.temperature) : 0;
    total += weights[i];
  }
  double at = u * total;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] > 0 && at < weights[i]) return int64_t(i);
    at -= weights[i];
  }
  return best;  // rounding left `at` past the last weight
}

Generator::Generator(std::unique_ptr<Session> session, int64_t context)
    : session_(std::move(session)), context_(context) {}

std::vector<double> Generator::feed(int64_t token) {
  if (pos_ >= context_)
    throw Error(fmt::format("generate: position {} is past the model's context of {} tokens", pos_, context_));
  TensorFile in{{"token", i32Tensor({1, 1}, int32_t(token))}, {"pos", i32Tensor({}, int32_t(pos_))}};
  std::vector<double> logits = asDoubles(session_->runFor(in, "logits"));
  pos_++;
  return logits;
}

}  // namespace kiln
