// The C++ DSL for writing graphs. A Builder owns the graph under construction; Values are handles to its
// nodes with operator overloads and numpy-style broadcasting (the builder inserts explicit broadcasts).
// Every function takes the caller's std::source_location, so a shape or dtype mistake throws kiln::Error
// pointing at the line of the user's C++ file that made it.
//
//   Builder b("mlp");
//   Value x = b.input("x", {DType::F32, {128, 784}});
//   Value w = b.parameter("fc.weight", {10, 784}, Init::Uniform, 0.0357);
//   b.output("logits", matmul(x, w, false, true) * 0.5);
#pragma once

#include <source_location>
#include <string>
#include <vector>

#include "ir/Error.h"
#include "ir/Graph.h"

namespace kiln {

/// Defined below; a Value points at its Builder.
class Builder;
/// The call site of a DSL function, taken as a defaulted last argument; errors point at it.
using Site = std::source_location;

/// A value in a graph under construction: a node of a Builder.
class Value {
 public:
  /// An empty handle (id() is not valid); the only thing to do with it is assign to it or test id().
  Value() = default;
  Value(Builder* b, NodeId id) : b_(b), id_(id) {}

  /// The node's id in the builder's graph.
  NodeId id() const { return id_; }
  /// The builder that owns the node; new nodes built from this value go into its graph. Error for an
  /// empty Value (as is every use of one but assignment and id()).
  Builder& builder() const;
  /// The type, by value: adding nodes may move the graph's storage, so no reference is handed out.
  Type type() const;
  /// The shape, by value as type() is.
  Shape shape() const { return type().shape; }
  /// The element type.
  DType dtype() const { return type().dtype; }
  /// The number of dimensions (0 for a scalar).
  int64_t rank() const { return type().rank(); }
  /// Dimension `axis`; negative counts from the end.
  int64_t dim(int64_t axis) const;

 private:
  Builder* b_ = nullptr;
  NodeId id_;
};

/// Builds a Graph node by node, checking each node's type as it is added.
class Builder {
 public:
  /// Starts an empty graph called `name`.
  explicit Builder(std::string name = "main") : g_(std::move(name)) {}
  /// Continues an existing graph (passes append to a copy of their input this way).
  explicit Builder(Graph g) : g_(std::move(g)) {}

  /// A handle to an existing node.
  Value at(NodeId id) { return Value(this, id); }
  /// Nodes added from now on record `origin` as the node they were made for (see Node::origin);
  /// NodeId{} stops recording.
  void setOrigin(NodeId origin) { origin_ = origin; }
  /// Adds an output, as Graph::addOutput.
  void output(const std::string& name, Value v, NodeId aliases, Site site = Site::current());
  /// Removes outputs, as Graph::removeOutputs.
  void removeOutputs(const std::function<bool(const Output&)>& drop) { g_.removeOutputs(drop); }

  /// A value fed at every run.
  Value input(const std::string& name, const Type& type, Site site = Site::current());
  /// A trained parameter with its initialiser (see Init for the meaning of `scale`).
  Value parameter(const std::string& name, const Shape& shape, Init init, double scale = 0,
                  DType dtype = DType::F32, Site site = Site::current());
  /// Persistent state that is not trained (optimizer moments, step counters), initialised as declared.
  Value state(const std::string& name, const Type& type, Init init = Init::Zeros, Site site = Site::current());
  /// A scalar constant.
  Value scalar(double v, DType dtype = DType::F32, Site site = Site::current());
  /// A constant of type `type`: one value (splat) or one per element.
  Value constant(std::vector<double> values, const Type& type, Site site = Site::current());
  /// Index along `axis` at every element of `type`.
  Value iota(const Type& type, int64_t axis, Site site = Site::current());
  /// Marks `v` as the output called `name`.
  void output(const std::string& name, Value v, Site site = Site::current());

