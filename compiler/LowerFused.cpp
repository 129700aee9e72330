// Fused kernels: one loop nest per kernel of the schedule, its members computed in registers element by
// element; only the kernel's stores reach memory.
#include <algorithm>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <llvm/IR/Intrinsics.h>

#include "compiler/Lowering.h"
#include "passes/Fuse.h"
#include "ir/Error.h"

namespace kiln {

namespace {

using Index = std::vector<llvm::Value*>;

/// The strides of broadcast `n`'s source along each of n's dims (0 where it is broadcast).
std::vector<int64_t> broadcastStrides(const Graph& g, const Node& n) {
  const Shape& s = g[n.inputs[0]].type.shape;
  std::vector<int64_t> st = stridesOf(s), mapped(n.type.shape.size(), 0);
  size_t lead = n.type.shape.size() - s.size();
  for (size_t d = lead; d < mapped.size(); ++d) mapped[d] = s[d - lead] == 1 ? 0 : st[d - lead];
  return mapped;
}

/// Along a vector of consecutive elements of broadcast `n` within its last `laneDims` dims: 0 when they
/// read one element of the source, 1 when they read consecutive ones, -1 when neither.
int laneStride(const Graph& g, const Node& n, size_t laneDims) {
  std::vector<int64_t> mapped = broadcastStrides(g, n), strides = stridesOf(n.type.shape);
  bool one = true, consecutive = true;
  for (size_t d = n.type.shape.size() - std::min(laneDims, n.type.shape.size()); d < mapped.size(); ++d) {
    if (n.type.shape[d] == 1) continue;  // never varies
    one = one && mapped[d] == 0;
    consecutive = consecutive && mapped[d] == strides[d];
  }
  return one ? 0 : consecutive ? 1 : -1;
}

/// The first expression member of `kernel` but `host` that cannot compute on vectors of consecutive
/// elements within the last `laneDims` dims of the host's index (vector mode below); none when all can. A
/// broadcast must have the host's shape: in another (a reshaped view) a run of lanes may cross its rows.
NodeId firstScalarMember(const Graph& g, const FusedKernel& kernel, NodeId host, size_t laneDims) {
  for (NodeId m : kernel.nodes) {
    if (m == host || !isExpressionMember(g, kernel, m)) continue;
    bool scalar = g[m].op == Op::Broadcast
                      ? g[m].type.shape != g[host].type.shape || laneStride(g, g[m], laneDims) < 0
                      : isElementwise(g[m].op) && !emitsOnVectors(g, g[m]);
    if (scalar) return m;
  }
  return {};
}

/// The contraction a fused matmul or conv2d kernel runs its epilogue on, and how many dims of its index a
/// row of the GEMM's result runs along (a matmul's last; a conv's last two, col = oh * OW + ow).
std::pair<NodeId, size_t> contractionHost(const Graph& g, const FusedKernel& kernel) {
  NodeId host;
  for (NodeId m : kernel.nodes)
    if (g[m].op == Op::Matmul || g[m].op == Op::Conv2d) host = m;
  return {host, host.valid() && g[host].op == Op::Matmul ? 1 : 2};
}

/// Evaluates the expression members of a kernel at one element of its iteration space, or, with a
/// `mask`, at a vector of consecutive elements (within the last `laneDims` dims of the index) under it.
struct Evaluator {
  KernelEmitter& k;
  const Graph& g;
  const FusedKernel& kernel;
  std::map<int32_t, llvm::Value*> vals;
  llvm::Value* mask = nullptr;  ///< vector mode: the lanes computed (elements flat..)
  size_t laneDims = 1;

  bool member(NodeId n) const { return std::find(kernel.nodes.begin(), kernel.nodes.end(), n) != kernel.nodes.end(); }

  /// v, or in vector mode v in every lane.
  llvm::Value* splat(llvm::Value* v) {
    return mask ? k.b().CreateVectorSplat(llvm::cast<llvm::FixedVectorType>(mask->getType())->getElementCount(), v) : v;
  }
  llvm::Value* immediateOrLoad(NodeId x, llvm::Value* at) {
    if (isSplatConstant(g, x)) return splat(k.constant(g[x].type.dtype, std::get<ConstAttrs>(g[x].attrs).values[0]));
    return mask ? k.loadVector(x, at, mask) : k.load(x, at);
  }

