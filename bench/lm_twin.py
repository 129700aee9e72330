"""kiln's language models on real text beside a PyTorch twin of the same model and recipe.

usage: /usr/bin/python3 bench/lm_twin.py {gpt,gpt2-124m,bert} [--set layers=2,width=128,heads=4,seq=64] [--batch B]
       [--steps S] [--lr LR] [--eval-limit N] [--seed S] [--threads T] [--kiln build/kiln] [--generate N]

Runs `kiln train MODEL --data text` (AdamW, weight decay 0.01, no schedule) and then trains the twin in
PyTorch (Debian's python3-torch) on the same data in the same order: the corpus split as kiln splits it
(Debian's fortunes, files in name order, first 90% of the bytes to train), each epoch's windows shuffled by
kiln's generator (SplitMix64, seed * 1000003 + epoch, Fisher-Yates from the end) and, for BERT, masked by
kiln's hash (models/TextCorpus.cpp: 15% chosen; 80% [MASK], 10% a random byte, 10% kept). The twin's
parameters are initialised by PyTorch from the seed, as kiln's are by kiln (the same distributions, not the
same numbers), and its sizes are kiln's preset of the model (`kiln models`) with the --set changes. OpenBLAS
under PyTorch chooses its own kernels (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset). Prints both evaluations (GPT: the validation loss; BERT: the masked-token accuracy) and the
difference. With --generate N (GPT), also the speed of generating N tokens after a one-byte prompt: `kiln
generate` on kiln's checkpoint (its decoder with a key/value cache) beside the twin's loop with a
key/value cache of its own (one token per forward, eager PyTorch, no_grad), interleaved, medians of 3.
"""
import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import time

