// The DSL's primitives: leaves, broadcasting element-wise ops, movement, reductions, contractions.
#include "ir/Builder.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/TypeInference.h"

namespace kiln {

Builder& Value::builder() const {
  if (!b_) throw Error(kEmptyValue);
  return *b_;
}

Type Value::type() const { return builder().graph().node(id_).type; }

int64_t Value::dim(int64_t axis) const {
  int64_t r = rank();
  int64_t a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r) throw Error(fmt::format("axis {} is out of range for {}", axis, type().str()));
  return shape()[size_t(a)];
}

Value Builder::add(Op op, const std::vector<Value>& operands, Attrs attrs, const Type& declared, Site site) {
  std::vector<Type> types;
  Node n;
  n.op = op;
  for (const Value& v : operands) {
    if (!v.id().valid()) throw Error(Location::of(site), fmt::format("{}: {}", opName(op), kEmptyValue));
    if (&v.builder() != this) throw Error(Location::of(site), fmt::format("{}: operand from another graph", opName(op)));
    types.push_back(v.type());
    n.inputs.push_back(v.id());
  }
  Inferred t = inferType(op, types, attrs, declared);
  if (!t.ok()) throw Error(Location::of(site), t.error);
  n.type = t.type;
  n.attrs = std::move(attrs);
  n.origin = origin_;
  return Value(this, g_.add(std::move(n)));
}

Value Builder::input(const std::string& name, const Type& type, Site site) {
  if (g_.findLeaf(name)) throw Error(Location::of(site), fmt::format("input: the name \"{}\" is taken", name));
  return add(Op::Input, {}, InputAttrs{name}, type, site);
}

Value Builder::parameter(const std::string& name, const Shape& shape, Init init, double scale, DType dtype,
                         Site site) {
  if (g_.findLeaf(name)) throw Error(Location::of(site), fmt::format("parameter: the name \"{}\" is taken", name));
  return add(Op::Parameter, {}, ParamAttrs{name, init, scale}, Type{dtype, shape}, site);
}

Value Builder::state(const std::string& name, const Type& type, Init init, Site site) {
  if (g_.findLeaf(name)) throw Error(Location::of(site), fmt::format("state: the name \"{}\" is taken", name));
  return add(Op::State, {}, ParamAttrs{name, init, 0}, type, site);
}

Value Builder::scalar(double v, DType dtype, Site site) { return constant({v}, Type{dtype, {}}, site); }

Value Builder::constant(std::vector<double> values, const Type& type, Site site) {
  return add(Op::Constant, {}, ConstAttrs{std::move(values)}, type, site);
}

Value Builder::iota(const Type& type, int64_t axis, Site site) {
  return add(Op::Iota, {}, AxisAttrs{axis}, type, site);
}

void Builder::output(const std::string& name, Value v, Site site) { output(name, v, NodeId{}, site); }

void Builder::output(const std::string& name, Value v, NodeId aliases, Site site) {
  if (g_.findOutput(name)) throw Error(Location::of(site), fmt::format("output: the name \"{}\" is taken", name));
  if (!v.id().valid()) throw Error(Location::of(site), fmt::format("output \"{}\": {}", name, kEmptyValue));
  if (&v.builder() != this) throw Error(Location::of(site), fmt::format("output \"{}\": the value is from another graph", name));
  g_.addOutput(name, v.id(), aliases);
}

// ---- element-wise ----

Value unary(Op op, Value x, Site site) {
  if (opInfo(op).cls != OpClass::Unary)
    throw Error(Location::of(site), fmt::format("unary: {} is not a unary element-wise op", opName(op)));
  return x.builder().add(op, {x}, NoAttrs{}, site);
}

namespace {

/// The numpy broadcast of two shapes, or an Error naming both.
Shape broadcastShapes(Op op, const Shape& a, const Shape& b, Site site) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(Location::of(site),
                  fmt::format("{}: cannot broadcast shapes {} and {}", opName(op), shapeStr(a), shapeStr(b)));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Value materialize(const Operand& o, Builder& b, DType dtype) {
  return o.isValue() ? o.value : b.scalar(o.number, dtype, o.site);
}

int64_t normAxis(int64_t axis, int64_t rank, std::string_view op, Site site) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error(Location::of(site), fmt::format("{}: axis {} is out of range for rank {}", op, axis, rank));
  return a;
}