  /// Appends one node, inferring (or for declared-type ops checking) its type; a mistake throws Error at
  /// `site` naming the op and the operand types.
  Value add(Op op, const std::vector<Value>& operands, Attrs attrs, const Type& declared, Site site);
  Value add(Op op, const std::vector<Value>& operands, Attrs attrs, Site site) {
    return add(op, operands, std::move(attrs), Type{}, site);
  }

  /// The graph so far. Adding a node may move its nodes, so a reference into it lasts until the next add.
  const Graph& graph() const { return g_; }
  /// The finished graph (a copy; the builder stays usable).
  Graph finish() { return g_; }

 private:
  Graph g_;
  NodeId origin_;
};

/// What an empty Value's use throws: it names no node (a Value declared and never assigned).
inline constexpr const char* kEmptyValue = "an empty Value (declared but never given a node) used in an expression";

/// An operand of an overloaded operator: a Value or a number, with the call site of the expression.
struct Operand {
  /// Implicit, so that `x + y` and `x * 0.5` take Values and numbers alike. An empty Value is an Error
  /// here, at the expression that uses it (it used to become the number 0).
  Operand(Value v, Site site = Site::current()) : value(v), site(site) {
    if (!v.id().valid()) throw Error(Location::of(site), kEmptyValue);
  }
  Operand(double s, Site site = Site::current()) : number(s), site(site) {}
  Value value;       ///< the value, or an empty Value for a number
  double number = 0; ///< the number, when value is empty; it becomes a scalar constant
  Site site;         ///< where the expression was written
  /// Whether this is a Value rather than a number.
  bool isValue() const { return value.id().valid(); }
};

/// Element-wise arithmetic with numpy broadcasting; a number takes the other operand's dtype.
Value operator+(const Operand& a, const Operand& b);
Value operator-(const Operand& a, const Operand& b);
Value operator*(const Operand& a, const Operand& b);
Value operator/(const Operand& a, const Operand& b);
Value operator-(const Operand& a);

/// A unary element-wise op: `unary(Op::Exp, x)` is `exp(x)`.
Value unary(Op op, Value x, Site site = Site::current());
/// The unary element-wise primitives, one per row of class Unary in ir/Ops.def, each named as its op:
/// `exp(x)` adds `exp %x`.
#define KILN_UNARY(Id, name, ...) Value name(Value x, Site site = Site::current());
#include "ir/Ops.def"

/// A binary element-wise op (add ... pow, eq ... ge) with numpy broadcasting.
/// At least one operand must be a Value.
Value binary(Op op, const Operand& a, const Operand& b);
/// Element-wise max; NaN if either is NaN (as torch.maximum).
Value maximum(const Operand& a, const Operand& b);
/// Element-wise min; NaN if either is NaN (as torch.minimum).
Value minimum(const Operand& a, const Operand& b);
/// a to the power b, element-wise; floats only.
Value pow(const Operand& a, const Operand& b);
/// a == b, element-wise: a bool result, as for every comparison below. Comparisons have no gradient.
Value eq(const Operand& a, const Operand& b);
/// a != b (true when either is NaN).
Value ne(const Operand& a, const Operand& b);
/// a < b.
Value lt(const Operand& a, const Operand& b);
/// a <= b.
Value le(const Operand& a, const Operand& b);
/// a > b.
Value gt(const Operand& a, const Operand& b);
/// a >= b.
Value ge(const Operand& a, const Operand& b);
/// `a` where `cond` else `b`, all three broadcast to one shape.
Value select(Value cond, const Operand& a, const Operand& b, Site site = Site::current());
/// Converts element type (no node when x already has it): float to i32 truncates toward zero, anything to
/// bool is x != 0.
Value cast(Value x, DType to, Site site = Site::current());

// Movement.
/// Broadcasts numpy-style to `shape` (no-op when already that shape).
Value broadcastTo(Value x, const Shape& shape, Site site = Site::current());
/// Same elements, new shape; one dim may be -1 (inferred).
Value reshape(Value x, Shape shape, Site site = Site::current());
/// Output dim i is input dim perm[i].
Value permute(Value x, const std::vector<int64_t>& perm, Site site = Site::current());
/// Swaps two axes (negative counts from the end).
Value transpose(Value x, int64_t a, int64_t b, Site site = Site::current());
/// [start, stop) on every axis.
Value slice(Value x, const std::vector<int64_t>& start, const std::vector<int64_t>& stop, Site site = Site::current());
/// [start, stop) along one axis, everything along the others.
Value sliceAxis(Value x, int64_t axis, int64_t start, int64_t stop, Site site = Site::current());
/// Joins values of one dtype and rank along `axis` (negative counts from the end); other dims must agree.
Value concat(const std::vector<Value>& xs, int64_t axis, Site site = Site::current());
/// Adds lo[i] elements before and hi[i] after axis i, all equal to `value`.
Value pad(Value x, const std::vector<int64_t>& lo, const std::vector<int64_t>& hi, double value = 0,
          Site site = Site::current());

// Reductions; negative axes count from the end.
/// The sum over `axes`, which are dropped, or kept as size 1 with `keepdims`.
Value sum(Value x, std::vector<int64_t> axes, bool keepdims = false, Site site = Site::current());
/// The maximum over `axes`, as sum.
Value reduceMax(Value x, std::vector<int64_t> axes, bool keepdims = false, Site site = Site::current());
/// sum divided by the number of elements reduced (a composite: reduce_sum then div).
Value mean(Value x, std::vector<int64_t> axes, bool keepdims = false, Site site = Site::current());

// Contractions and windows.
/// Batched [...,M,K] x [...,K,N], with optional transposes of the last two dims. Both operands have one
/// rank and equal batch dims (no broadcasting); floats only.
Value matmul(Value a, Value b, bool transposeA = false, bool transposeB = false, Site site = Site::current());
/// x [N,C,H,W] * w [O,C,KH,KW] -> [N,O,OH,OW].
Value conv2d(Value x, Value w, std::vector<int64_t> stride = {1, 1}, std::vector<int64_t> padding = {0, 0},
             Site site = Site::current());
/// Max over kernel x kernel windows of x [N,C,H,W], padded positions ignored (as nn.MaxPool2d).
Value maxPool2d(Value x, int64_t kernel, int64_t stride, int64_t padding = 0, Site site = Site::current());
/// Mean over kernel x kernel windows of x [N,C,H,W], padded positions counted as zeros (as nn.AvgPool2d).
Value avgPool2d(Value x, int64_t kernel, int64_t stride, int64_t padding = 0, Site site = Site::current());
/// Rows of table[V, ...] at i32 indices: [idx..., ...].
Value gather(Value table, Value indices, Site site = Site::current());
/// The adjoint of gather: rows [V, ...] with src[i...] added at row indices[i...].
Value scatterAdd(Value indices, Value src, int64_t rows, Site site = Site::current());

// Composites, built from the primitives above (ir/Composites.cpp).
/// max(x, 0).
Value relu(Value x, Site site = Site::current());
/// Exact GELU: x/2 * (1 + erf(x / sqrt 2)), as PyTorch's nn.GELU().
Value gelu(Value x, Site site = Site::current());
/// exp(x - max) / sum: stable for any finite input.
Value softmax(Value x, int64_t axis = -1, Site site = Site::current());
/// x - max - log(sum(exp(x - max))).
Value logSoftmax(Value x, int64_t axis = -1, Site site = Site::current());
/// Normalises the last axis to mean 0, variance 1 (biased), then scales by gamma and shifts by beta.
Value layerNorm(Value x, Value gamma, Value beta, double eps = 1e-5, Site site = Site::current());
/// x[..., in] * w[out, in]^T + b[out], as PyTorch's nn.Linear.
/// Without `b`: no bias.
Value linear(Value x, Value w, Value b, Site site = Site::current());
Value linear(Value x, Value w, Site site = Site::current());
/// Mean over rows of -log softmax(logits)[label]; logits [N, C], labels i32 [N] in [0, C).
Value crossEntropy(Value logits, Value labels, Site site = Site::current());
/// Cross-entropy weighted per row: sum(weights[i] * -log softmax(logits)[i, label i]) / sum(weights), for
/// logits [N, C], labels i32 [N] and weights [N] of the logits' dtype (as PyTorch's, NaN when the weights sum
/// to 0). A row of weight 0 may have any label, even one outside [0, C).
Value crossEntropy(Value logits, Value labels, Value weights, Site site = Site::current());
/// Cross-entropy over the rows whose label is not `ignoreIndex` (as PyTorch's ignore_index; masked
/// language modelling labels the tokens it does not predict -100): their mean, NaN when every row is ignored.
Value crossEntropy(Value logits, Value labels, int64_t ignoreIndex, Site site = Site::current());
/// Mean of (a - b)^2 over all elements.
Value mse(Value a, Value b, Site site = Site::current());
/// 32 random bits for each pair of i32 counters (a, b), broadcast numpy-style: the op philox (Philox2x32-10).
Value philox(const Operand& a, const Operand& b);
/// Inverted dropout (as PyTorch's in training): each element of x is kept with probability 1 - p and scaled
/// by 1 / (1 - p), else 0. Element i's draw is philox(i + stream * numel(x), step) against a threshold, i
/// its row-major index: the mask is fixed by the step counter (an i32 scalar, e.g. a state the model
/// advances each step), the stream (one per dropout site of a model) and the element, so the interpreter
/// and the JIT draw the same masks at any thread count. p = 0 is x itself; Error unless 0 <= p < 1.
Value dropout(Value x, double p, Value step, int64_t stream, Site site = Site::current());
/// Which keys each query of an attention may see (none given: every key), and the dropout on its
/// probabilities (none by default).
struct AttentionMask {
  /// Query i sees key j only when j <= i + Tk - Tq: the queries are the last Tq of the Tk positions (Tq = Tk
  /// in training; the newest positions when decoding with a cache of keys).
  bool causal = false;
  /// Optional bool [Tk] (for every row of the batch) or [B, Tk]: the keys that may be seen, e.g. the
  /// tokens that are not padding, or the positions a key/value cache has filled.
  Value keep = {};
  /// Dropout on the probabilities [B, heads, Tq, Tk] after the softmax, as GPT-2's and BERT's attention
  /// dropout: dropout(probs, dropout, step, stream) (see dropout); 0: none.
  double dropout = 0;
  Value step = {};     ///< with dropout > 0: the i32[] step counter of its masks
  int64_t stream = 0;  ///< with dropout > 0: its stream
};
/// Multi-head scaled dot-product attention: q [B, Tq, C], k and v [B, Tk, C], split into `heads` heads of
/// C/heads; per head softmax(q k^T / sqrt(C/heads)) over the keys `mask` allows, times v, heads merged
/// back: [B, Tq, C]. Self-attention passes projections of one x as q, k and v; cross-attention takes k and v
/// from another sequence. A query that may see no key gets NaN (as PyTorch's). Error for shapes that do not
/// fit or a mask that is not bool of the key shape.
Value attention(Value q, Value k, Value v, int64_t heads, const AttentionMask& mask = {}, Site site = Site::current());
/// Multi-head self-attention with its projections, as GPT-2's and BERT's: qkv = linear(x, wqkv[3C, C],
/// bqkv), attention(q, k, v, heads, mask), then linear(., wproj[C, C], bproj).
Value selfAttention(Value x, Value wqkv, Value bqkv, Value wproj, Value bproj, int64_t heads,
                    const AttentionMask& mask, Site site = Site::current());
/// selfAttention with a causal mask: each position sees itself and the positions before it.
Value causalSelfAttention(Value x, Value wqkv, Value bqkv, Value wproj, Value bproj, int64_t heads,
                          Site site = Site::current());

}  // namespace kiln
