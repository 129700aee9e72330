// The JSON form of a graph: the same graph as .kir, for tools and other languages.
//   {"format": "kiln-ir", "version": 1, "graph": "mlp",
//    "nodes": [{"id": 0, "op": "input", "dtype": "f32", "shape": [128, 784], "inputs": [],
//               "attrs": {"name": "x"}}, ...],
//    "outputs": [{"name": "loss", "node": 20}]}
// Non-finite numbers are the strings "nan", "inf" and "-inf".
#pragma once

#include <string>
#include <string_view>

#include "ir/Graph.h"

namespace kiln {

/// The graph as JSON text: keys in a fixed order, one node per line.
std::string graphToJson(const Graph& g);
/// Reads the JSON form; throws Error naming the file and the JSON path of the first problem.
Graph graphFromJson(std::string_view text, const std::string& file = "<input>");

}  // namespace kiln
