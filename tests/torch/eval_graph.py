"""PyTorch as a high-precision oracle for whole kiln graphs: evaluates every op of ir/Ops.def with kiln's
semantics (compiler/Interpreter.cpp, ir/Scalar.h) and differentiates the loss with torch autograd.
Run with Debian's /usr/bin/python3 (python3-torch).

usage: eval_graph.py DIR
Every subfolder of DIR (sorted) is one case: graph.json (as `kiln dump FILE --json` prints it) and
inputs.safetensors (a value for every input, parameter and state leaf, keyed by its name). The case gets
torch.safetensors: every graph output under its name, in its dtype; and, when the graph has an output "loss"
that is a float scalar, grad/NAME = d loss / d NAME for every f32/f64 input and parameter leaf (in the leaf's
dtype; zeros where the loss does not depend on it; skipped if the graph already has an output of that name).
A case that fails writes error.txt instead (stale torch.safetensors and error.txt are removed first), and the
others go on. Prints one summary line; exits 0 unless DIR is unusable (2).

Evaluation: f32 and f64 are both computed in float64 (as `kiln run --f64`): inputs are cast up, f32 results
are rounded to float32 only when written. i32 is held in int64 and wrapped to 32 bits after every node, as
the interpreter stores it (i32 div truncates toward zero; division by zero is an error). bool is torch.bool.
Run-time errors of kiln are errors here too: i32 division by zero, a cast to i32 of NaN or out of range, a
gather/scatter_add index outside [0, V). (kiln refuses i32 and bool constants and pad values that are not
exact, so none reaches this script.)

Gradient conventions (passes/GradRules.cpp) where kiln's rule differs from plain torch:
- max(a, b) is where(a > b, a, b) and min(a, b) where(a < b, a, b), so at a tie the value and the whole
  gradient go to the second operand (torch.maximum splits it); NaN propagates in the value and, as in kiln,
  the gradient then goes to b.
- pow(a, c): d/da = c * a^(c-1) also where c == 0 (so NaN at a = 0, c = 0, where torch gives 0); d/dc =
  a^c * log(a) where a > 0, else 0 (torch gives NaN for a < 0 and -inf for a = 0, c < 0). A custom Function.
- max_pool2d sends each window's gradient to its first maximum in row-major order (the first NaN if any);
  torch's own max_pool2d may pick another on ties, so it is written with unfold + gather. Padding is ignored
  by max and counted as zeros by avg (divisor kernel size); both allow any padding < kernel (torch <= k/2).
- reduce_max splits the gradient evenly among equal maxima (torch.amax does the same), and a group holding
  a NaN gets a NaN gradient everywhere (also with axes=[], an identity whose gradient is NaN at NaN).
- The rest is torch's own rule and agrees with kiln: abs has gradient 0 at 0 and at NaN; select/where
  sends the gradient to the chosen branch (relu written as select has 0 at 0); sqrt, rsqrt, log at 0 give
  inf; casts between floats pass the gradient, casts from i32/bool stop it.
- The *_grad ops (conv2d_grad_input, conv2d_grad_weight, max_pool2d_grad, avg_pool2d_grad) have no rule
  in kiln; here they are vector-Jacobian products of the forward op and stay differentiable in gy (and w/x).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

F64 = torch.float64
HOLD = {"f32": F64, "f64": F64, "i32": torch.int64, "bool": torch.bool}  # how each kiln dtype is held
READ = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "BOOL": np.uint8, "U8": np.uint8}
WRITE = {"f32": ("F32", np.float32), "f64": ("F64", np.float64), "i32": ("I32", np.int32), "bool": ("BOOL", np.uint8)}
FEEDS = {"f32": ("F32", "F64"), "f64": ("F32", "F64"), "i32": ("I32", "I64", "U8"), "bool": ("BOOL",)}


class KilnError(Exception):
    """A run-time error of the graph, named after its node as the interpreter names it."""


def read_safetensors(path):
    """{name: (safetensors dtype, numpy array)} of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name != "__metadata__":
            begin, end = e["data_offsets"]
            raw = data[8 + n + begin:8 + n + end]
            out[name] = (e["dtype"], np.frombuffer(raw, dtype=READ[e["dtype"]]).reshape(e["shape"]).copy())
    return out


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: (dtype string, numpy array)} as safetensors (header padded to 8 bytes, with
    `metadata`, {str: str}, as its __metadata__ when given), atomically."""
    header, blobs, offset = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name, (dtype, a) in tensors.items():
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * (-(len(text) + 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs))
    os.replace(path + ".tmp", path)


def wrap32(v):
    """int64 values wrapped to signed 32 bits, as kiln stores an i32."""
    return torch.remainder(v + 2**31, 2**32) - 2**31


def from_double(dtype, v):
    """A float64 tensor stored as `dtype` (ir/Scalar.h roundTo): i32 truncates and wraps, bool is v != 0."""
    if dtype == "i32":
        if torch.isnan(v).any():
            raise KilnError("NaN cannot be stored in i32")
        return wrap32(torch.trunc(v).to(torch.int64))
    return v != 0 if dtype == "bool" else v.to(F64)


class Pow(torch.autograd.Function):
    """a ** c with kiln's gradient rule (see the module docstring)."""

    @staticmethod
    def forward(ctx, a, c):
        y = torch.pow(a, c)
        ctx.save_for_backward(a, c, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        a, c, y = ctx.saved_tensors
        ga = gy * (c * torch.pow(a, c - 1)) if ctx.needs_input_grad[0] else None
        gc = torch.where(a > 0, gy * (y * torch.log(a)), torch.zeros_like(a)) if ctx.needs_input_grad[1] else None
        return ga, gc


def max_min(a, b, is_max):
    """kiln's max/min: where(a > b, a, b) (ties go to b), NaN propagating with its gradient to b."""
    y = torch.where(a > b if is_max else a < b, a, b)
    if a.is_floating_point():
        y = torch.where(torch.isnan(a), y + a.detach(), y)
    return y


def vjp(f, at, gy):
    """The vector-Jacobian product gy^T df/dz at z = `at`, differentiable in whatever f and gy hold."""
    z = at.detach().requires_grad_(True)
    with torch.enable_grad():
        g = torch.autograd.grad(f(z), z, gy, create_graph=True, allow_unused=True)[0]
    return torch.zeros_like(at) if g is None else g


def conv2d(x, w, a):
    """conv2d NCHW x OIHW with stride and zero padding (zeros when a dim is 0: a sum over nothing)."""
    stride, padding = a.get("stride", [1, 1]), a.get("padding", [0, 0])
    if x.numel() == 0 or w.numel() == 0:
        oh, ow = [(x.shape[2 + i] + 2 * padding[i] - w.shape[2 + i]) // stride[i] + 1 for i in range(2)]
        return torch.zeros(x.shape[0], w.shape[0], oh, ow, dtype=x.dtype) + 0 * x.sum() + 0 * w.sum()
    return F.conv2d(x, w, stride=tuple(stride), padding=tuple(padding))


def windows(x, a, fill):
    """x [N,C,H,W] padded with `fill` and cut into pooling windows: [N,C,OH,OW,KH*KW], row-major."""
    (kh, kw), (sh, sw), (ph, pw) = a.get("kernel", [2, 2]), a.get("stride", [2, 2]), a.get("padding", [0, 0])
    xp = F.pad(x, (pw, pw, ph, ph), value=fill)
    return xp.unfold(2, kh, sh).unfold(3, kw, sw).flatten(-2)


def max_pool(x, a):
    """max_pool2d: padding ignored; the value (and so the gradient) taken from each window's first maximum."""
    win = windows(x, a, float("-inf"))
    real = windows(torch.ones_like(x.detach()), a, 0.0) > 0
    m = win.detach().amax(-1, keepdim=True)
    first = torch.where(torch.isnan(m), torch.isnan(win.detach()), (win.detach() == m) & real)
    rank = first.to(F64) * torch.arange(win.shape[-1], 0, -1, dtype=F64)  # the first candidate scores highest
    return win.gather(-1, rank.argmax(-1, keepdim=True)).squeeze(-1)


def avg_pool(x, a):
    """avg_pool2d: padding counts as zeros, every window divides by the kernel size."""
    kh, kw = a.get("kernel", [2, 2])
    return windows(x, a, 0.0).sum(-1) / (kh * kw)


def check_index(idx, rows, nid, op):
    """Raises kiln's error for the first index outside [0, rows)."""
    bad = ((idx < 0) | (idx >= rows)).flatten().nonzero()
    if len(bad):
        pos = int(bad[0])
        raise KilnError(f"%{nid} ({op}): index {int(idx.flatten()[pos])} at position {pos} is out of range [0, {rows})")


def reduce(x, a, fn):
    """reduce_sum / reduce_max over a["axes"], keeping them with keepdims. No axes reduces over a new axis
    of size 1 (torch reads dim=[] as every axis); for max this keeps kiln's NaN gradient at NaN elements."""
    axes = a.get("axes", [])
    if not axes:
        return fn(x.unsqueeze(0), dim=[0])
    return fn(x, dim=axes, keepdim=bool(a.get("keepdims", False)))


UNARY = {"neg": torch.neg, "abs": torch.abs, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt,
         "rsqrt": torch.rsqrt, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "erf": torch.erf, "sin": torch.sin,
         "cos": torch.cos}
BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}
COMPARE = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}


