"""kiln's training step against PyTorch's, side by side in one run, on the same number of threads.

usage: /usr/bin/python3 bench/step_vs_torch.py [MODEL ...] [--repeats R] [--steps S] [--threads T]
Models: mlp (batch 128), cnn (batch 64), gpt (batch 16), gpt2-124m (batch 4, sequence 64), bert (batch 16, 15% of
the positions predicted; its twin is tests/torch/torch_models.py's Transformer, as gpt2-124m's). Each repeat runs kiln (build/kiln_bench, the JIT) and then PyTorch
(Debian's python3-torch) on the same model, batch and optimizer (SGD, momentum 0.9, lr 0.01), each timing S
steps and keeping its median; the figures are medians over the repeats, and the ratio kiln / PyTorch
(below 1: kiln is faster). Both run on T threads (default 1): kiln with --threads T (it also times each
step at 1 thread, interleaved, for its speedup), PyTorch with torch.set_num_threads(T) and
OPENBLAS_NUM_THREADS=T, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset so that it uses its AVX-512
kernels (and on several threads OMP_WAIT_POLICY=PASSIVE, without which its OpenMP workers spin against
OpenBLAS's threads and its 2-thread step is slower than its 1-thread one); a pause before each side lets the
other's workers fall asleep. Also prints the cold and
cached compile time of kiln's training step, the kernels per step without and with fusion, and memory:
kiln's arena (peak, lower bound, no reuse) and, for PyTorch, how far a fresh process's peak resident
memory rises over the steps, once the model and batch exist (activations, gradients, optimizer state and
allocator slack); kiln's comparable figure is its arena less the parameters.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

def threads_arg():
    """--threads T from the command line, before torch is imported (OpenBLAS reads its variables then)."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


THREADS = threads_arg()
for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)
os.environ["OPENBLAS_NUM_THREADS"] = str(THREADS)
os.environ["OMP_NUM_THREADS"] = str(THREADS)
if THREADS > 1:
    # PyTorch's OpenMP workers busy-wait between ops by default and then fight OpenBLAS's own threads for
    # the cores: at 2 threads its MLP step was 2.5 ms against 2.3 at 1 thread, and 1.6 with PASSIVE.
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "torch"))

import torch  # noqa: E402  (after the environment is set)
import torch.nn.functional as F  # noqa: E402
from torch_models import Cnn, Gpt, Mlp, Transformer  # noqa: E402
BATCH = {"mlp": 128, "cnn": 64, "gpt": 16, "gpt2-124m": 4, "bert": 16}
SETS = {"gpt2-124m": ["--set", "seq=64"]}  # kiln_bench's settings of each model: GPT-2 small at sequence 64
TEXT = {"gpt": (96, 128), "gpt2-124m": (50257, 64), "bert": (257, 128)}  # vocabulary, sequence


def make_step(model_name):
    torch.manual_seed(0)
    model = {"mlp": Mlp, "cnn": Cnn, "gpt": Gpt, "gpt2-124m": lambda: Transformer("gpt", 50257, 1024, 12, 768, 12),
             "bert": lambda: Transformer("bert", 257, 128, 4, 256, 4)}[model_name]()
    batch = BATCH[model_name]
    if model_name in TEXT:
        vocab, seq = TEXT[model_name]
        x, y = torch.randint(0, vocab, (batch, seq)), torch.randint(0, vocab, (batch * seq,))
        if model_name == "bert":  # 15% of the positions predicted, the others ignored (-100)
            y = torch.where(torch.rand(batch * seq) < 0.15, y, torch.full_like(y, -100))
    else:
        x = torch.randn(batch, 784) if model_name == "mlp" else torch.randn(batch, 1, 28, 28)
        y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x).reshape(y.shape[0], -1), y).backward()
        opt.step()

    return step, model


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def torch_peak_memory(model_name):
    """In a fresh process: peak RSS during 3 steps less the RSS once model and batch exist."""
    code = (f"import sys, resource; sys.argv = ['x']; sys.path.insert(0, {os.path.join(ROOT, 'bench')!r}); "
            f"import step_vs_torch as b; b.torch.set_num_threads({THREADS}); step, _ = b.make_step({model_name!r}); "
            "base = b.rss_bytes(); [step() for _ in range(3)]; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def torch_step_ms(model_name, steps):
    step, _ = make_step(model_name)

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def openblas_core():
    """The core name of the OpenBLAS this PyTorch runs on (AVX-512 kernels: SkylakeX or Cooperlake)."""
    import ctypes
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "libopenblas" in line})
    if not libs:
        return "no OpenBLAS loaded"
    lib = ctypes.CDLL(libs[0])
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return f"{lib.openblas_get_corename().decode()} ({os.path.basename(libs[0])})"


