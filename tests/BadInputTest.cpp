// Bad input never crashes kiln: tables of malformed .kir, JSON and safetensors, each giving a clear
// error (checked by its text) and no abort. Golden files hold more .kir cases (tests/golden/errors).
#include <doctest/doctest.h>

#include <cstring>

#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "ir/Json.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "runtime/Safetensors.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

struct BadCase {
  std::string name;
  std::string text;
  std::string expected;  ///< the whole error text (for JSON and safetensors: its beginning)
};

std::string errorOf(const std::string& text) {
  try {
    parseGraph(text, "in");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kGoodJson = R"({"format": "kiln-ir", "version": 1, "graph": "g",
  "nodes": [{"id": 0, "op": "input", "dtype": "f32", "shape": [2], "inputs": [], "attrs": {"name": "x"}},
            {"id": 1, "op": "neg", "dtype": "f32", "shape": [2], "inputs": [0]}],
  "outputs": [{"name": "y", "node": 1}]})";

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("malformed .kir bytes") {
  std::vector<BadCase> cases = {
      {"bad UTF-8", "kiln 1\n%0 = input {name=\"x\xff\"} : f32[2]\n", "in:2:20: error: invalid UTF-8 byte 0xff"},
      {"overlong UTF-8", "kiln 1\n# \xc0\xaf\n", "in:2:3: error: invalid UTF-8 byte 0xc0"},
      {"truncated UTF-8", "kiln 1\n# \xe2\x82", "in:2:3: error: invalid UTF-8 byte 0xe2"},
      {"NUL byte", std::string("kiln 1\n\0", 8), "in:2:1: error: unexpected character '\\x00'"},
      {"empty", "", "in:1:1: error: expected the header 'kiln 1', found end of input"},
      {"only a comment", "# nothing\n", "in:2:1: error: expected the header 'kiln 1', found end of input"},
      {"stray punctuation", "kiln 1\n}", "in:2:1: error: expected a node ('%N = op ...') or 'output', found '}'"},
      {"huge id", "kiln 1\n%99999999999999999999 = input {name=\"x\"} : f32[2]\n",
       "in:2:1: error: integer 99999999999999999999 is out of range"},
      {"negative dim", "kiln 1\n%0 = input {name=\"x\"} : f32[-2]\n", "in:2:25: error: dimension -2 in [-2] is negative"},
      {"non-number", "kiln 1\n%0 = constant {values=[1x]} : f32[]\n", "in:2:24: error: '1x' is not a representable number"},
      {"number overflow", "kiln 1\n%0 = constant {values=[1e999]} : f32[]\n",
       "in:2:24: error: '1e999' is not a representable number"},
      {"pad overflow", "kiln 1\n%0 = input {name=\"x\"} : f32[2]\n%1 = pad %0 {lo=[9223372036854775807], hi=[1], value=0} : f32[2]\n",
       "in:3:1: error: pad: padding must be between 0 and 2^48 (operands: f32[2])"},
      {"empty name", "kiln 1\n%0 = input {name=\"\"} : f32[2]\n", "in:2:1: error: input: the name must not be empty"},
      {"NaN scale", "kiln 1\n%0 = parameter {name=\"w\", init=normal, scale=nan} : f32[2]\n",
       "in:2:1: error: parameter: scale nan must be a finite number between 0 and 1e+06"},
      {"negative scale", "kiln 1\n%0 = state {name=\"v\", init=zeros, scale=-1} : f32[2]\n",
       "in:2:1: error: state: scale -1 must be a finite number between 0 and 1e+06"},
      {"huge scale", "kiln 1\n%0 = parameter {name=\"w\", init=uniform, scale=1e30} : f32[2]\n",
       "in:2:1: error: parameter: scale 1e+30 must be a finite number between 0 and 1e+06"},
  };
  for (const BadCase& c : cases) {
    INFO("case: ", c.name);
    CHECK(errorOf(c.text) == c.expected);
  }
}

