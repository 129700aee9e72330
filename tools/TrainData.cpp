// The data sources of `kiln train` (see TrainData.h): Fashion-MNIST images and byte-level text.
#include "tools/TrainData.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include "compiler/HostTensor.h"
#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "models/FashionMnist.h"
#include "models/TextCorpus.h"

namespace kiln {

namespace {

/// 0..n-1 shuffled for `epoch` of a run seeded with `seed`.
std::vector<int64_t> epochOrder(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed * 1000003 + uint64_t(epoch));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.next() % i]);
  return order;
}

/// A leaf of `program` that the source feeds: its shape, or an Error naming the source and what it needs.
Shape leafShape(const Graph& program, const std::string& name, const std::string& source, const std::string& needs) {
  std::optional<NodeId> id = program.findLeaf(name);
  if (!id) throw Error(fmt::format("kiln train: --data {} feeds {}; the model has no input \"{}\"", source, needs, name));
  return program[*id].type.shape;
}

/// Copies the parameters of `train` into `forward` (state the forward program lacks is skipped).
void copyParameters(const Session& train, Session& forward) {
  TensorFile params = train.state();
  for (const TensorSpec& p : forward.stateSpec()) forward.setState(p.name, params.at(p.name));
}

/// Fashion-MNIST: shuffled training images, test accuracy after each epoch.
class ImageData : public TrainData {
 public:
  ImageData(const std::string& data, const Graph& program, uint64_t seed, std::optional<int64_t> limit)
      : x_(leafShape(program, "x", data, "images x and labels")), seed_(seed) {
    leafShape(program, "labels", data, "images x and labels");
    std::string dir = fashionMnistDir(data, "kiln train");
    train_ = loadFashionMnist("train", dir), test_ = loadFashionMnist("test", dir);
    batch_ = x_[0];
    if (train_.count < batch_)
      throw Error(fmt::format("kiln train: the training set has {} images, fewer than one batch of {}", train_.count, batch_));
    limit_ = limit.value_or(std::min<int64_t>(10000, test_.count / 100 * 100));
    if (limit_ % 100 != 0) throw Error("kiln train: --eval-limit must be a multiple of 100");
    if (limit_ < 100 || limit_ > test_.count)
      throw Error(fmt::format("kiln train: --eval-limit {} needs a test set of at least that many images (and 100); it "
                              "has {}", limit_, test_.count));
  }
  std::string describe() const override { return "Fashion-MNIST"; }
  std::string unit() const override { return "img"; }
  int64_t unitsPerStep() const override { return batch_; }
  int64_t stepsPerEpoch() const override { return train_.count / batch_; }
  int64_t evalBatch() const override { return 100; }
  TensorFile batch(int64_t step) override {
    int64_t epoch = step / stepsPerEpoch();
    if (epoch != orderEpoch_) order_ = epochOrder(train_.count, seed_, epoch), orderEpoch_ = epoch;
    return images(train_, order_, step % stepsPerEpoch() * batch_, batch_);
  }
  Evaluation evaluate(const Session& train, Session& forward) override {
    copyParameters(train, forward);
    std::vector<int64_t> order(static_cast<size_t>(test_.count));
    std::iota(order.begin(), order.end(), 0);
    int64_t correct = 0;
    for (int64_t first = 0; first < limit_; first += 100) {
      TensorFile out;
      try {
        out = forward.run(images(test_, order, first, 100));
      } catch (const NonFiniteLoss&) {
        return {"no test accuracy: the test loss is not finite (the parameters hold NaN or infinity)", "test_accuracy", NAN};
      }
      HostTensor logits = fromStored(out.at("logits"), "logits");
      for (int64_t i = 0; i < 100; ++i) {
        auto row = logits.data.begin() + i * 10;
        correct += std::max_element(row, row + 10) - row == test_.labels[size_t(first + i)];
      }
    }
    double percent = 100.0 * double(correct) / double(limit_);
    return {fmt::format("test accuracy {:.2f}% ({} images)", percent, limit_), "test_accuracy", percent};
  }