std::vector<int64_t> normAxes(std::vector<int64_t> axes, int64_t rank, std::string_view op, Site site) {
  for (int64_t& a : axes) a = normAxis(a, rank, op, site);
  std::sort(axes.begin(), axes.end());
  return axes;
}

}  // namespace

Value binary(Op op, const Operand& a, const Operand& b) {
  Site site = a.isValue() ? a.site : b.site;
  if (!a.isValue() && !b.isValue())
    throw Error(Location::of(site), fmt::format("{}: at least one operand must be a graph value", opName(op)));
  Builder& bld = a.isValue() ? a.value.builder() : b.value.builder();
  DType dt = a.isValue() ? a.value.dtype() : b.value.dtype();
  Value va = materialize(a, bld, dt), vb = materialize(b, bld, dt);
  Shape s = broadcastShapes(op, va.shape(), vb.shape(), site);
  return bld.add(op, {broadcastTo(va, s, site), broadcastTo(vb, s, site)}, NoAttrs{}, site);
}

Value operator+(const Operand& a, const Operand& b) { return binary(Op::Add, a, b); }
Value operator-(const Operand& a, const Operand& b) { return binary(Op::Sub, a, b); }
Value operator*(const Operand& a, const Operand& b) { return binary(Op::Mul, a, b); }
Value operator/(const Operand& a, const Operand& b) { return binary(Op::Div, a, b); }
Value operator-(const Operand& a) {
  if (!a.isValue()) throw Error(Location::of(a.site), "neg: operand must be a graph value");
  return unary(Op::Neg, a.value, a.site);
}
Value maximum(const Operand& a, const Operand& b) { return binary(Op::Max, a, b); }
Value minimum(const Operand& a, const Operand& b) { return binary(Op::Min, a, b); }
Value pow(const Operand& a, const Operand& b) { return binary(Op::Pow, a, b); }
Value eq(const Operand& a, const Operand& b) { return binary(Op::Eq, a, b); }
Value ne(const Operand& a, const Operand& b) { return binary(Op::Ne, a, b); }
Value lt(const Operand& a, const Operand& b) { return binary(Op::Lt, a, b); }
Value le(const Operand& a, const Operand& b) { return binary(Op::Le, a, b); }
Value gt(const Operand& a, const Operand& b) { return binary(Op::Gt, a, b); }
Value ge(const Operand& a, const Operand& b) { return binary(Op::Ge, a, b); }

#define KILN_UNARY(Id, name, ...) \
  Value name(Value x, Site site) { return unary(Op::Id, x, site); }
#include "ir/Ops.def"

Value select(Value cond, const Operand& a, const Operand& b, Site site) {
  Builder& bld = cond.builder();
  if (!a.isValue() && !b.isValue())
    throw Error(Location::of(site), "select: at least one of the two values must be a graph value");
  DType dt = a.isValue() ? a.value.dtype() : b.value.dtype();
  Value va = materialize(a, bld, dt), vb = materialize(b, bld, dt);
  Shape s = broadcastShapes(Op::Select, broadcastShapes(Op::Select, cond.shape(), va.shape(), site), vb.shape(), site);
  return bld.add(Op::Select, {broadcastTo(cond, s, site), broadcastTo(va, s, site), broadcastTo(vb, s, site)},
                 NoAttrs{}, site);
}

Value cast(Value x, DType to, Site site) {
  if (x.dtype() == to) return x;
  return x.builder().add(Op::Cast, {x}, NoAttrs{}, Type{to, x.shape()}, site);
}

// ---- movement ----

Value broadcastTo(Value x, const Shape& shape, Site site) {
  if (x.shape() == shape) return x;
  return x.builder().add(Op::Broadcast, {x}, NoAttrs{}, Type{x.dtype(), shape}, site);
}

Value reshape(Value x, Shape shape, Site site) {
  auto hole = std::find(shape.begin(), shape.end(), -1);
  if (hole != shape.end()) {
    int64_t known = 1;
    for (int64_t d : shape)
      if (d != -1) known *= d;
    if (known == 0 || x.type().numel() % known != 0)
      throw Error(Location::of(site), fmt::format("reshape: cannot infer -1 in {} from {}", shapeStr(shape),
                                                  x.type().str()));
    *hole = x.type().numel() / known;
  }
  if (x.shape() == shape) return x;
  return x.builder().add(Op::Reshape, {x}, NoAttrs{}, Type{x.dtype(), shape}, site);
}