def philox(a, b):
    """philox(a, b) of ir/Scalar.h: word 0 of Philox2x32-10 with key 0 for counters (a, b), int64 tensors
    holding i32 values; the 32x32-bit product is taken in 16-bit halves so int64 never overflows."""
    c0, c1, key = a & 0xFFFFFFFF, b & 0xFFFFFFFF, 0
    m_hi, m_lo = 0xD256, 0xD193
    for _ in range(10):
        hi16, lo16 = c0 >> 16, c0 & 0xFFFF
        mid = m_hi * lo16 + m_lo * hi16
        low = m_lo * lo16 + ((mid & 0xFFFF) << 16)
        high = (m_hi * hi16 + (mid >> 16) + (low >> 32)) & 0xFFFFFFFF
        c0, c1 = high ^ key ^ c1, low & 0xFFFFFFFF
        key = (key + 0x9E3779B9) & 0xFFFFFFFF
    return wrap32(c0)


def eval_node(n, x):
    """The value of node n (a JSON node) from its operands' values x."""
    op, a, dtype, shape, nid = n["op"], n.get("attrs", {}), n["dtype"], list(n["shape"]), n["id"]
    if op == "constant":
        v = torch.tensor([float(s) for s in a["values"]], dtype=F64)
        return from_double(dtype, v[0].expand(shape) if v.numel() == 1 else v.reshape(shape))
    if op == "iota":
        ax = a.get("axis", 0)
        r = torch.arange(shape[ax], dtype=F64).reshape([shape[ax] if d == ax else 1 for d in range(len(shape))])
        return from_double(dtype, r.expand(shape))
    if op in UNARY:
        return UNARY[op](x[0])
    if op in COMPARE:
        p, q = (t.to(torch.int64) if t.dtype == torch.bool else t for t in x)
        return COMPARE[op](p, q)
    if op in BINARY:
        return BINARY[op](x[0], x[1])
    if op == "div":
        if dtype != "i32":
            return x[0] / x[1]
        if (x[1] == 0).any():
            raise KilnError(f"%{nid} (div): integer division by zero")
        return torch.div(x[0], x[1], rounding_mode="trunc")
    if op in ("max", "min"):
        return max_min(x[0], x[1], op == "max")
    if op == "pow":
        return Pow.apply(x[0], x[1])
    if op == "philox":
        return philox(x[0], x[1])
    if op == "select":
        return torch.where(x[0], x[1], x[2])
    if op == "cast":
        v = x[0]
        if dtype == "bool":
            return v != 0
        if dtype == "i32" and v.is_floating_point():
            bad = (torch.isnan(v) | (v <= -2147483649.0) | (v >= 2147483648.0)).flatten().nonzero()
            if len(bad):
                i = int(bad[0])
                raise KilnError(f"%{nid} (cast): element {i} ({float(v.flatten()[i])}) does not fit in i32")
            return torch.trunc(v.detach()).to(torch.int64)
        return v.to(HOLD[dtype])
    if op == "broadcast":
        return x[0].expand(shape)
    if op == "reshape":
        return x[0].reshape(shape)
    if op == "permute":
        return x[0].permute(a["perm"])
    if op == "slice":
        return x[0][tuple(slice(s, e) for s, e in zip(a["start"], a["stop"]))]
    if op == "concat":
        return torch.cat(x, a.get("axis", 0))
    if op == "pad":
        out = from_double(dtype, torch.tensor(float(a.get("value", 0)), dtype=F64)).expand(shape).clone()
        out[tuple(slice(lo, lo + d) for lo, d in zip(a["lo"], x[0].shape))] = x[0]
        return out
    if op == "reduce_sum":
        return reduce(x[0], a, torch.sum)
    if op == "reduce_max":
        return reduce(x[0], a, torch.amax)
    if op == "matmul":
        p, q = (t.transpose(-1, -2) if a.get(f) else t for t, f in zip(x, ("transpose_a", "transpose_b")))
        return torch.matmul(p, q)
    if op == "conv2d":
        return conv2d(x[0], x[1], a)
    if op == "max_pool2d":
        return max_pool(x[0], a)
    if op == "avg_pool2d":
        return avg_pool(x[0], a)
    zeros = torch.zeros(shape, dtype=HOLD[dtype])
    if op == "conv2d_grad_input":  # (gy, w) -> x
        return vjp(lambda z: conv2d(z, x[1], a), zeros, x[0])
    if op == "conv2d_grad_weight":  # (x, gy) -> w
        return vjp(lambda z: conv2d(x[0], z, a), zeros, x[1])
    if op == "max_pool2d_grad":  # (x, gy) -> x
        return vjp(lambda z: max_pool(z, a), x[0], x[1])
    if op == "avg_pool2d_grad":  # (gy) -> x
        return vjp(lambda z: avg_pool(z, a), zeros, x[0])
    if op == "gather":  # (table [V, ...], idx) -> [idx..., ...]
        check_index(x[1], x[0].shape[0], nid, op)
        return x[0][x[1]]
    if op == "scatter_add":  # (idx, src) -> [V, ...]
        check_index(x[0], shape[0], nid, op)
        return zeros.index_add(0, x[0].flatten(), x[1].reshape([x[0].numel()] + shape[1:]))
    raise KilnError(f"%{nid}: unknown op \"{op}\"")


