"""Checkpoints across the border: a kiln GPT checkpoint loaded into the PyTorch twin, and weights the twin
wrote loaded by kiln. Run with Debian's /usr/bin/python3 (python3-torch).

usage: crossing.py DIR
DIR holds kiln.ckpt (written by `kiln train gpt --data text --save`: its __metadata__ names the model and
settings) and batch.safetensors (tokens and targets). The twin (tests/torch/torch_models.py's Gpt, kiln's
names with h<l>. for h.<l>.) loads the checkpoint's parameters (its optimizer state is left out), computes
the loss on the batch, takes one SGD step of its own (lr 0.1) and writes its new weights, with the same
metadata, to DIR/torch.ckpt, and the loss of those weights on the batch. Prints one JSON line:
{"loss_kiln_weights", "loss_torch_weights"}. Exits 2 on a setup problem.
"""
import json
import re
import struct
import sys

import torch
import torch.nn.functional as F

from eval_graph import read_safetensors, write_safetensors
from torch_models import Gpt


def metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)).get("__metadata__", {})


def torch_name(kiln_name):
    return re.sub(r"^h(\d+)\.", r"h.\1.", kiln_name)


def main():
    directory = sys.argv[1]
    meta = metadata(f"{directory}/kiln.ckpt")
    if meta.get("kiln.model") != "gpt":
        raise ValueError(f"kiln.ckpt's metadata names model {meta.get('kiln.model')!r}, expected gpt")
    cfg = dict((k, int(v)) for k, v in (item.split("=") for item in meta["kiln.settings"].split(",")))
    model = Gpt(cfg["vocab"], cfg["context"], cfg["layers"], cfg["width"], cfg["heads"])
    ckpt = read_safetensors(f"{directory}/kiln.ckpt")
    wanted = dict(model.named_parameters())
    state = {torch_name(k): torch.from_numpy(a) for k, (_, a) in ckpt.items() if torch_name(k) in wanted}
    model.load_state_dict(state, strict=True)
    batch = read_safetensors(f"{directory}/batch.safetensors")
    tokens, targets = (torch.from_numpy(batch[k][1]).long() for k in ("tokens", "targets"))

    def loss():
        return F.cross_entropy(model(tokens).reshape(-1, cfg["vocab"]), targets.reshape(-1))

    before = loss()
    before.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    after = float(loss())
    kiln_names = {torch_name(k): k for k, _ in ckpt.items()}
    out = {kiln_names[k]: ("F32", p.detach().numpy()) for k, p in model.named_parameters()}
    write_safetensors(f"{directory}/torch.ckpt", out, meta)
    print(json.dumps({"loss_kiln_weights": float(before), "loss_torch_weights": after}))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a setup problem: say what, fail
        print(f"crossing.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(2)
