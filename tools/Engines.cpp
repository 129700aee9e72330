// The interpreter and JIT engines behind `kiln train`.
#include "tools/Engines.h"

#include <iostream>

#include <fmt/format.h>

#include "compiler/InterpSession.h"
#include "compiler/Interpreter.h"
#include "ir/Error.h"
#include "runtime/Safetensors.h"

namespace kiln {

void Engine::save(const std::string& path) { writeSafetensors(path, toStored(values())); }

void Engine::load(const std::string& path) {
  TensorMap now = values(), loaded = fromStored(readSafetensors(path));
  for (const auto& [name, v] : now) {
    auto it = loaded.find(name);
    if (it == loaded.end())
      throw Error(Location{path, 0, 0}, fmt::format("checkpoint has no tensor \"{}\" (is it from another model or optimizer?)", name));
    if (it->second.type() != v.type())
      throw Error(Location{path, 0, 0}, fmt::format("checkpoint tensor \"{}\" is {}, expected {}", name, it->second.type().str(), v.type().str()));
  }
  for (const auto& [name, v] : loaded)
    if (!now.count(name)) throw Error(Location{path, 0, 0}, fmt::format("checkpoint tensor \"{}\" is not a parameter or state", name));
  setValues(loaded);
}

namespace {

class InterpEngine : public Engine {
 public:
  InterpEngine(const Graph& program, const Graph& forward, uint64_t seed) : session_(program, seed), forward_(forward) {}
  double step(const TensorMap& batch) override { return InterpSession::loss(session_.step(batch)); }
  TensorMap values() override { return session_.values(); }
  void setValues(const TensorMap& v) override {
    for (const auto& [name, t] : v) session_.set(name, t);
  }
  TensorMap evaluateForward(const TensorMap& inputs) override {
    TensorMap feeds = inputs;
    for (NodeId p : forward_.nodesWithOp(Op::Parameter)) feeds[leafName(forward_[p])] = session_.get(leafName(forward_[p]));
    return evaluate(forward_, feeds);
  }

 private:
  InterpSession session_;
  Graph forward_;
};

class JitEngine : public Engine {
 public:
  JitEngine(const Graph& program, const Graph& forward, uint64_t seed, const CompileOptions& opts, bool timePasses) {
    CompileStats stats;
    session_ = compileSession(program, seed, opts, &stats);
    if (timePasses) std::cerr << "training step " << stats.report();
    forwardExe_ = compileGraph(forward, opts, &stats);
    if (timePasses) std::cerr << "forward pass " << stats.report();
    for (NodeId p : forward.nodesWithOp(Op::Parameter)) params_.push_back(leafName(forward[p]));
  }
  double step(const TensorMap& batch) override {
    TensorFile f;
    for (const auto& [k, v] : batch) f[k] = toStored(v);
    return session_->step(f);
  }
  TensorMap values() override { return fromStored(session_->values()); }
  void setValues(const TensorMap& v) override {
    for (const auto& [name, t] : v) session_->set(name, toStored(t));
  }
  TensorMap evaluateForward(const TensorMap& inputs) override {
    for (const std::string& p : params_) forwardExe_->set(p, session_->get(p));
    for (const auto& [k, v] : inputs) forwardExe_->set(k, toStored(v));
    forwardExe_->run();
    TensorMap out;
    for (const Buffer& b : forwardExe_->spec().outputs) out[b.name] = fromStored(forwardExe_->output(b.name), b.name);
    return out;
  }

 private:
  std::unique_ptr<Session> session_;
  std::unique_ptr<Executable> forwardExe_;
  std::vector<std::string> params_;
};

}  // namespace

std::unique_ptr<Engine> makeEngine(const std::string& kind, const Graph& program, const Graph& forward, uint64_t seed,
                                   const CompileOptions& opts, bool timePasses) {
  if (kind == "interp") return std::make_unique<InterpEngine>(program, forward, seed);
  if (kind == "jit") return std::make_unique<JitEngine>(program, forward, seed, opts, timePasses);
  throw Error(fmt::format("unknown engine '{}'; expected jit or interp", kind));
}

}  // namespace kiln