 private:
  /// Images order[first..first+count) of `d`, shaped as input x, and their labels, as the arena holds them.
  TensorFile images(const Dataset& d, const std::vector<int64_t>& order, int64_t first, int64_t count) const {
    Shape shape = x_;
    shape[0] = count;
    StoredTensor x{"F32", shape, std::vector<uint8_t>(size_t(count * 784) * sizeof(float))};
    StoredTensor l{"I32", {count}, std::vector<uint8_t>(size_t(count) * sizeof(int32_t))};
    for (int64_t i = 0; i < count; ++i) {
      int64_t src = order[size_t(first + i)];
      std::memcpy(x.bytes.data() + size_t(i * 784) * sizeof(float), d.images.data() + src * 784, 784 * sizeof(float));
      std::memcpy(l.bytes.data() + size_t(i) * sizeof(int32_t), &d.labels[size_t(src)], sizeof(int32_t));
    }
    return {{"x", std::move(x)}, {"labels", std::move(l)}};
  }

  Shape x_;
  uint64_t seed_;
  Dataset train_, test_;
  int64_t batch_ = 0, limit_ = 0, orderEpoch_ = -1;
  std::vector<int64_t> order_;
};

/// What the text sources share: the corpus, batches of windows of seq tokens (window w starts at token
/// w * seq; `extra` more tokens are read past it: 1 for targets one byte on), each epoch's order, and the
/// validation windows to evaluate on.
class TextSource : public TrainData {
 public:
  std::string unit() const override { return "tok"; }
  int64_t unitsPerStep() const override { return batch_ * seq_; }
  int64_t stepsPerEpoch() const override { return (int64_t(corpus_.train.size()) - extra_) / seq_ / batch_; }
  int64_t evalBatch() const override { return batch_; }

 protected:
  /// Reads `program`'s inputs tokens and `second` (Error naming `feeds`, what the source feeds, when one is
  /// missing), requires the embedding `embedding` to hold `vocab` tokens (`tokens` naming them), and loads
  /// the corpus `data`.
  TextSource(const std::string& data, const Graph& program, uint64_t seed, std::optional<int64_t> limit, int64_t extra,
             const std::string& second, const std::string& feeds, const std::string& embedding, int64_t vocab,
             const std::string& tokens)
      : seed_(seed), extra_(extra) {
    Shape shape = leafShape(program, "tokens", data, feeds);
    leafShape(program, second, data, feeds);
    batch_ = shape.at(0), seq_ = shape.at(1);
    for (NodeId p : program.nodesWithOp(Op::Parameter))
      if (leafName(program[p]) == embedding && program[p].type.shape[0] < vocab)
        throw Error(fmt::format("kiln train: --data {} has {} ({}) and the model's vocabulary is {}; give --set vocab={}",
                                data, tokens, vocab, program[p].type.shape[0], vocab));
    corpus_ = loadTextCorpus(data, "kiln train", batch_ * seq_ + extra_);
    int64_t windows = (int64_t(corpus_.validation.size()) - extra_) / seq_ / batch_ * batch_;
    limit_ = std::min(limit.value_or(windows), windows);
    if (limit_ < batch_) throw Error(fmt::format("kiln train: --eval-limit {} is under one batch of {} windows", limit_, batch_));
    limit_ = limit_ / batch_ * batch_;
  }
  /// The order of the training windows in the epoch of `step`.
  const std::vector<int64_t>& orderFor(int64_t step) {
    int64_t epoch = step / stepsPerEpoch();
    if (epoch != orderEpoch_) order_ = epochOrder(stepsPerEpoch() * batch_, seed_, epoch), orderEpoch_ = epoch;
    return order_;
  }
  /// The validation windows in their order: 0, 1, ..., limit - 1.
  std::vector<int64_t> validationOrder() const {
    std::vector<int64_t> order(static_cast<size_t>(limit_));
    std::iota(order.begin(), order.end(), 0);
    return order;
  }