Value permute(Value x, const std::vector<int64_t>& perm, Site site) {
  return x.builder().add(Op::Permute, {x}, PermuteAttrs{perm}, site);
}

Value transpose(Value x, int64_t a, int64_t b, Site site) {
  std::vector<int64_t> perm(size_t(x.rank()));
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = int64_t(i);
  std::swap(perm[size_t(normAxis(a, x.rank(), "transpose", site))], perm[size_t(normAxis(b, x.rank(), "transpose", site))]);
  return permute(x, perm, site);
}

Value slice(Value x, const std::vector<int64_t>& start, const std::vector<int64_t>& stop, Site site) {
  return x.builder().add(Op::Slice, {x}, SliceAttrs{start, stop}, site);
}

Value sliceAxis(Value x, int64_t axis, int64_t start, int64_t stop, Site site) {
  int64_t a = normAxis(axis, x.rank(), "slice", site);
  std::vector<int64_t> lo(size_t(x.rank()), 0), hi = x.shape();
  lo[size_t(a)] = start;
  hi[size_t(a)] = stop;
  return slice(x, lo, hi, site);
}

Value concat(const std::vector<Value>& xs, int64_t axis, Site site) {
  if (xs.empty()) throw Error(Location::of(site), "concat: needs at least one value");
  return xs[0].builder().add(Op::Concat, xs, AxisAttrs{normAxis(axis, xs[0].rank(), "concat", site)}, site);
}

Value pad(Value x, const std::vector<int64_t>& lo, const std::vector<int64_t>& hi, double value, Site site) {
  return x.builder().add(Op::Pad, {x}, PadAttrs{lo, hi, value}, site);
}

// ---- reductions ----

Value sum(Value x, std::vector<int64_t> axes, bool keepdims, Site site) {
  return x.builder().add(Op::ReduceSum, {x}, ReduceAttrs{normAxes(axes, x.rank(), "reduce_sum", site), keepdims, {}}, site);
}

Value reduceMax(Value x, std::vector<int64_t> axes, bool keepdims, Site site) {
  return x.builder().add(Op::ReduceMax, {x}, ReduceAttrs{normAxes(axes, x.rank(), "reduce_max", site), keepdims, {}}, site);
}

Value mean(Value x, std::vector<int64_t> axes, bool keepdims, Site site) {
  std::vector<int64_t> norm = normAxes(axes, x.rank(), "mean", site);
  int64_t count = 1;
  for (int64_t a : norm) count *= x.shape()[size_t(a)];
  Value s = sum(x, norm, keepdims, site);
  return binary(Op::Div, Operand(s, site), Operand(double(count), site));
}

// ---- contractions and windows ----

Value matmul(Value a, Value b, bool transposeA, bool transposeB, Site site) {
  return a.builder().add(Op::Matmul, {a, b}, MatmulAttrs{transposeA, transposeB}, site);
}

Value conv2d(Value x, Value w, std::vector<int64_t> stride, std::vector<int64_t> padding, Site site) {
  return x.builder().add(Op::Conv2d, {x, w}, ConvAttrs{std::move(stride), std::move(padding), {}}, site);
}

Value maxPool2d(Value x, int64_t kernel, int64_t stride, int64_t padding, Site site) {
  return x.builder().add(Op::MaxPool2d, {x}, PoolAttrs{{kernel, kernel}, {stride, stride}, {padding, padding}}, site);
}

Value avgPool2d(Value x, int64_t kernel, int64_t stride, int64_t padding, Site site) {
  return x.builder().add(Op::AvgPool2d, {x}, PoolAttrs{{kernel, kernel}, {stride, stride}, {padding, padding}}, site);
}

Value gather(Value table, Value indices, Site site) {
  return table.builder().add(Op::Gather, {table, indices}, NoAttrs{}, site);
}

Value scatterAdd(Value indices, Value src, int64_t rows, Site site) {
  Shape out{rows};
  if (src.rank() < indices.rank())
    throw Error(Location::of(site), fmt::format("scatter_add: source {} has lower rank than indices {}",
                                                src.type().str(), indices.type().str()));
  Shape srcShape = src.shape();
  out.insert(out.end(), srcShape.begin() + indices.rank(), srcShape.end());
  return src.builder().add(Op::ScatterAdd, {indices, src}, NoAttrs{}, Type{src.dtype(), out}, site);
}

}  // namespace kiln