  llvm::Value* operand(NodeId x, llvm::Value* flat) {
    auto it = vals.find(x.v);
    return it != vals.end() ? it->second : immediateOrLoad(x, flat);
  }

  /// Computes every expression member (in id order) except those already in `vals` (a contraction's host).
  void evaluate(llvm::Value* flat, const Index& idx) {
    for (NodeId m : kernel.nodes) {
      if (vals.count(m.v) || !isExpressionMember(g, kernel, m) || (!isElementwise(g[m].op) && g[m].op != Op::Broadcast)) continue;
      const Node& n = g[m];
      if (n.op == Op::Broadcast) {
        NodeId src = n.inputs[0];
        std::vector<int64_t> mapped = broadcastStrides(g, n);
        // A stage of a rows kernel may hold a broadcast whose shape has other dims than the row's index
        // (the same elements, another shape): its index then comes from the flat position.
        Index at = idx.size() == mapped.size() ? idx : k.unflatten(flat, n.type.shape);
        llvm::Value* from = k.linear(at, mapped);
        if (isSplatConstant(g, src)) vals[m.v] = immediateOrLoad(src, nullptr);
        else if (mask && laneStride(g, n, laneDims) == 1) vals[m.v] = k.loadVector(src, from, mask);
        else vals[m.v] = splat(k.load(src, from));  // vector mode: lane 0's element (in range) in every lane
        continue;
      }
      std::vector<llvm::Value*> args;
      for (NodeId in : n.inputs) args.push_back(operand(in, flat));
      vals[m.v] = emitElementwiseOp(k, n, args);
    }
  }

  /// Stores the kernel's stored members that the expression computed.
  void store(llvm::Value* flat, bool includeRoot) {
    for (NodeId s : kernel.stores)
      if ((includeRoot || s != kernel.root) && vals.count(s.v)) {
        if (mask) k.storeVector(s, flat, vals[s.v], mask);
        else k.store(s, flat, vals[s.v]);
      }
  }

  bool needsIndex() const {
    for (NodeId m : kernel.nodes)
      if (g[m].op == Op::Broadcast) return true;
    return false;
  }
};

/// Loops over `shape`, the outermost over the kernel's range; body gets the index and the flat index.
int64_t iterate(KernelEmitter& k, const Shape& shape, bool needIndex, const std::function<void(llvm::Value*, const Index&)>& body) {
  if (!needIndex || shape.empty()) {
    k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* i) { body(i, {}); });
    return numel(shape);
  }
  std::vector<int64_t> strides = stridesOf(shape);
  k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* i0) {
    k.loopNest(Shape(shape.begin() + 1, shape.end()), [&](const Index& rest) {
      Index idx{i0};
      idx.insert(idx.end(), rest.begin(), rest.end());
      body(k.linear(idx, strides), idx);
    });
  });
  return shape[0];
}

int64_t lowerElementwiseKernel(KernelEmitter& k, const FusedKernel& kernel) {
  const Graph& g = k.graph();
  Evaluator probe{k, g, kernel, {}};
  return iterate(k, g[kernel.root].type.shape, probe.needsIndex(), [&](llvm::Value* flat, const Index& idx) {
    Evaluator e{k, g, kernel, {}};
    e.evaluate(flat, idx);
    e.store(flat, true);
  });
}

/// The value a reduction starts from: -inf (or INT32_MIN) for max, 0 for sum.
double reductionIdentity(const Node& n) {
  bool fp = isFloat(n.type.dtype);
  return n.op == Op::ReduceMax ? (fp ? -std::numeric_limits<double>::infinity() : double(INT32_MIN)) : 0.0;
}

/// acc combined with v by reduction `n` (max propagates NaN). With `reassoc`, only this accumulation may be
/// reassociated (so the loop vectorises), not the expression that computed v.
llvm::Value* combineReduction(KernelEmitter& k, const Node& n, llvm::Value* acc, llvm::Value* v, bool reassoc) {
  llvm::IRBuilder<>& b = k.b();
  bool fp = isFloat(n.type.dtype);
  llvm::Value* r = n.op == Op::ReduceMax ? k.intrinsic(fp ? llvm::Intrinsic::maximum : llvm::Intrinsic::smax, acc->getType(), {acc, v})
                                         : fp ? b.CreateFAdd(acc, v) : b.CreateAdd(acc, v);
  if (auto* inst = llvm::dyn_cast<llvm::Instruction>(r); inst && fp && reassoc) {
    llvm::FastMathFlags fmf;
    fmf.setAllowReassoc();
    fmf.setNoSignedZeros();
    inst->setFastMathFlags(fmf);
  }
  return r;
}