def leaf_value(n, feeds, leaves):
    """The fed value of an input/parameter/state leaf, also kept in `leaves` under its name (unique, as the
    verifier checks); float inputs and parameters require grad."""
    name, dtype = n["attrs"]["name"], n["dtype"]
    if name not in feeds:
        raise KilnError(f"{n['op']} \"{name}\" (%{n['id']}) has no value: expected {dtype}{list(n['shape'])}")
    stored, arr = feeds[name]
    if stored not in FEEDS[dtype] or list(arr.shape) != list(n["shape"]):
        raise KilnError(f"{n['op']} \"{name}\": expected {dtype}{list(n['shape'])}, got {stored}{list(arr.shape)}")
    v = torch.from_numpy(arr).to(HOLD[dtype])
    if dtype == "i32":
        v = wrap32(v)
    if dtype in ("f32", "f64") and n["op"] != "state":
        v.requires_grad_(True)
    leaves[name] = v
    return v


def to_numpy(v, dtype):
    """A held value as the (safetensors dtype, numpy array) of kiln dtype `dtype`."""
    name, np_type = WRITE[dtype]
    return name, v.detach().numpy().astype(np_type)


def run_graph(graph, feeds):
    """Evaluates a JSON graph on the feeds: {name: (dtype, array)} of its outputs and gradients."""
    if graph.get("format") != "kiln-ir" or graph.get("version") != 1:
        raise KilnError(f"not a kiln-ir version 1 graph: format {graph.get('format')}, version {graph.get('version')}")
    vals, leaves, nodes = [], {}, graph["nodes"]
    for i, n in enumerate(nodes):
        if n["id"] != i:
            raise KilnError(f"node {i} has id {n['id']}: expected dense ids")
        if n["op"] in ("input", "parameter", "state"):
            v = leaf_value(n, feeds, leaves)
        else:
            v = eval_node(n, [vals[j] for j in n["inputs"]])
            v = wrap32(v) if n["dtype"] == "i32" else v.to(HOLD[n["dtype"]])
        if list(v.shape) != list(n["shape"]):
            raise KilnError(f"%{i} ({n['op']}): torch made shape {list(v.shape)}, kiln declares {n['shape']}")
        vals.append(v)
    out = {o["name"]: to_numpy(vals[o["node"]], nodes[o["node"]]["dtype"]) for o in graph["outputs"]}
    loss = next((o["node"] for o in graph["outputs"] if o["name"] == "loss"), None)
    if loss is None or nodes[loss]["dtype"] not in ("f32", "f64") or nodes[loss]["shape"] != []:
        return out
    names = [k for k, v in leaves.items() if v.requires_grad and "grad/" + k not in out]
    wrt = [leaves[k] for k in names]
    grads = [None] * len(wrt)
    if vals[loss].requires_grad and wrt:
        grads = torch.autograd.grad(vals[loss], wrt, allow_unused=True)
    dtypes = {n["attrs"]["name"]: n["dtype"] for n in nodes if n["op"] in ("input", "parameter")}
    for k, leaf, g in zip(names, wrt, grads):
        out["grad/" + k] = to_numpy(torch.zeros_like(leaf) if g is None else g, dtypes[k])
    return out


