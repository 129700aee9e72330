"""kiln's models written in PyTorch, with kiln's parameter names: the oracle of tests/torch/compare.py and the
peer of bench/step_vs_torch.py."""
import torch
import torch.nn as nn
import torch.nn.functional as F


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
    def __init__(self, c, heads):
        super().__init__()
        self.qkv, self.proj, self.heads = nn.Linear(c, 3 * c), nn.Linear(c, c), heads

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / (c // self.heads) ** 0.5
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, c))


class MlpBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc, self.proj = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """A pre-LayerNorm GPT block, as models/Gpt.cpp."""

    def __init__(self, c=256, heads=4):
        super().__init__()
        self.ln1, self.attn, self.ln2, self.mlp = nn.LayerNorm(c), Attention(c, heads), nn.LayerNorm(c), MlpBlock(c)

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
