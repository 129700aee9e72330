// Reading graphs: the .kir text parser, and a front door that detects .kir or JSON.
#pragma once

#include <string>
#include <string_view>

#include "ir/Graph.h"

namespace kiln {

/// Parses .kir text (see docs/IR.md). `file` names the source in errors. Throws Error at the
/// line and column of the first problem: bad UTF-8, unexpected tokens, unknown ops or attributes,
/// duplicate or forward ids, type errors.
Graph parseKir(std::string_view text, const std::string& file = "<input>");

/// Parses .kir text or JSON, whichever `text` is (JSON starts with { or [).
Graph parseGraph(std::string_view text, const std::string& file = "<input>");

/// Reads a whole file, or standard input for "-". Throws Error naming the file when it cannot be read.
std::string readFile(const std::string& path);

/// Empty when `text` is valid UTF-8, else "line:col" style message of the first bad byte.
std::string checkUtf8(std::string_view text, int& line, int& col);

}  // namespace kiln