def kiln(*args):
    out = subprocess.run([os.path.join(ROOT, "build", "kiln_bench"), *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="*", default=["mlp"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; BLAS: {torch.__config__.show().count('BLAS')} BLAS lines in its config")
    torch.ones(64, 64) @ torch.ones(64, 64)  # OpenBLAS loaded and set up
    peak = kiln("peak", "--threads", str(a.threads))
    print(f"OpenBLAS core under PyTorch: {openblas_core()} (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}); FMA peak of {a.threads} core(s) probed now: "
          f"{peak['fma_peak_gflops']:.1f} GFLOP/s")
    e = kiln("elementwise")
    print(f"fused y = relu(a*b + c)*0.5 + d over 16M floats: kiln {e['kiln_ms']:.2f} ms ({e['kernels']} kernel), "
          f"C loop -O3 -march=native {e['c_loop_ms']:.2f} ms, ratio {e['ratio']:.2f}")
    for m in a.models:
        k, k1, t, same = [], [], [], True
        for _ in range(a.repeats):
            time.sleep(0.3)  # the other side's spinning workers asleep before each is timed
            r = kiln("step", m, *SETS.get(m, []), "--steps", str(a.steps), "--threads", str(a.threads))
            k.append(r["ms_per_step"])
            k1.append(r["ms_per_step_1_thread"])
            same = same and r["same_bits"]
            time.sleep(0.3)
            t.append(torch_step_ms(m, a.steps))
        km, tm = statistics.median(k), statistics.median(t)
        speedup = f", kiln's speedup from 1 thread {statistics.median(k1) / km:.2f} (same bits: {same})" if a.threads > 1 else ""
        print(f"{m} (batch {BATCH[m]}) training step on {a.threads} threads, median of {a.repeats} x {a.steps} steps: "
              f"kiln {km:.2f} ms, PyTorch {tm:.2f} ms, ratio kiln/PyTorch {km / tm:.2f}{speedup}")
        c = kiln("compile", m, *SETS.get(m, []))
        print(f"{m} training step compile ({c['kernels']} kernels): cold {c['cold_ms']:.0f} ms "
              f"(optimise {c['optimize_ms']:.0f}, codegen {c['codegen_ms']:.0f}), cached {c['cached_ms']:.1f} ms")
        p = kiln("plan", m, *SETS.get(m, []))
        _, model = make_step(m)
        params = sum(t.numel() * 4 for t in model.parameters())
        print(f"{m} kernels per training step: {p['kernels_unfused']} without fusion, {p['kernels_fused']} with; arena "
              f"{p['peak_bytes'] / 1e6:.1f} MB (lower bound {p['lower_bound_bytes'] / 1e6:.1f} MB, efficiency "
              f"{p['lower_bound_bytes'] / p['peak_bytes']:.3f}; no reuse {p['no_reuse_bytes'] / 1e6:.1f} MB); "
              f"arena less parameters {(p['peak_bytes'] - params) / 1e6:.1f} MB, PyTorch's peak RSS rise over the steps "
              f"{torch_peak_memory(m) / 1e6:.1f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
