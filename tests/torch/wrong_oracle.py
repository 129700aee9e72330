"""A PyTorch oracle that is wrong on purpose, for testing `kiln fuzz-programs`' failure path (report, shrink,
--out): for every program it answers zeros for every output, or refuses it when $WRONG_ORACLE_REFUSE is set."""
import json
import os
import struct
import sys

DTYPES = {"f32": ("F32", "<f", 4), "f64": ("F64", "<d", 8), "i32": ("I32", "<i", 4), "bool": ("BOOL", "<?", 1)}


def zeros(graph):
    header, data = {}, b""
    nodes = {n["id"]: n for n in graph["nodes"]}
    for out in graph["outputs"]:
        node = nodes[out["node"]]
        name, fmt, size = DTYPES[node["dtype"]]
        count = 1
        for d in node["shape"]:
            count *= d
        header[out["name"]] = {"dtype": name, "shape": node["shape"], "data_offsets": [len(data), len(data) + count * size]}
        data += b"\0" * (count * size)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def main():
    root, refuse = sys.argv[1], bool(os.environ.get("WRONG_ORACLE_REFUSE"))
    for d in sorted(os.listdir(root)):
        path = os.path.join(root, d)
        if not os.path.isdir(path):
            continue
        if refuse:
            open(os.path.join(path, "error.txt"), "w").write("refused by the wrong oracle")
        else:
            graph = json.load(open(os.path.join(path, "graph.json")))
            open(os.path.join(path, "torch.safetensors"), "wb").write(zeros(graph))


if __name__ == "__main__":
    main()