/// A reduction whose input is computed by the kernel's expression (stored members are written as they go).
/// Its range is its groups when it has them (each chunk writes its own partials), else its first kept axis
/// (each chunk writes its own outputs), else the single output: every output is summed in the same order
/// however the range is split.
struct ReductionLowering {
  KernelEmitter& k;
  const FusedKernel& kernel;
  const Graph& g = k.graph();
  llvm::IRBuilder<>& b = k.b();
  NodeId id = kernel.root, x = g[id].inputs[0];
  const Node& n = g[id];
  const Shape& s = g[x].type.shape;
  std::vector<bool> reduced = std::vector<bool>(s.size(), false);
  Shape kept = {};
  std::vector<int64_t> outStrides = {};  // kept's strides, 0 along reduced axes

  llvm::Value* identity() { return k.constant(n.type.dtype, reductionIdentity(n)); }
  llvm::Value* inputAt(const Index& idx) {
    llvm::Value* flat = k.linear(idx, stridesOf(s));
    Evaluator e{k, g, kernel, {}};
    e.evaluate(flat, idx);
    e.store(flat, false);
    return e.operand(x, flat);
  }
  /// acc += v into output `o` (base + its kept index).
  void accumulate(llvm::Value* o, llvm::Value* v) { k.store(id, o, combineReduction(k, n, k.load(id, o), v, false)); }

  /// Sets the outputs at `base` + kept index within `out` to the identity, then accumulates the input
  /// within `in` into them: along the innermost axis in a register when it is reduced.
  void slice(const KernelEmitter::Bounds& out, const KernelEmitter::Bounds& in, llvm::Value* base) {
    k.boundedNest(out, [&](const Index& idx) { k.store(id, b.CreateAdd(base, k.linear(idx, stridesOf(kept))), identity()); });
    if (s.empty() || !reduced.back()) {
      k.boundedNest(in, [&](const Index& idx) { accumulate(b.CreateAdd(base, k.linear(idx, outStrides)), inputAt(idx)); });
      return;
    }
    llvm::Type* t = k.valueType(n.type.dtype);
    llvm::Value* acc = k.local(t);
    k.boundedNest(KernelEmitter::Bounds(in.begin(), in.end() - 1), [&](const Index& idx) {
      b.CreateStore(identity(), acc);
      k.loop(in.back().first, in.back().second, [&](llvm::Value* j) {
        Index full = idx;
        full.push_back(j);
        b.CreateStore(combineReduction(k, n, b.CreateLoad(t, acc), inputAt(full), true), acc);
      });
      Index zero = idx;
      zero.push_back(k.c64(0));
      accumulate(b.CreateAdd(base, k.linear(zero, outStrides)), b.CreateLoad(t, acc));
    });
  }

  int64_t lower() {
    for (int64_t ax : std::get<ReduceAttrs>(n.attrs).axes) reduced[size_t(ax)] = true;
    kept = s;
    for (size_t d = 0; d < s.size(); ++d) kept[d] = reduced[d] ? 1 : s[d];
    outStrides = stridesOf(kept);
    KernelEmitter::Bounds in, out;
    for (size_t d = 0; d < s.size(); ++d) {
      outStrides[d] = reduced[d] ? 0 : outStrides[d];
      in.push_back({k.c64(0), k.c64(s[d])});
      out.push_back({k.c64(0), k.c64(kept[d])});
    }
    if (int64_t groups = std::get<ReduceAttrs>(n.attrs).groups.n; groups > 1) {  // rows [g*N/G, (g+1)*N/G) into partial g
      k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* gi) {
        KernelEmitter::Bounds rows = in;
        rows[0] = {k.groupBegin(gi, s[0], groups), k.groupBegin(b.CreateAdd(gi, k.c64(1)), s[0], groups)};
        slice(out, rows, b.CreateMul(gi, k.c64(numel(kept))));
      });
      return groups;
    }
    size_t r = size_t(std::find(reduced.begin(), reduced.end(), false) - reduced.begin());
    if (r < s.size()) in[r] = out[r] = {k.rangeBegin(), k.rangeEnd()};  // chunks of the first kept axis
    slice(out, in, k.c64(0));
    return r < s.size() ? s[r] : 1;
  }
};