  uint64_t seed_;
  TextCorpus corpus_;
  int64_t extra_, batch_ = 0, seq_ = 0, limit_ = 0;

 private:
  int64_t orderEpoch_ = -1;
  std::vector<int64_t> order_;
};

/// Text: windows of seq + 1 bytes of the training split (tokens, and targets one byte on) in a shuffled
/// order; the validation loss after each epoch.
class TextData : public TextSource {
 public:
  TextData(const std::string& data, const Graph& program, uint64_t seed, std::optional<int64_t> limit)
      : TextSource(data, program, seed, limit, 1, "targets", "byte-level tokens and targets", "wte.weight",
                   ByteTokenizer::kVocab, "byte-level tokens") {}
  std::string describe() const override {
    return fmt::format("text {} ({} training and {} validation bytes, byte-level tokens; unigram entropy {:.4f})",
                       corpus_.name, corpus_.train.size(), corpus_.validation.size(), corpus_.unigramEntropy());
  }
  TensorFile batch(int64_t step) override { return windows(corpus_.train, orderFor(step), step % stepsPerEpoch() * batch_); }
  Evaluation evaluate(const Session& train, Session& forward) override {
    copyParameters(train, forward);
    std::vector<int64_t> order = validationOrder();
    double sum = 0;
    for (int64_t first = 0; first < limit_; first += batch_) {
      try {
        sum += fromStored(forward.run(windows(corpus_.validation, order, first)).at("loss"), "loss").data.at(0);
      } catch (const NonFiniteLoss&) {
        return {"no validation loss: it is not finite (the parameters hold NaN or infinity)", "validation_loss", NAN};
      }
    }
    double loss = sum / double(limit_ / batch_);
    return {fmt::format("validation loss {:.4f} ({:.3f} bits per byte; unigram entropy {:.4f}; {} windows of {})", loss,
                        loss / std::log(2.0), corpus_.unigramEntropy(), limit_, seq_),
            "validation_loss", loss};
  }

 private:
  /// Windows order[first..first+batch) of `split` (window w starts at byte w * seq) as tokens and targets.
  TensorFile windows(const std::vector<int32_t>& split, const std::vector<int64_t>& order, int64_t first) const {
    StoredTensor tokens{"I32", {batch_, seq_}, std::vector<uint8_t>(size_t(batch_ * seq_) * sizeof(int32_t))};
    StoredTensor targets = tokens;
    for (int64_t i = 0; i < batch_; ++i) {
      const int32_t* at = split.data() + order[size_t(first + i)] * seq_;
      std::memcpy(tokens.bytes.data() + size_t(i * seq_) * sizeof(int32_t), at, size_t(seq_) * sizeof(int32_t));
      std::memcpy(targets.bytes.data() + size_t(i * seq_) * sizeof(int32_t), at + 1, size_t(seq_) * sizeof(int32_t));
    }
    return {{"tokens", std::move(tokens)}, {"targets", std::move(targets)}};
  }
};

