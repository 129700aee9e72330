"""kiln's models written in PyTorch, with kiln's parameter names: the oracle of tests/torch/compare.py and the
peer of bench/step_vs_torch.py."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from eval_graph import philox, wrap32  # kiln's philox op, as the PyTorch oracle evaluates it


class Mlp(nn.Module):
    """Linear(784,512)-ReLU-Linear(512,512)-ReLU-Linear(512,10), as models/Mlp.cpp."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 512), nn.Linear(512, 512), nn.Linear(512, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Cnn(nn.Module):
    """Two 5x5 convolutions with ReLU and 2x2 max-pooling, then Linear(1024,512)-ReLU-Linear(512,10)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 5), nn.Conv2d(32, 64, 5)
        self.fc1, self.fc2 = nn.Linear(1024, 512), nn.Linear(512, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class Attention(nn.Module):
    def __init__(self, c, heads, causal=True):
        super().__init__()
        self.qkv, self.proj, self.heads, self.causal = nn.Linear(c, 3 * c), nn.Linear(c, c), heads, causal

    def forward(self, x, p=0.0, step=0, stream=0):
        """With p > 0: dropout on the probabilities with kiln's masks (models/Transformer.h's BlockDropout:
        the step counter plus 2^30)."""
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / (c // self.heads) ** 0.5
        if self.causal:
            att = att.masked_fill(~torch.tril(torch.ones(t, t, dtype=torch.bool)), float("-inf"))
        att = kiln_dropout(F.softmax(att, dim=-1), p, step + 2**30, stream)
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, c))


class MlpBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc, self.proj = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """A pre-LayerNorm GPT block, as models/Gpt.cpp."""

    def __init__(self, c=256, heads=4, causal=True):
        super().__init__()
        self.ln1, self.attn, self.ln2, self.mlp = nn.LayerNorm(c), Attention(c, heads, causal), nn.LayerNorm(c), MlpBlock(c)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GptBlock(nn.Module):
    """models/Gpt.cpp's gpt-block: one block, its parameters named h0.*."""

    def __init__(self):
        super().__init__()
        self.h0 = Block()

    def forward(self, x):
        return self.h0(x)


class Gpt(nn.Module):
    """models/Gpt.cpp's char-level decoder: vocab 96, context 128, 4 blocks, tied embeddings."""

    def __init__(self, vocab=96, context=128, layers=4, c=256, heads=4):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(context, c)
        self.h = nn.ModuleList(Block(c, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(c)

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe.weight[: tokens.shape[1]]
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.t()


def kiln_dropout(x, p, step, stream):
    """dropout(x, p, step, stream) of ir/Composites.cpp, with kiln's masks."""
    if p == 0:
        return x
    n = x.numel()
    index = wrap32(torch.arange(n, dtype=torch.int64) + (stream * n) % 2**32)
    keep = philox(index, torch.full((n,), step, dtype=torch.int64)) >= math.floor(-2147483648.0 + p * 4294967296.0)
    return torch.where(keep.reshape(x.shape), x * (1.0 / (1.0 - p)), torch.zeros((), dtype=x.dtype))


class Transformer(nn.Module):
    """models/Gpt.cpp's GPT or models/Bert.cpp's encoder at any size, with kiln's parameter names (h.<l>. for
    kiln's h<l>.: compare.py maps them) and kiln's dropout masks, drawn with self.step, which each forward
    in training advances, as the state dropout.step does."""

    def __init__(self, kind, vocab, context, layers, c, heads, dropout=0.0):
        super().__init__()
        self.kind, self.p, self.step = kind, dropout, 0
        blocks = nn.ModuleList(Block(c, heads, causal=kind == "gpt") for _ in range(layers))
        if kind == "gpt":
            self.wte, self.wpe, self.h = nn.Embedding(vocab, c), nn.Embedding(context, c), blocks
        else:
            self.embed = nn.Module()
            self.embed.tokens, self.embed.positions, self.embed.ln = nn.Embedding(vocab, c), nn.Embedding(context, c), nn.LayerNorm(c)
            self.layers = blocks
            self.head = nn.Module()
            self.head.dense, self.head.ln = nn.Linear(c, c), nn.LayerNorm(c)
            self.head.bias = nn.Parameter(torch.zeros(vocab))
        self.ln_f = nn.LayerNorm(c)

    def forward(self, tokens):
        p = self.p if self.training else 0.0
        emb, pos = (self.wte, self.wpe) if self.kind == "gpt" else (self.embed.tokens, self.embed.positions)
        x = emb(tokens) + pos.weight[: tokens.shape[1]]
        if self.kind == "bert":
            x = self.embed.ln(x)
        x = kiln_dropout(x, p, self.step, 0)
        for l, b in enumerate(self.h if self.kind == "gpt" else self.layers):
            x = x + kiln_dropout(b.attn(b.ln1(x), p, self.step, 1 + 2 * l), p, self.step, 1 + 2 * l)
            x = x + kiln_dropout(b.mlp(b.ln2(x)), p, self.step, 2 + 2 * l)
        if self.training:
            self.step += 1
        x = self.ln_f(x)
        if self.kind == "gpt":
            return x @ self.wte.weight.t()
        return self.head.ln(F.gelu(self.head.dense(x))) @ self.embed.tokens.weight.t() + self.head.bias
