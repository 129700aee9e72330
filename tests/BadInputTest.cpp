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

TEST_CASE("ill-typed ops: every refusal of the type rules is an error naming the op and the line") {
  const std::string pre = "kiln 1\n%0 = input {name=\"f\"} : f32[2,3]\n%1 = input {name=\"i\"} : i32[2,3]\n%2 = input {name=\"b\"} : bool[2,3]\n%3 = input {name=\"x\"} : f32[1,2,4,4]\n%4 = input {name=\"w\"} : f32[3,2,3,3]\n%5 = input {name=\"v\"} : f32[3]\n%6 = input {name=\"idx\"} : i32[4]\n";
  std::vector<BadCase> cases = {
      {"add-dtype", "%7 = add %0, %1 : f32[2,3]\n", "add: operands 0 and 1 must have one type (operands: f32[2,3], i32[2,3])"},
      {"select-cond", "%7 = select %0, %0, %0 : f32[2,3]\n", "select: condition must be bool (operands: f32[2,3], f32[2,3], f32[2,3])"},
      {"select-shape", "%7 = select %2, %5, %5 : f32[3]\n", "select: condition and values must have one shape (operands: bool[2,3], f32[3], f32[3])"},
      {"param-int", "%7 = parameter {name=\"p\", init=zeros, scale=0} : i32[2]\n", "parameter: parameters must be f32 or f64"},
      {"state-bool", "%7 = state {name=\"s\", init=zeros, scale=0} : bool[2]\n", "state: state cannot be bool"},
      {"state-int-init", "%7 = state {name=\"s\", init=normal, scale=1} : i32[2]\n", "state: integer state must be initialised with zeros or ones"},
      {"iota-bool", "%7 = iota {axis=0} : bool[2]\n", "iota: iota cannot be bool"},
      {"iota-axis", "%7 = iota {axis=3} : i32[2]\n", "iota: axis 3 is out of range for rank 1"},
      {"slice-rank", "%7 = slice %0 {start=[0], stop=[1]} : f32[1]\n", "slice: start and stop need one value per axis (operands: f32[2,3])"},
      {"slice-range", "%7 = slice %0 {start=[0,2], stop=[2,1]} : f32[2,0]\n", "slice: axis 1: need 0 <= start <= stop <= 3, got [2, 1) (operands: f32[2,3])"},
      {"concat-dtype", "%7 = concat %0, %1 {axis=0} : f32[4,3]\n", "concat: operands must have one dtype and rank (operands: f32[2,3], i32[2,3])"},
      {"concat-dim", "%7 = concat %0, %5 {axis=0} : f32[5,3]\n", "concat: operands must have one dtype and rank (operands: f32[2,3], f32[3])"},
      {"concat-other-dim", "%7 = input {name=\"g\"} : f32[2,4]\n%8 = concat %0, %7 {axis=0} : f32[4,3]\n", "concat: operands differ in dim 1, which is not the concat axis (operands: f32[2,3], f32[2,4])"},
      {"pad-negative", "%7 = pad %0 {lo=[-1,0], hi=[0,0], value=0} : f32[1,3]\n", "pad: padding must be between 0 and 2^48 (operands: f32[2,3])"},
      {"reshape-count", "%7 = reshape %0 : f32[7]\n", "reshape: cannot reshape to f32[7]: element counts differ (operands: f32[2,3])"},
      {"reduce-twice", "%7 = reduce_sum %0 {axes=[1,1]} : f32[2]\n", "reduce_sum: axis 1 is listed twice (operands: f32[2,3])"},
      {"groups-axis", "%7 = reduce_sum %0 {axes=[1], groups=2} : f32[2,2]\n", "reduce_sum: groups=2 needs axis 0 reduced and 1 <= groups <= its extent (operands: f32[2,3])"},
      {"groups-many", "%7 = reduce_sum %0 {axes=[0], groups=3} : f32[3,3]\n", "reduce_sum: groups=3 needs axis 0 reduced and 1 <= groups <= its extent (operands: f32[2,3])"},
      {"groups-zero", "%7 = reduce_max %0 {axes=[0,1], groups=0} : f32[0]\n", "reduce_max: groups=0 needs axis 0 reduced"},
      {"groups-conv", "%7 = conv2d %3, %4 {stride=[1,1], padding=[0,0], groups=2} : f32[1,3,2,2]\n", "conv2d: only conv2d_grad_weight takes groups"},
      {"groups-convgrad", "%7 = input {name=\"gy\"} : f32[1,3,2,2]\n%8 = conv2d_grad_weight %3, %7 {stride=[1,1], padding=[0,0], groups=2} : f32[2,3,2,3,3]\n", "conv2d_grad_weight: groups=2 needs conv2d_grad_weight declared [groups,O,C,KH,KW] and 1 <= groups <= the batch"},
      {"matmul-batch", "%7 = input {name=\"a\"} : f32[2,2,3]\n%8 = input {name=\"c\"} : f32[3,3,2]\n%9 = matmul %7, %8 : f32[2,2,2]\n", "matmul: batch dimensions differ (operands: f32[2,2,3], f32[3,3,2])"},
      {"conv-rank", "%7 = conv2d %0, %4 {stride=[1,1], padding=[0,0]} : f32[1,3,2,2]\n", "conv2d: expects x as NCHW and w as OIHW (rank 4) (operands: f32[2,3], f32[3,2,3,3])"},
      {"conv-stride", "%7 = conv2d %3, %4 {stride=[0,1], padding=[0,0]} : f32[1,3,2,2]\n", "conv2d: stride values must be >= 1 (operands: f32[1,2,4,4], f32[3,2,3,3])"},
      {"conv-pair", "%7 = conv2d %3, %4 {stride=[1], padding=[0,0]} : f32[1,3,2,2]\n", "conv2d: stride must have 2 values (h, w) (operands: f32[1,2,4,4], f32[3,2,3,3])"},
      {"pool-rank", "%7 = max_pool2d %0 {kernel=[2,2], stride=[2,2], padding=[0,0]} : f32[1,1]\n", "max_pool2d: operand 0 must have rank >= 4 (operands: f32[2,3])"},
      {"pool-padding", "%7 = max_pool2d %3 {kernel=[2,2], stride=[2,2], padding=[2,0]} : f32[1,2,4,2]\n", "max_pool2d: padding must be smaller than the kernel (operands: f32[1,2,4,4])"},
      {"pool-int", "%7 = input {name=\"xi\"} : i32[1,2,4,4]\n%8 = max_pool2d %7 {kernel=[2,2], stride=[2,2], padding=[0,0]} : i32[1,2,2,2]\n", "max_pool2d: operand 0 must be f32 or f64 (operands: i32[1,2,4,4])"},
      {"convgrad-type", "%7 = conv2d_grad_input %0, %4 {stride=[1,1], padding=[0,0]} : f32[1,2,4,4]\n", "conv2d_grad_input: the gradient must have the conv2d output type f32[1,3,2,2] (operands: f32[2,3], f32[3,2,3,3])"},
      {"poolgrad-type", "%7 = max_pool2d_grad %3, %0 {kernel=[2,2], stride=[2,2], padding=[0,0]} : f32[1,2,4,4]\n", "max_pool2d_grad: the gradient must have the pooling output type f32[1,2,2,2] (operands: f32[1,2,4,4], f32[2,3])"},
      {"gather-index", "%7 = gather %0, %5 : f32[3,3]\n", "gather: indices must be i32 (operands: f32[2,3], f32[3])"},
      {"scatter-dtype", "%7 = scatter_add %6, %0 : f32[5,3]\n", "scatter_add: source must have shape [4,3] (indices' shape, then the row shape of f32[5,3]) (operands: i32[4], f32[2,3])"},
      {"scatter-rows", "%7 = scatter_add %6, %0 : i32[5,3]\n", "scatter_add: declared type must be [rows, ...] of the source dtype (operands: i32[4], f32[2,3])"},
      {"arity", "%7 = neg %0, %0 : f32[2,3]\n", "neg expects 1 operand(s), got 2"},
      {"cast-shape", "%7 = cast %0 : i32[3]\n", "cast: cannot change the shape (declared i32[3]) (operands: f32[2,3])"},
      {"permute-bad", "%7 = permute %0 {perm=[0,0]} : f32[2,2]\n", "permute: perm [0,0] is not a permutation of the operand's axes (operands: f32[2,3])"},
  };
  for (const BadCase& c : cases) {
    INFO("case: ", c.name);
    std::string err = errorOf(pre + c.text);
    INFO("error: ", err);
    CHECK(err.rfind("in:", 0) == 0);
    CHECK(err.find("error: " + c.expected) != std::string::npos);
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
      {"dtype not a string", withHeader(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4),
       "f: error: safetensors: tensor \"w\": dtype must be a string"},
      {"shape not an array", withHeader(R"({"w":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})", 4),
       "f: error: safetensors: tensor \"w\": shape must be an array of at most 8 dimensions"},
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