/// Masked text, for a masked LM: windows of seq bytes of the training split in a shuffled order, corrupted
/// as BERT's (MaskedLm; the masking of step s's window i is fixed by the seed and s * batch + i); the
/// masked-token accuracy on the validation text, masked the same way for every run, after each epoch.
class MaskedTextData : public TextSource {
 public:
  MaskedTextData(const std::string& data, const Graph& program, uint64_t seed, std::optional<int64_t> limit)
      : TextSource(data, program, seed, limit, 0, "labels", "masked byte-level tokens and labels", "embed.tokens.weight",
                   MaskedLm::kMaskToken + 1, "byte-level tokens and [MASK]") {
    std::vector<int64_t> counts(256);
    for (int32_t t : corpus_.train) counts[size_t(t)]++;
    mode_ = int32_t(std::max_element(counts.begin(), counts.end()) - counts.begin());
  }
  std::string describe() const override {
    return fmt::format("masked text {} ({} training and {} validation bytes, byte-level tokens and [MASK]; 15% predicted)",
                       corpus_.name, corpus_.train.size(), corpus_.validation.size());
  }
  TensorFile batch(int64_t step) override {
    return windows(corpus_.train, orderFor(step), step % stepsPerEpoch() * batch_, seed_, uint64_t(step * batch_));
  }
  Evaluation evaluate(const Session& train, Session& forward) override {
    copyParameters(train, forward);
    std::vector<int64_t> order = validationOrder();
    int64_t correct = 0, common = 0, total = 0, vocab = 0;
    for (int64_t first = 0; first < limit_; first += batch_) {
      TensorFile in = windows(corpus_.validation, order, first, kEvalSeed, uint64_t(first));
      HostTensor logits;
      try {
        logits = fromStored(forward.run(in).at("logits"), "logits");
      } catch (const NonFiniteLoss&) {
        return {"no masked-token accuracy: the loss is not finite (the parameters hold NaN or infinity)", "masked_accuracy", NAN};
      }
      vocab = logits.shape.back();
      const int32_t* labels = reinterpret_cast<const int32_t*>(in.at("labels").bytes.data());
      for (int64_t i = 0; i < batch_ * seq_; ++i) {
        if (labels[i] == MaskedLm::kIgnore) continue;
        auto row = logits.data.begin() + i * vocab;
        correct += std::max_element(row, row + vocab) - row == labels[i];
        common += labels[i] == mode_, total++;
      }
    }
    double acc = 100.0 * double(correct) / double(std::max<int64_t>(total, 1));
    return {fmt::format("masked-token accuracy {:.2f}% (always the most frequent byte: {:.2f}%; {} masked tokens in {} windows "
                        "of {})", acc, 100.0 * double(common) / double(std::max<int64_t>(total, 1)), total, limit_, seq_),
            "masked_accuracy", acc};
  }

 private:
  static constexpr uint64_t kEvalSeed = 0x6b696c6e;  // the validation text's masking, the same for every run

  /// Windows order[first..first+batch) of `split` (window w starts at byte w * seq), corrupted with `seed`
  /// and salts salt, salt + 1, ...: tokens and labels.
  TensorFile windows(const std::vector<int32_t>& split, const std::vector<int64_t>& order, int64_t first, uint64_t seed,
                     uint64_t salt) const {
    StoredTensor tokens{"I32", {batch_, seq_}, std::vector<uint8_t>(size_t(batch_ * seq_) * sizeof(int32_t))};
    StoredTensor labels = tokens;
    for (int64_t i = 0; i < batch_; ++i) {
      int32_t* t = reinterpret_cast<int32_t*>(tokens.bytes.data()) + i * seq_;
      std::memcpy(t, split.data() + order[size_t(first + i)] * seq_, size_t(seq_) * sizeof(int32_t));
      MaskedLm::corrupt(t, reinterpret_cast<int32_t*>(labels.bytes.data()) + i * seq_, seq_, seed, salt + uint64_t(i));
    }
    return {{"tokens", std::move(tokens)}, {"labels", std::move(labels)}};
  }

  int32_t mode_ = 0;  // the training split's most frequent byte: the baseline's guess
};

}  // namespace

std::unique_ptr<TrainData> makeTrainData(const std::string& data, const Graph& program, uint64_t seed,
                                         std::optional<int64_t> evalLimit) {
  if (isTextData(data) && program.findLeaf("tokens") && program.findLeaf("labels") && !program.findLeaf("targets"))
    return std::make_unique<MaskedTextData>(data, program, seed, evalLimit);
  if (isTextData(data)) return std::make_unique<TextData>(data, program, seed, evalLimit);
  return std::make_unique<ImageData>(data, program, seed, evalLimit);
}

}  // namespace kiln