namespace {
std::string repeated(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}
}  // namespace

TEST_CASE("malformed JSON graphs") {
  REQUIRE(errorOf(kGoodJson) == "(no error)");
  std::vector<BadCase> cases = {
      {"truncated", std::string(kGoodJson).substr(0, 60), "in: error: malformed JSON at byte 61:"},
      {"not an object", "[1, 2]", "in: error: $: expected an object"},
      {"wrong format", replaced(kGoodJson, "kiln-ir", "onnx"), "in: error: $.format: expected \"kiln-ir\""},
      {"wrong version", replaced(kGoodJson, "\"version\": 1", "\"version\": 9"),
       "in: error: $.version: unsupported format version 9; this kiln reads version 1"},
      {"unknown op", replaced(kGoodJson, "\"neg\"", "\"negate\""), "in: error: $.nodes[1].op: unknown op 'negate'"},
      {"wrong arity", replaced(kGoodJson, "\"inputs\": [0]", "\"inputs\": [0, 0]"),
       "in: error: $.nodes[1]: neg expects 1 operand(s), got 2"},
      {"forward id", replaced(kGoodJson, "\"inputs\": [0]", "\"inputs\": [5]"),
       "in: error: $.nodes[1]: neg: operand %5 is not defined above (operands must refer to earlier nodes)"},
      {"duplicate id", replaced(kGoodJson, "\"id\": 1", "\"id\": 0"), "in: error: $.nodes[1]: node %0 is defined twice"},
      {"mismatched shape", replaced(kGoodJson, "\"shape\": [2], \"inputs\": [0]", "\"shape\": [3], \"inputs\": [0]"),
       "in: error: $.nodes[1]: neg: written type f32[3] differs from the inferred type f32[2]"},
      {"string dim", replaced(kGoodJson, "\"shape\": [2], \"inputs\": []", "\"shape\": [\"2\"], \"inputs\": []"),
       "in: error: $.nodes[0].shape[0]: expected an integer"},
      {"overflowing dims", replaced(kGoodJson, "\"shape\": [2], \"inputs\": []", "\"shape\": [4294967296, 4294967296], \"inputs\": []"),
       "in: error: $.nodes[0].shape: f32[4294967296,4294967296] is too large: its byte size exceeds 2^48"},
      {"huge integer", replaced(kGoodJson, "\"id\": 0", "\"id\": 18446744073709551615"),
       "in: error: $.nodes[0].id: integer out of range"},
      {"unknown attribute", replaced(kGoodJson, "{\"name\": \"x\"}", "{\"name\": \"x\", \"size\": 3}"),
       "in: error: $.nodes[0].attrs: input has no attribute 'size'"},
      {"attribute type", replaced(kGoodJson, "{\"name\": \"x\"}", "{\"name\": 3}"),
       "in: error: $.nodes[0].attrs.name: expected a string"},
      {"missing key", replaced(kGoodJson, "\"dtype\": \"f32\", \"shape\": [2], \"inputs\": [0]", "\"shape\": [2], \"inputs\": [0]"),
       "in: error: $.nodes[1]: missing key \"dtype\""},
      {"bad output", replaced(kGoodJson, "\"node\": 1", "\"node\": 7"),
       "in: error: $.outputs[0]: output \"y\": node %7 is not defined"},
      {"bad UTF-8", replaced(kGoodJson, "\"g\"", "\"\xff\""), "in: error: malformed JSON at byte"},
      {"number too large", replaced(kGoodJson, "\"id\": 0", "\"id\": 1e400"),
       "in: error: malformed JSON: number overflow parsing '1e400'"},
      // 200,000 nested objects and a million nested arrays under an attribute once overflowed the stack.
      {"deep objects", replaced(kGoodJson, "{\"name\": \"x\"}", "{\"name\": " + repeated("{\"a\": ", 200000) + "1" + repeated("}", 200000) + "}"),
       "in: error: malformed JSON: nested deeper than 32 levels"},
      {"deep arrays", replaced(kGoodJson, "\"inputs\": []", "\"inputs\": " + repeated("[", 1000000) + repeated("]", 1000000)),
       "in: error: malformed JSON: nested deeper than 32 levels"},
  };
  for (const BadCase& c : cases) {
    INFO("case: ", c.name);
    std::string err = errorOf(c.text);
    INFO("error: ", err);
    CHECK(err.rfind(c.expected, 0) == 0);
  }
}

