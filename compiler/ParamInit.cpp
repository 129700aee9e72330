// Deterministic parameter initialisation.
#include "compiler/ParamInit.h"

#include <cmath>

#include <fmt/format.h>

#include "ir/Error.h"

namespace kiln {

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Rng::uniform() { return double(next() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
  double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

uint64_t hashName(const std::string& name) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

namespace {

/// PyTorch's fans: fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field.
std::pair<double, double> fans(const Shape& s, const std::string& name) {
  if (s.size() < 2)
    throw Error(fmt::format("parameter \"{}\": fan-based initialisers need rank >= 2, got {}", name, shapeStr(s)));
  double rf = 1;
  for (size_t i = 2; i < s.size(); ++i) rf *= double(s[i]);
  return {double(s[1]) * rf, double(s[0]) * rf};
}

HostTensor initOne(const Node& n, uint64_t seed) {
  const auto& a = std::get<ParamAttrs>(n.attrs);
  HostTensor t(n.type.dtype, n.type.shape);
  Rng rng(seed ^ hashName(a.name));
  double gain = a.scale == 0 ? 1.0 : a.scale;
  double bound = 0, stddev = 0;
  bool normal = false;
  switch (a.init) {
    case Init::Zeros: return t;
    case Init::Ones: std::fill(t.data.begin(), t.data.end(), 1.0); return t;
    case Init::Normal: normal = true, stddev = a.scale; break;
    case Init::Uniform: bound = a.scale; break;
    case Init::HeUniform: bound = gain * std::sqrt(6.0 / fans(n.type.shape, a.name).first); break;
    case Init::HeNormal: normal = true, stddev = gain * std::sqrt(2.0 / fans(n.type.shape, a.name).first); break;
    case Init::XavierUniform: {
      auto [fi, fo] = fans(n.type.shape, a.name);
      bound = gain * std::sqrt(6.0 / (fi + fo));
      break;
    }
    case Init::XavierNormal: {
      auto [fi, fo] = fans(n.type.shape, a.name);
      normal = true, stddev = gain * std::sqrt(2.0 / (fi + fo));
      break;
    }
  }
  for (double& v : t.data) v = normal ? stddev * rng.normal() : bound * (2.0 * rng.uniform() - 1.0);
  if (n.type.dtype == DType::F32)
    for (double& v : t.data) v = double(float(v));
  return t;
}

}  // namespace

TensorMap initParameters(const Graph& g, uint64_t seed) {
  TensorMap out;
  for (const Op op : {Op::Parameter, Op::State})
    for (NodeId id : g.nodesWithOp(op)) out[leafName(g[id])] = initOne(g[id], seed);
  return out;
}

int64_t indexBound(const Graph& g, NodeId id) {
  auto users = g.users();
  // Follow the value through shape-only ops, then read the bound off the op that consumes it.
  std::vector<NodeId> work{id};
  while (!work.empty()) {
    NodeId cur = work.back();
    work.pop_back();
    for (NodeId u : users[size_t(cur.v)]) {
      const Node& un = g[u];
      const OpFacts& f = opInfo(un.op).facts;
      if (f.indices >= 0 && un.inputs[size_t(f.indices)] == cur)
        return (f.indexRange < 0 ? un.type : g[un.inputs[size_t(f.indexRange)]].type).shape[0];
      if (opInfo(un.op).cls == OpClass::Compare) {
        NodeId other = un.inputs[0] == cur ? un.inputs[1] : un.inputs[0];
        while (g[other].op == Op::Broadcast || g[other].op == Op::Reshape) other = g[other].inputs[0];
        if (g[other].op == Op::Iota) {
          const Node& io = g[other];
          return io.type.shape[size_t(std::get<AxisAttrs>(io.attrs).axis)];
        }
      }
      if (un.op == Op::Broadcast || un.op == Op::Reshape || un.op == Op::Permute || un.op == Op::Slice) work.push_back(u);
    }
  }
  return 2;
}

TensorMap randomInputs(const Graph& g, uint64_t seed) {
  TensorMap out;
  for (NodeId id : g.nodesWithOp(Op::Input)) {
    const Node& n = g[id];
    HostTensor t(n.type.dtype, n.type.shape);
    Rng rng(seed ^ hashName(leafName(n)));
    int64_t bound = n.type.dtype == DType::I32 ? indexBound(g, id) : 0;
    for (double& v : t.data) {
      if (isFloat(n.type.dtype)) v = n.type.dtype == DType::F32 ? double(float(rng.normal())) : rng.normal();
      else if (n.type.dtype == DType::Bool) v = double(rng.next() & 1);
      else v = double(int64_t(rng.next() % uint64_t(std::max<int64_t>(bound, 1))));
    }
    out[leafName(n)] = std::move(t);
  }
  return out;
}

}  // namespace kiln