def run_case(folder):
    """Evaluates one case folder; returns None, or the error message it wrote to error.txt."""
    for stale in ("torch.safetensors", "error.txt"):
        if os.path.exists(os.path.join(folder, stale)):
            os.remove(os.path.join(folder, stale))
    try:
        with open(os.path.join(folder, "graph.json")) as f:
            graph = json.load(f)
        feeds = read_safetensors(os.path.join(folder, "inputs.safetensors"))
        write_safetensors(os.path.join(folder, "torch.safetensors"), run_graph(graph, feeds))
        return None
    except Exception as e:  # any failure belongs to this case only
        msg = f"{type(e).__name__}: {e}" if not isinstance(e, KilnError) else str(e)
        with open(os.path.join(folder, "error.txt"), "w") as f:
            f.write(msg + "\n")
        return msg


def main():
    """Runs every case folder of DIR in one process and prints the summary line."""
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print("usage: eval_graph.py DIR   (DIR holds case folders with graph.json and inputs.safetensors)",
              file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(1)
    root = sys.argv[1]
    cases = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    errors = [(c, m) for c in cases for m in [run_case(os.path.join(root, c))] if m is not None]
    first = f"; first: {errors[0][0]}: {errors[0][1]}" if errors else ""
    print(f"eval_graph: {len(cases)} cases, {len(errors)} errors{first}")


if __name__ == "__main__":
    main()