TEST_CASE("malformed safetensors") {
  TensorFile good = {{"w", {"F32", {2}, std::vector<uint8_t>(8, 0)}}};
  std::vector<uint8_t> image = serializeSafetensors(good);
  REQUIRE(parseSafetensors(image, "f").at("w").shape == std::vector<int64_t>{2});
  auto withHeader = [](const std::string& header, size_t dataBytes) {
    std::vector<uint8_t> out(8);
    for (int i = 0; i < 8; ++i) out[size_t(i)] = uint8_t(uint64_t(header.size()) >> (8 * i));
    out.insert(out.end(), header.begin(), header.end());
    out.resize(out.size() + dataBytes, 0);
    return out;
  };
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string expected;
  };
  std::vector<uint8_t> truncated(image.begin(), image.end() - 3);
  std::vector<uint8_t> hugeLen = image;
  hugeLen[7] = 0x7f;
  std::vector<Case> cases = {
      {"empty", {}, "f: error: safetensors: file is truncated: 0 bytes, the header length alone needs 8"},
      {"header past end", hugeLen, "f: error: safetensors: header length"},
      {"truncated data", truncated, "f: error: safetensors: tensor \"w\": data_offsets [0, 8] lie outside the 5 bytes of data"},
      {"not JSON", withHeader("{nope", 0), "f: error: safetensors: header is not valid JSON"},
      {"not an object", withHeader("[1]", 0), "f: error: safetensors: header must be a JSON object"},
      {"unknown dtype", withHeader(R"({"w":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}})", 4),
       "f: error: safetensors: tensor \"w\": unknown dtype \"F17\""},
      {"wrong size", withHeader(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "f: error: safetensors: tensor \"w\": holds 8 bytes but F32 [3] needs 12"},
      {"negative dim", withHeader(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0),
       "f: error: safetensors: a dimension of \"w\" must be a non-negative integer"},
      {"overflowing shape", withHeader(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
       "f: error: safetensors: tensor \"w\": shape is too large"},
      {"offsets reversed", withHeader(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4),
       "f: error: safetensors: tensor \"w\": data_offsets [4, 0] lie outside"},
      {"overlap", withHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", 8),
       "f: error: safetensors: two tensors' data_offsets overlap"},
      {"missing keys", withHeader(R"({"w":{"dtype":"F32"}})", 0),
       "f: error: safetensors: tensor \"w\": expected an object with dtype, shape and data_offsets"},
      {"duplicate name", withHeader(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
       "f: error: safetensors: tensor \"w\" appears twice in the header"},
      {"number too large", withHeader(R"({"w":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}})", 4),
       "f: error: safetensors: header is not valid JSON: "},
      {"deep header", withHeader(R"({"__metadata__":)" + std::string(100000, '[') + std::string(100000, ']') + "}", 0),
       "f: error: safetensors: header nests deeper than 16 levels"},
  };
  for (const Case& c : cases) {
    INFO("case: ", c.name);
    std::string err = "(no error)";
    try {
      parseSafetensors(c.bytes, "f");
    } catch (const Error& e) {
      err = e.what();
    }
    INFO("error: ", err);
    CHECK(err.rfind(c.expected, 0) == 0);
  }
}

}  // namespace kiln

namespace kiln {

namespace {

/// Applies `count` random byte edits (replace, insert, delete, duplicate a span) to `s`.
std::string mutate(std::string s, Rng& rng, int count) {
  const std::string alphabet = "%0123456789-[]{},:=\"\\ \nabcdefxyz.#\xff";
  for (int i = 0; i < count && !s.empty(); ++i) {
    size_t at = size_t(rng.next() % s.size());
    switch (rng.next() % 4) {
      case 0: s[at] = alphabet[rng.next() % alphabet.size()]; break;
      case 1: s.insert(s.begin() + ptrdiff_t(at), alphabet[rng.next() % alphabet.size()]); break;
      case 2: s.erase(at, 1 + rng.next() % 3); break;
      default: s.insert(at, s.substr(at, 1 + rng.next() % 8)); break;
    }
  }
  return s;
}

int64_t totalElements(const Graph& g) {
  int64_t n = 0;
  for (const Node& node : g.nodes()) n += node.type.numel();
  return n;
}

}  // namespace

TEST_CASE("mutated .kir, JSON and safetensors never crash: each parses or gives an Error") {
  std::string kirText =
      "kiln 1\n%0 = input {name=\"x\"} : f32[2,3]\n%1 = input {name=\"i\"} : i32[2]\n"
      "%2 = parameter {name=\"w\", init=he_uniform, scale=1} : f32[4,3]\n%3 = matmul %0, %2 {transpose_b} : f32[2,4]\n"
      "%4 = reduce_max %3 {axes=[1], keepdims} : f32[2,1]\n%5 = broadcast %4 : f32[2,4]\n%6 = sub %3, %5 : f32[2,4]\n"
      "%7 = gather %3, %1 : f32[2,4]\n%8 = cast %6 : i32[2,4]\n%9 = pad %6 {lo=[0,1], hi=[1,0], value=0} : f32[3,5]\n"
      "output \"y\" = %9\noutput \"g\" = %7\noutput \"c\" = %8\n";
  std::string json = graphToJson(parseKir(kirText));
  std::vector<uint8_t> st = serializeSafetensors({{"a", {"F32", {2}, std::vector<uint8_t>(8, 1)}},
                                                  {"b", {"I64", {1}, std::vector<uint8_t>(8, 2)}}});
  Rng rng(2024);
  int parsed = 0, rejected = 0, evaluated = 0;
  for (int iter = 0; iter < 6000; ++iter) {
    int edits = rng.next() % 4 == 0 ? 2 + int(rng.next() % 3) : 1;
    std::string text = iter % 3 == 0 ? mutate(json, rng, edits) : mutate(kirText, rng, edits);
    try {
      Graph g = parseGraph(text, "fuzz");
      parsed++;
      CHECK(verify(g).empty());
      std::string printed = printGraph(g);
      CHECK(printGraph(parseKir(printed, "again")) == printed);
      if (totalElements(g) < 100000) {
        try {
          TensorMap feeds = initParameters(g, 1);
          for (auto& [k, v] : randomInputs(g, 1)) feeds[k] = v;
          evaluate(g, feeds);
          evaluated++;
        } catch (const Error&) {
          // a run-time error (an index out of range, a NaN cast) is a fine outcome
        }
      }
    } catch (const Error&) {
      rejected++;
    }
  }
  for (int iter = 0; iter < 1000; ++iter) {
    std::string bytes(st.begin(), st.end());
    bytes = mutate(bytes, rng, 1 + int(rng.next() % 3));
    try {
      parseSafetensors(std::vector<uint8_t>(bytes.begin(), bytes.end()), "fuzz");
    } catch (const Error&) {
    }
  }
  // Both outcomes occur, so the mutations exercise the readers rather than always failing early.
  MESSAGE("parsed ", parsed, ", rejected ", rejected, ", evaluated ", evaluated);
  CHECK(parsed > 200);
  CHECK(rejected > 3000);
  CHECK(evaluated > 100);
}

}  // namespace kiln