/// A matmul or conv2d with an element-wise epilogue.
int64_t lowerContractionKernel(KernelEmitter& k, const FusedKernel& kernel) {
  const Graph& g = k.graph();
  auto [host, laneDims] = contractionHost(g, kernel);
  // Partial sums go to the host's own scratch buffer (planned for this kernel only), so the epilogue may
  // write results over operands it reads (a parameter updated in place).
  Epilogue epi{host, [&](llvm::Value* value, llvm::Value* flat, const Index& idx) {
                 Evaluator e{k, g, kernel, {{host.v, value}}};
                 e.evaluate(flat, idx);
                 e.store(flat, true);
               }};
  if (!firstScalarMember(g, kernel, host, laneDims).valid())  // on the register tile
    epi.applyVector = [&, laneDims](llvm::Value* value, llvm::Value* flat, const Index& idx, llvm::Value* mask) {
      Evaluator e{k, g, kernel, {{host.v, value}}, mask, laneDims};
      e.evaluate(flat, idx);
      e.store(flat, true);
    };
  // The epilogue's operands and results at the host's own index (a parameter and its momentum, their
  // updates; not a broadcast bias, which stays in cache): cold lines that the tile would wait for.
  std::vector<NodeId> reads, writes;
  const Shape& at = g[host].type.shape;
  for (NodeId m : kernel.nodes)
    if (m != host && isExpressionMember(g, kernel, m) && isElementwise(g[m].op))
      for (NodeId in : g[m].inputs)
        if (!std::count(kernel.nodes.begin(), kernel.nodes.end(), in) && !isSplatConstant(g, in) && g[in].type.shape == at)
          reads.push_back(in);
  for (NodeId s : kernel.stores)
    if (s != host && g[s].type.shape == at) writes.push_back(s);
  if (!reads.empty() || !writes.empty()) epi.prefetch = [&, reads, writes](llvm::Value* flat) { k.prefetch(reads, writes, flat); };
  return g[host].op == Op::Matmul ? lowerMatmul(k, host, &epi) : lowerConv(k, host, &epi);
}

/// Softmax-like kernels: for each row, every stage in turn over that row (maps and row reductions over
/// the innermost axis, per-row scalars, a total across rows); stages after the total run once at the end.
/// The lowering of a rows kernel: one loop over the rows, running every stage on the row in turn.
struct RowsLowering {
  KernelEmitter& k;
  const FusedKernel& kernel;
  const Graph& g = k.graph();
  llvm::IRBuilder<>& b = k.b();
  const Shape& R = kernel.rows;
  int64_t N = kernel.inner;
  std::map<DType, llvm::Value*> accs = {};  // one accumulator per dtype: stages may reduce i32 and f64 alike
  /// No stage totals across rows: each row is computed alone, its reductions starting from the identity,
  /// and the kernel's range runs over R's first dim.
  bool ranged = false;

  /// A total reduces every axis (with or without kept dims): each row adds its part to element 0.
  bool isTotal(const FusedKernel& st) const {
    return st.kind == KernelKind::Reduction &&
           std::get<ReduceAttrs>(g[st.root].attrs).axes.size() == g[g[st.root].inputs[0]].type.shape.size();
  }

  /// Reduction stages accumulate into their outputs, which start at the identity.
  void initOutputs() {
    for (const FusedKernel& st : kernel.stages)
      if (st.kind == KernelKind::Reduction) {
        const Node& n = g[st.root];
        k.loop(n.type.numel(), [&](llvm::Value* i) { k.store(st.root, i, k.constant(n.type.dtype, reductionIdentity(n))); });
      }
  }

