// The runtime's one thread pool: created once per process, it runs the chunks of a kernel on several
// threads. Which thread runs which chunk changes from run to run; what a chunk computes does not (the
// compiler fixes chunk boundaries from the shape), so results are the same bits at any thread count.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {

/// The threads a run uses when none is asked for: $KILN_THREADS if set (a whole number from 1 to 256),
/// else the cores this process may run on. Error for a malformed $KILN_THREADS.
int defaultThreads();

/// A pool of worker threads shared by everything in the process (see ThreadPool::shared).
class ThreadPool {
 public:
  /// The process's pool (created on first use, grown as runs ask for more threads).
  static ThreadPool& shared();
  ~ThreadPool();

  /// Calls fn(chunk, worker) for every chunk in [0, chunks) on up to `threads` threads, the caller among
  /// them; `worker` < threads names the thread (for its own scratch memory). Returns when every chunk is
  /// done; fn must not throw. Callers on several threads take turns. Workers spin briefly after a job, so
  /// the next kernel of a step finds them awake, then sleep.
  void run(int threads, int64_t chunks, const std::function<void(int64_t chunk, int worker)>& fn);

 private:
  ThreadPool() = default;
  void grow(int workers);
  void workerLoop(int index, uint64_t seen);
  /// Takes chunks of the current job until none is left.
  void takeChunks(int worker);
  /// Lets each sleeping worker run anywhere but on `cpu` (the caller's core) until it wakes. On these
  /// virtual machines a worker woken from sleep was placed on the core of the thread that woke it (an idle
  /// virtual core counts as taken at the host) and waited there for it, sharing one core for the whole
  /// job: 64 chunks of 150 us took 9.6 ms on 2 threads after a pause, 4.9 when the worker was awake.
  void steerSleepers(int cpu);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<uint64_t> generation_{0};  // bumped once per job
  // The current job: read by the workers between a bump of generation_ and their check-out.
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t chunks_ = 0;
  int threads_ = 1;
  std::atomic<int64_t> next_{0};      // the next chunk to take
  std::atomic<int> checkedOut_{0};    // workers done with the current job
  std::atomic<int> sleeping_{0};      // workers waiting on wake_
  std::vector<int> cpus_;             // the cores the process may run on
  std::vector<bool> asleep_, steered_;  // per worker, under mutex_: waiting on wake_; kept off a core
  std::mutex runMutex_;               // one job at a time, whoever calls run
};

}  // namespace kiln
