"""PyTorch as the outside oracle: rebuilds kiln's model in torch from the same weights and inputs
(safetensors files written by the C++ test), and compares the loss, every parameter gradient, and the
parameters after three AdamW steps on that batch. Run with Debian's /usr/bin/python3 (python3-torch).

usage: compare.py DIR MODEL   (MODEL: mlp, cnn, gpt-block, gpt or bert; for gpt and bert, case.json's
"config" gives vocab, context, layers, width, heads and dropout, a probability, whose masks the twin
draws as kiln does)
DIR holds weights.safetensors (initial parameters), inputs.safetensors, and kiln.safetensors ("loss",
"grad/NAME" and "after/NAME" for every parameter NAME), and case.json (lr, weight_decay, steps,
tolerances). Prints one JSON line of the worst relative differences; exits 1 if any exceeds its
tolerance, 2 on a setup problem (missing torch is one: the test fails, it never skips).
"""
import json
import re
import sys

import numpy as np
import torch
import torch.nn.functional as F

from eval_graph import read_safetensors as read_typed
from torch_models import Cnn, GptBlock, Mlp, Transformer

def read_safetensors(path):
    """{name: numpy array} of a safetensors file (the reader of eval_graph.py, without the dtype names)."""
    return {name: a for name, (_, a) in read_typed(path).items()}


def classification_loss(model, inputs):
    return F.cross_entropy(model(torch.from_numpy(inputs["x"])), torch.from_numpy(inputs["labels"]).long())


def regression_loss(model, inputs):
    return F.mse_loss(model(torch.from_numpy(inputs["x"])), torch.from_numpy(inputs["target"]))


def language_loss(model, inputs):
    targets = torch.from_numpy(inputs["targets" if "targets" in inputs else "labels"]).long()
    logits = model(torch.from_numpy(inputs["tokens"]).long())
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def transformer(kind):
    def make(case):
        c = case["config"]
        return Transformer(kind, c["vocab"], c["context"], c["layers"], c["width"], c["heads"], c["dropout"])
    return make


MODELS = {"mlp": (lambda case: Mlp(), classification_loss), "cnn": (lambda case: Cnn(), classification_loss),
          "gpt-block": (lambda case: GptBlock(), regression_loss), "gpt": (transformer("gpt"), language_loss),
          "bert": (transformer("bert"), language_loss)}


NAME = sys.argv[2] if len(sys.argv) > 2 else ""


def torch_name(kiln_name):
    """kiln's GPT layer names h<l>. are h.<l>. in the twin's ModuleList (the GPT block's h0 is an attribute)."""
    return re.sub(r"^h(\d+)\.", r"h.\1.", kiln_name) if NAME == "gpt" else kiln_name


def rel_diff(a, b):
    """max |a - b| relative to the largest magnitude of the reference b."""
    scale = max(float(np.abs(b).max()) if b.size else 0.0, 1e-30)
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) / scale if b.size else 0.0


def fresh_model(name, weights, case):
    torch.manual_seed(0)
    model = MODELS[name][0](case)
    model.load_state_dict({torch_name(k): torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    return model


def main():
    directory, name = sys.argv[1], sys.argv[2]
    case = json.load(open(f"{directory}/case.json"))
    weights = read_safetensors(f"{directory}/weights.safetensors")
    inputs = read_safetensors(f"{directory}/inputs.safetensors")
    kiln = read_safetensors(f"{directory}/kiln.safetensors")
    torch.set_num_threads(1)

    loss_fn = MODELS[name][1]
    model = fresh_model(name, weights, case)
    loss = loss_fn(model, inputs)
    loss.backward()
    result = {"model": name, "loss_torch": float(loss), "loss_kiln": float(kiln["loss"])}
    result["loss"] = abs(float(kiln["loss"]) - float(loss)) / abs(float(loss))
    params = dict(model.named_parameters())
    kname = {torch_name(k): k for k in weights}
    result["grad"] = max(rel_diff(kiln["grad/" + kname[k]], p.grad.numpy()) for k, p in params.items())
    result["grad_worst"] = max(params, key=lambda k: rel_diff(kiln["grad/" + kname[k]], params[k].grad.numpy()))

    model = fresh_model(name, weights, case)
    opt = torch.optim.AdamW(model.parameters(), lr=case["lr"], weight_decay=case["weight_decay"])
    for _ in range(case["steps"]):
        opt.zero_grad()
        loss_fn(model, inputs).backward()
        opt.step()
    after = dict(model.named_parameters())
    # The parameters move by about lr per step; their difference is measured in units of that movement.
    # Adam divides by sqrt(v) + eps, so an element whose gradient is rounding noise (|g| ~ 1e-9) can move
    # either way by up to lr: "adamw" compares the elements whose first gradient is at least 1e-5, and
    # "adamw_all" reports every element.
    moved = case["lr"] * case["steps"]
    worst, worst_all = 0.0, 0.0
    for k, p in after.items():
        diff = np.abs(kiln["after/" + kname[k]] - p.detach().numpy()) / moved
        conditioned = np.abs(params[k].grad.numpy()) >= 1e-5
        worst_all = max(worst_all, float(diff.max()))
        if conditioned.any():
            worst = max(worst, float(diff[conditioned].max()))
    result["adamw"], result["adamw_all"] = worst, worst_all
    print(json.dumps(result))
    tol = case["tolerance"]
    ok = result["loss"] <= tol["loss"] and result["grad"] <= tol["grad"] and result["adamw"] <= tol["adamw"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # a setup problem: say what, fail
        print(f"compare.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(2)