  /// Stage `st` on the row at `rowIdx` (flat row number `row`).
  void stage(const FusedKernel& st, const Index& rowIdx, llvm::Value* row) {
    const Node& root = g[st.root];
    auto at = [&](llvm::Value* j) {  // flat index and full index of element j of this row
      Index idx = rowIdx;
      idx.push_back(j);
      return std::make_pair(b.CreateAdd(b.CreateMul(row, k.c64(N)), j), idx);
    };
    if (st.kind == KernelKind::Reduction) {
      llvm::Value*& acc = accs[root.type.dtype];
      if (!acc) acc = k.local(k.valueType(root.type.dtype));
      llvm::Type* t = k.valueType(root.type.dtype);
      b.CreateStore(k.constant(root.type.dtype, reductionIdentity(root)), acc);
      k.loop(N, [&](llvm::Value* j) {
        auto [flat, idx] = at(j);
        Evaluator e{k, g, st, {}};
        e.evaluate(flat, idx);
        e.store(flat, false);
        b.CreateStore(combineReduction(k, root, b.CreateLoad(t, acc), e.operand(root.inputs[0], flat), true), acc);
      });
      llvm::Value* o = isTotal(st) ? k.c64(0) : row;
      llvm::Value* start = ranged ? k.constant(root.type.dtype, reductionIdentity(root)) : k.load(st.root, o);
      k.store(st.root, o, combineReduction(k, root, start, b.CreateLoad(t, acc), false));
    } else if (root.type.numel() == numel(R) * N && N != 1) {  // a map over the row
      k.loop(N, [&](llvm::Value* j) {
        auto [flat, idx] = at(j);
        Evaluator e{k, g, st, {}};
        e.evaluate(flat, idx);
        e.store(flat, true);
      });
    } else {  // per-row scalars
      Index idx = rowIdx;
      if (root.type.rank() > int64_t(R.size())) idx.push_back(k.c64(0));
      Evaluator e{k, g, st, {}};
      e.evaluate(row, idx);
      e.store(row, true);
    }
  }

  int64_t lower() {
    size_t afterLoop = kernel.stages.size();
    for (size_t i = 0; i < kernel.stages.size(); ++i)
      if (isTotal(kernel.stages[i]) && !R.empty()) afterLoop = i + 1;
    std::vector<int64_t> rowStrides = stridesOf(R);
    ranged = !R.empty() && std::none_of(kernel.stages.begin(), kernel.stages.end(), [&](const FusedKernel& st) { return isTotal(st); });
    if (ranged) {  // every row its own: the outer loop over R's first dim is the kernel's range (threads split it)
      k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* r0) {
        k.loopNest(Shape(R.begin() + 1, R.end()), [&](const Index& rest) {
          Index rowIdx{r0};
          rowIdx.insert(rowIdx.end(), rest.begin(), rest.end());
          llvm::Value* row = k.linear(rowIdx, rowStrides);
          for (const FusedKernel& st : kernel.stages) stage(st, rowIdx, row);
        });
      });
      return R[0];
    }
    initOutputs();
    k.loopNest(R, [&](const Index& rowIdx) {
      llvm::Value* row = k.linear(rowIdx, rowStrides);
      for (size_t i = 0; i < afterLoop; ++i) stage(kernel.stages[i], rowIdx, row);
    });
    for (size_t i = afterLoop; i < kernel.stages.size(); ++i) {  // scalars after the total
      Evaluator e{k, g, kernel.stages[i], {}};
      e.evaluate(k.c64(0), {});
      e.store(k.c64(0), true);
    }
    return 1;
  }
};

}  // namespace

std::string describeEpilogue(const Graph& g, const FusedKernel& kernel) {
  if ((kernel.kind != KernelKind::Matmul && kernel.kind != KernelKind::Conv2d) || kernel.nodes.size() == 1) return "";
  auto [host, laneDims] = contractionHost(g, kernel);
  NodeId scalar = firstScalarMember(g, kernel, host, laneDims);
  if (!scalar.valid()) return "epilogue on the register tile";
  return fmt::format("epilogue element by element on the stored tile (%{} {} cannot compute on vectors)", scalar.v,
                     opInfo(g[scalar].op).name);
}

int64_t lowerKernel(KernelEmitter& k, const FusedKernel& kernel, const std::string& name) {
  bool ownLoopNest = kernel.kind != KernelKind::Elementwise && kernel.kind != KernelKind::Reduction;
  if (kernel.nodes.size() == 1 && ownLoopNest) return lowerNode(k, kernel.root, name);
  k.beginKernel(name);
  int64_t extent = 1;
  switch (kernel.kind) {
    case KernelKind::Elementwise: extent = lowerElementwiseKernel(k, kernel); break;
    case KernelKind::Reduction: extent = ReductionLowering{k, kernel}.lower(); break;
    case KernelKind::Matmul:
    case KernelKind::Conv2d: extent = lowerContractionKernel(k, kernel); break;
    case KernelKind::Rows: extent = RowsLowering{k, kernel}.lower(); break;
    case KernelKind::Single: KILN_ASSERT(false, "a single-node kernel has one node");
  }
  k.endKernel();
  return extent;
}

}  // namespace kiln