for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # before torch loads OpenBLAS: its own choice of kernels
    os.environ.pop(var, None)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORTUNES = "/usr/share/games/fortunes"
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class Rng:
    """kiln's Rng (compiler/ParamInit.cpp): SplitMix64."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + GOLDEN) & MASK64
        return mix(self.state)


def epoch_order(n, seed, epoch):
    order = list(range(n))
    rng = Rng(seed * 1000003 + epoch)
    for i in range(n, 1, -1):
        j = rng.next() % i
        order[i - 1], order[j] = order[j], order[i - 1]
    return order


def corrupt(tokens, seed, salt):
    """MaskedLm::corrupt: the tokens corrupted in place; returns the labels."""
    key = mix(mix((seed + GOLDEN) & MASK64) ^ salt)
    labels = [-100] * len(tokens)
    for i in range(len(tokens)):
        r = mix((key + i * GOLDEN) & MASK64)
        if r % 1000 >= 150:
            continue
        labels[i] = tokens[i]
        how = (r >> 20) % 10
        if how < 8:
            tokens[i] = 256
        elif how == 8:
            tokens[i] = (r >> 40) % 256
    return labels


def corpus():
    files = sorted(f for f in os.listdir(FORTUNES)
                   if os.path.isfile(os.path.join(FORTUNES, f)) and not f.endswith((".dat", ".u8")))
    text = b"".join(open(os.path.join(FORTUNES, f), "rb").read() for f in files)
    split = len(text) * 9 // 10
    return text[:split], text[split:]


def model_settings(a):
    """kiln's preset settings of the model, from `kiln models` (the line under the model's name)."""
    lines = subprocess.run([a.kiln, "models"], capture_output=True, text=True, check=True).stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == [a.model])
    return parse_sets(lines[at + 1].split("settings:")[1].replace(" ", ""))


def parse_sets(text):
    out = {}
    for item in filter(None, text.split(",")):
        k, v = item.split("=")
        out[k] = int(v)
    return out


def run_kiln(a, ckpt):
    cmd = [a.kiln, "train", a.model, "--data", "text", "--set", a.set, "--batch", str(a.batch), "--steps", str(a.steps),
           "--optimizer", "adamw", "--lr", str(a.lr), "--eval-limit", str(a.eval_limit), "--seed", str(a.seed),
           "--threads", str(a.threads), "--log-every", str(a.steps), "--save", ckpt]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    secs = time.time() - t0
    if a.model != "bert":
        return float(re.search(r"validation loss ([0-9.]+)", out).group(1)), secs
    return float(re.search(r"masked-token accuracy ([0-9.]+)%", out).group(1)), secs


def twin(a, cfg):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    V = 257 if a.model == "bert" else 256
    C, H, T, ctx = cfg["width"], cfg["heads"], cfg["seq"], cfg["context"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.fc, self.out = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            B = x.shape[0]
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            heads = lambda t: t.view(B, -1, H, C // H).transpose(1, 2)
            q, k, v = heads(q), heads(k), heads(v)
            scores = q @ k.transpose(-1, -2) / math.sqrt(C // H)
            if a.model != "bert":
                n = scores.shape[-1]
                scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
            att = scores.softmax(-1) @ v
            x = x + self.proj(att.transpose(1, 2).reshape(B, -1, C))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(ctx, C)
            self.blocks = nn.ModuleList(Block() for _ in range(cfg["layers"]))
            self.ln_f = nn.LayerNorm(C)
            if a.model == "bert":
                self.embed_ln = nn.LayerNorm(C)
                self.dense, self.head_ln, self.bias = nn.Linear(C, C), nn.LayerNorm(C), nn.Parameter(torch.zeros(V))
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(m.weight, 0, 0.02)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)

        def forward(self, tokens):
            x = self.wte(tokens) + self.wpe.weight[:tokens.shape[1]]
            if a.model == "bert":
                x = self.embed_ln(x)
            for b in self.blocks:
                x = b(x)
            x = self.ln_f(x)
            if a.model == "bert":
                return self.head_ln(F.gelu(self.dense(x))) @ self.wte.weight.t() + self.bias
            return x @ self.wte.weight.t()

    train, val = corpus()
    width = T + 1 if a.model != "bert" else T
    per_epoch = ((len(train) - 1) if a.model != "bert" else len(train)) // T // a.batch
    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01, eps=1e-8)
    order, order_epoch = None, -1

    def windows(split, idx, seed, salt):
        toks, labels = [], []
        for i, w in enumerate(idx):
            chunk = list(split[w * T:w * T + width])
            if a.model != "bert":
                toks.append(chunk[:T])
                labels.append(chunk[1:])
            else:
                labels.append(corrupt(chunk, seed, salt + i))
                toks.append(chunk)
        return torch.tensor(toks), torch.tensor(labels)

    t0 = time.time()
    for step in range(a.steps):
        epoch = step // per_epoch
        if epoch != order_epoch:
            order, order_epoch = epoch_order(per_epoch * a.batch, a.seed, epoch), epoch
        first = step % per_epoch * a.batch
        x, y = windows(train, order[first:first + a.batch], a.seed, step * a.batch)
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
    secs = time.time() - t0
    model.eval()
    windows_avail = (len(val) - (1 if a.model != "bert" else 0)) // T // a.batch * a.batch
    limit = min(a.eval_limit, windows_avail) // a.batch * a.batch
    losses, correct, total = [], 0, 0
    with torch.no_grad():
        for first in range(0, limit, a.batch):
            x, y = windows(val, range(first, first + a.batch), 0x6B696C6E, first)
            logits = model(x)
            losses.append(F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), ignore_index=-100).item())
            keep = y != -100
            correct += (logits.argmax(-1)[keep] == y[keep]).sum().item()
            total += keep.sum().item()
    if a.model != "bert":
        return sum(losses) / len(losses), secs, model
    return 100.0 * correct / max(total, 1), secs, model


def twin_generate(model, n):
    """Seconds for the twin to generate n tokens greedily after a one-byte prompt, with a key/value cache."""
    import torch
    blocks = model.blocks
    caches = [None] * len(blocks)
    tok = torch.tensor([[10]])
    t0 = time.time()
    with torch.no_grad():
        for pos in range(n):
            x = model.wte(tok) + model.wpe.weight[pos:pos + 1]
            for i, b in enumerate(blocks):
                C, H = x.shape[-1], b.heads
                q, k, v = b.qkv(b.ln1(x)).split(C, dim=2)
                caches[i] = (k, v) if caches[i] is None else (torch.cat([caches[i][0], k], 1), torch.cat([caches[i][1], v], 1))
                heads = lambda t: t.view(1, -1, H, C // H).transpose(1, 2)
                kk, vv = caches[i]
                att = (heads(q) @ heads(kk).transpose(-1, -2) / math.sqrt(C // H)).softmax(-1) @ heads(vv)
                x = x + b.proj(att.transpose(1, 2).reshape(1, 1, C))
                x = x + b.out(torch.nn.functional.gelu(b.fc(b.ln2(x))))
            tok = (model.ln_f(x) @ model.wte.weight.t()).argmax(-1)
    return time.time() - t0


def kiln_generate(a, ckpt, n):
    """Seconds kiln generate reports for n tokens after a one-byte prompt (greedy)."""
    out = subprocess.run([a.kiln, "generate", ckpt, "--prompt", "\n", "--tokens", str(n), "--temperature", "0",
                          "--threads", str(a.threads)], capture_output=True, text=True, check=True).stderr
    return float(re.search(r"generated: \d+ tokens in ([0-9.]+) s", out).group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", choices=["gpt", "gpt2-124m", "bert"])
    p.add_argument("--set", default="layers=2,width=128,heads=4,seq=64")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--eval-limit", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    p.add_argument("--generate", type=int, default=0)
    a = p.parse_args()
    cfg = {**model_settings(a), **parse_sets(a.set)}
    ckpt = f"/tmp/lm_twin-{os.getpid()}.ckpt"
    kiln_value, kiln_secs = run_kiln(a, ckpt)
    torch_value, torch_secs, model = twin(a, cfg)
    what = "validation loss" if a.model != "bert" else "masked-token accuracy %"
    print(f"{a.model} ({a.set}) batch {a.batch}, {a.steps} AdamW steps at lr {a.lr}, {a.threads} thread(s)")
    print(f"  kiln    {what} {kiln_value:.4f}  ({kiln_secs:.1f} s, compile and evaluation included)")
    print(f"  PyTorch {what} {torch_value:.4f}  ({torch_secs:.1f} s of training steps)")
    if a.model != "bert":
        print(f"  kiln / PyTorch: {kiln_value / torch_value:.4f} ({100 * (kiln_value / torch_value - 1):+.2f}%)")
    else:
        print(f"  kiln - PyTorch: {kiln_value - torch_value:+.2f} points")
    if a.generate and a.model != "bert":
        for b in model.blocks:
            b.heads = cfg["heads"]
        ks, ts = [], []
        for _ in range(3):
            ks.append(kiln_generate(a, ckpt, a.generate))
            ts.append(twin_generate(model, a.generate))
        k, t = statistics.median(ks), statistics.median(ts)
        print(f"  generation, {a.generate} tokens with a key/value cache: kiln {a.generate / k:.0f} tokens/s, "
              f"PyTorch {a.generate / t:.0f} tokens/s (kiln / PyTorch time {k / t:.3f})")
    os.remove(ckpt)


if __name__ == "__main__":
    main()
