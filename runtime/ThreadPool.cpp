// The thread pool: one job at a time, published by bumping a word that carries the job's number and
// its thread count, so a worker learns both in one read and a worker the job does not need never reads
// the job itself.
#include "runtime/ThreadPool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "ir/Error.h"

namespace kiln {

namespace {

constexpr uint64_t kThreadBits = 16;  // the low bits of the job word: its thread count
constexpr int kMaxThreads = 256;

uint64_t jobWord(uint64_t number, int threads) { return number << kThreadBits | uint64_t(threads); }
int threadsOf(uint64_t word) { return int(word & ((uint64_t(1) << kThreadBits) - 1)); }

void pause() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

/// The set of `cpus`, less `except`.
cpu_set_t cpuSet(const std::vector<int>& cpus, int except = -1) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus)
    if (c != except) CPU_SET(c, &set);
  return set;
}

}  // namespace

int defaultThreads() {
  if (const char* env = std::getenv("KILN_THREADS")) {
    int v = 0;
    const char* end = env + std::strlen(env);
    auto [ptr, ec] = std::from_chars(env, end, v);
    if (ec != std::errc() || ptr != end || v < 1 || v > kMaxThreads)
      throw Error(fmt::format("KILN_THREADS='{}': expected a whole number from 1 to {}", env, kMaxThreads));
    return v;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

ThreadPool& ThreadPool::shared() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> l(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& w : workers_) w.join();
}

void ThreadPool::grow(int workers) {
  if (cpus_.empty()) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus_.push_back(c);
  }
  std::lock_guard<std::mutex> l(mutex_);
  asleep_.resize(size_t(workers)), steered_.resize(size_t(workers));
  while (int(workers_.size()) < workers) {
    int index = int(workers_.size()) + 1;  // worker 0 is the caller of run
    uint64_t seen = generation_.load();  // before the job that needs it is published
    workers_.emplace_back([this, index, seen] { workerLoop(index, seen); });
  }
}

void ThreadPool::takeChunks(int worker) {
  for (int64_t c = next_.fetch_add(1); c < chunks_; c = next_.fetch_add(1)) (*fn_)(c, worker);
}

void ThreadPool::workerLoop(int index, uint64_t seen) {
  for (;;) {
    // Spin for about 200 microseconds (the gap between two kernels of a step), then sleep.
    auto start = std::chrono::steady_clock::now();
    for (int i = 1; generation_.load() == seen; ++i) {
      pause();
      if (i % 64 != 0) continue;
      if (std::chrono::steady_clock::now() - start > std::chrono::microseconds(200)) break;
      sched_yield();  // with more threads than cores, let the one holding a chunk run
    }
    if (generation_.load() == seen) {
      std::unique_lock<std::mutex> l(mutex_);
      sleeping_.fetch_add(1);
      asleep_[size_t(index - 1)] = true;
      wake_.wait(l, [&] { return stop_ || generation_.load() != seen; });
      asleep_[size_t(index - 1)] = false;
      sleeping_.fetch_sub(1);
      if (stop_) return;
      if (steered_[size_t(index - 1)]) {  // placed away from the caller's core: free to move again
        steered_[size_t(index - 1)] = false;
        l.unlock();
        cpu_set_t all = cpuSet(cpus_);
        sched_setaffinity(0, sizeof all, &all);
      }
    }
    uint64_t word = generation_.load();
    seen = word;
    if (index >= threadsOf(word)) continue;  // not needed by this job
    takeChunks(index);
    checkedOut_.fetch_add(1);
  }
}

void ThreadPool::steerSleepers(int cpu) {
  if (cpu < 0 || std::find(cpus_.begin(), cpus_.end(), cpu) == cpus_.end() || cpus_.size() < 2) return;
  cpu_set_t others = cpuSet(cpus_, cpu);
  for (size_t i = 0; i < workers_.size(); ++i)
    if (asleep_[i] && pthread_setaffinity_np(workers_[i].native_handle(), sizeof others, &others) == 0) steered_[i] = true;
}

void ThreadPool::run(int threads, int64_t chunks, const std::function<void(int64_t, int)>& fn) {
  threads = int(std::clamp<int64_t>(threads, 1, std::min<int64_t>(kMaxThreads, chunks)));
  if (threads == 1) {
    for (int64_t c = 0; c < chunks; ++c) fn(c, 0);
    return;
  }
  std::lock_guard<std::mutex> one(runMutex_);
  grow(threads - 1);
  fn_ = &fn, chunks_ = chunks;
  next_.store(0);
  checkedOut_.store(0);
  generation_.store(jobWord((generation_.load() >> kThreadBits) + 1, threads));
  if (sleeping_.load() > 0) {
    {
      std::lock_guard<std::mutex> l(mutex_);  // a worker between its check and its wait gets the notify
      steerSleepers(sched_getcpu());
    }
    wake_.notify_all();
  }
  takeChunks(0);
  for (int i = 1; checkedOut_.load() < threads - 1; ++i) {
    pause();
    if (i % 64 == 0) sched_yield();
  }
}

}  // namespace kiln
