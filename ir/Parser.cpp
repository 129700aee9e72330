// The .kir lexer and parser.
#include "ir/Parser.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "ir/Assembler.h"
#include "ir/Json.h"
#include "ir/Printer.h"

namespace kiln {

std::string checkUtf8(std::string_view text, int& line, int& col) {
  line = 1, col = 1;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len != 0 && i + len <= text.size() && !(len == 2 && c < 0xc2);
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(text[i + k]) >> 6) == 2;
    if (!ok) return fmt::format("invalid UTF-8 byte 0x{:02x}", c);
    if (c == '\n') line++, col = 1;
    else col++;
    i += len;
  }
  return "";
}

namespace {

enum class Tok { Ident, Number, String, NodeRef, Punct, End };

struct Token {
  Tok kind = Tok::End;
  std::string text;
  int line = 1, col = 1;
};

class Lexer {
 public:
  Lexer(std::string_view src, std::string file) : src_(src), file_(std::move(file)) {}

  Token next() {
    skipSpaceAndComments();
    Token t;
    t.line = line_, t.col = col_;
    if (pos_ >= src_.size()) return t;
    char c = src_[pos_];
    auto isIdent = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.'; };
    if (c == '%') {
      advance();
      t.kind = Tok::NodeRef;
      while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) t.text += advance();
      if (t.text.empty()) throw err(t, "expected digits after '%'");
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      t.kind = Tok::Ident;
      while (pos_ < src_.size() && isIdent(src_[pos_])) t.text += advance();
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
      t.kind = Tok::Number;
      t.text += advance();
      while (pos_ < src_.size() && (isIdent(src_[pos_]) ||
                                    ((src_[pos_] == '-' || src_[pos_] == '+') && (t.text.back() == 'e' || t.text.back() == 'E'))))
        t.text += advance();
    } else if (c == '"') {
      t.kind = Tok::String;
      advance();
      for (;;) {
        if (pos_ >= src_.size() || src_[pos_] == '\n') throw err(t, "unterminated string");
        char ch = advance();
        if (ch == '"') break;
        if (ch != '\\') { t.text += ch; continue; }
        if (pos_ >= src_.size()) throw err(t, "unterminated string");
        char e = advance();
        if (e == 'n') t.text += '\n';
        else if (e == 't') t.text += '\t';
        else if (e == '"' || e == '\\') t.text += e;
        else if (e == 'x' && pos_ + 2 <= src_.size() && std::isxdigit(static_cast<unsigned char>(src_[pos_])) &&
                 std::isxdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
          t.text += char(std::stoi(std::string(src_.substr(pos_, 2)), nullptr, 16));
          advance(), advance();
        } else throw err(t, fmt::format("unknown escape '\\{}' in string", e));
      }
    } else if (c != 0 && std::strchr("=,:[]{}", c)) {
      t.kind = Tok::Punct;
      t.text = advance();
    } else {
      throw err(t, fmt::format("unexpected character '{}'", std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : fmt::format("\\x{:02x}", static_cast<unsigned char>(c))));
    }
    return t;
  }

  Error err(const Token& t, const std::string& msg) const { return Error(Location{file_, t.line, t.col}, msg); }
  const std::string& file() const { return file_; }

 private:
  char advance() {
    char c = src_[pos_++];
    if (c == '\n') line_++, col_ = 1;
    else col_++;
    return c;
  }
  void skipSpaceAndComments() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n') advance();
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance();
      } else {
        break;
      }
    }
  }

  std::string_view src_;
  std::string file_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

/// An attribute value as written, before it meets the field it fills.
struct AttrVal {
  Token tok;                  ///< the value's first token (kind Punct "[" for lists, End for flags)
  std::vector<Token> items;   ///< list elements
};

class Parser {
 public:
  Parser(std::string_view text, const std::string& file) : lex_(text, file) { tok_ = lex_.next(); }

  Graph parse() {
    Token kw = expect(Tok::Ident, "the header 'kiln 1'");
    if (kw.text != "kiln") throw lex_.err(kw, "expected the header 'kiln 1'");
    Token ver = expect(Tok::Number, "a format version after 'kiln'");
    if (ver.text != std::to_string(kIrVersion))
      throw lex_.err(ver, fmt::format("unsupported format version {}; this kiln reads version {}", ver.text, kIrVersion));
    Assembler as("main");
    if (tok_.kind == Tok::Ident && tok_.text == "graph") {
      take();
      as.setName(expect(Tok::String, "a quoted graph name").text);
    }
    while (tok_.kind != Tok::End) {
      if (tok_.kind == Tok::NodeRef) {
        as.addNode(parseNode());
      } else if (tok_.kind == Tok::Ident && tok_.text == "output") {
        Token at = take();
        std::string name = expect(Tok::String, "a quoted output name").text;
        expectPunct("=");
        Token ref = expect(Tok::NodeRef, "a node reference like %3");
        std::optional<int64_t> aliases;
        if (tok_.kind == Tok::Ident && tok_.text == "aliases") {
          take();
          aliases = refId(expect(Tok::NodeRef, "a node reference after 'aliases'"));
        }
        as.addOutput(name, refId(ref), aliases, loc(at));
      } else {
        throw lex_.err(tok_, fmt::format("expected a node ('%N = op ...') or 'output', found '{}'", tok_.text));
      }
    }
    return as.finish();
  }

 private:
  Token take() {
    Token t = tok_;
    tok_ = lex_.next();
    return t;
  }
  Token expect(Tok kind, const char* what) {
    if (tok_.kind != kind)
      throw lex_.err(tok_, fmt::format("expected {}, found {}", what, tok_.kind == Tok::End ? "end of input" : "'" + tok_.text + "'"));
    return take();
  }
  void expectPunct(const char* p) {
    if (tok_.kind != Tok::Punct || tok_.text != p)
      throw lex_.err(tok_, fmt::format("expected '{}', found {}", p, tok_.kind == Tok::End ? "end of input" : "'" + tok_.text + "'"));
    take();
  }
  bool atPunct(const char* p) const { return tok_.kind == Tok::Punct && tok_.text == p; }
  Location loc(const Token& t) const { return Location{lex_.file(), t.line, t.col}; }

  int64_t toInt(const Token& t) {
    int64_t v = 0;
    const char* b = t.text.data();
    const char* e = b + t.text.size();
    if (*b == '+') ++b;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec == std::errc::result_out_of_range) throw lex_.err(t, fmt::format("integer {} is out of range", t.text));
    if (ec != std::errc() || p != e) throw lex_.err(t, fmt::format("expected an integer, found '{}'", t.text));
    return v;
  }
  double toDouble(const Token& t) {
    if (t.kind == Tok::Ident && t.text == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (t.kind == Tok::Ident && t.text == "inf") return std::numeric_limits<double>::infinity();
    if (t.kind == Tok::Number && t.text == "-inf") return -std::numeric_limits<double>::infinity();
    if (t.kind != Tok::Number) throw lex_.err(t, fmt::format("expected a number, found '{}'", t.text));
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(t.text.c_str(), &end);
    if (end != t.text.c_str() + t.text.size() || errno == ERANGE)
      throw lex_.err(t, fmt::format("'{}' is not a representable number", t.text));
    return v;
  }
  int64_t refId(const Token& t) { return toInt(Token{Tok::Number, t.text, t.line, t.col}); }

  Type parseType() {
    Token dt = expect(Tok::Ident, "a type like f32[2,3]");
    auto d = parseDType(dt.text);
    if (!d) throw lex_.err(dt, fmt::format("unknown dtype '{}'; expected f32, f64, i32 or bool", dt.text));
    Type t{*d, {}};
    expectPunct("[");
    while (!atPunct("]")) {
      if (!t.shape.empty() && !atPunct(","))
        throw lex_.err(tok_, fmt::format("expected ',' or ']' in the shape, found {}", tok_.kind == Tok::End ? "end of input" : "'" + tok_.text + "'"));
      if (!t.shape.empty()) take();
      Token n = expect(Tok::Number, "a dimension");
      t.shape.push_back(toInt(n));
      if (t.shape.size() > size_t(kMaxRank)) throw lex_.err(n, fmt::format("rank exceeds the maximum rank {}", kMaxRank));
    }
    expectPunct("]");
    std::string bad = checkType(t);
    if (!bad.empty()) throw lex_.err(dt, bad);
    return t;
  }

  std::map<std::string, AttrVal> parseAttrValues() {
    std::map<std::string, AttrVal> vals;
    expectPunct("{");
    while (!atPunct("}")) {
      if (!vals.empty()) expectPunct(",");
      Token key = expect(Tok::Ident, "an attribute name");
      if (vals.count(key.text)) throw lex_.err(key, fmt::format("attribute '{}' is given twice", key.text));
      AttrVal v;
      v.tok = key;
      v.tok.kind = Tok::End;  // a bare key is a flag
      if (atPunct("=")) {
        take();
        if (atPunct("[")) {
          v.tok = take();
          while (!atPunct("]")) {
            if (!v.items.empty()) expectPunct(",");
            if (tok_.kind != Tok::Number && tok_.kind != Tok::Ident) throw lex_.err(tok_, "expected a number in the list");
            v.items.push_back(take());
          }
          expectPunct("]");
        } else if (tok_.kind == Tok::Number || tok_.kind == Tok::Ident || tok_.kind == Tok::String) {
          v.tok = take();
        } else {
          throw lex_.err(tok_, fmt::format("expected a value for attribute '{}'", key.text));
        }
      }
      vals[key.text] = std::move(v);
    }
    expectPunct("}");
    return vals;
  }

  /// Fills one attribute struct field from its written value.
  struct FieldReader {
    Parser& p;
    std::map<std::string, AttrVal>& vals;
    const Token& opTok;
    const AttrVal* find(const char* key, bool required) {
      auto it = vals.find(key);
      if (it == vals.end()) {
        if (required) throw p.lex_.err(opTok, fmt::format("{}: missing attribute '{}'", opTok.text, key));
        return nullptr;
      }
      return &it->second;
    }
    const Token& scalarTok(const AttrVal& v, const char* key) {
      if (v.tok.kind == Tok::End || (v.tok.kind == Tok::Punct))
        throw p.lex_.err(v.tok, fmt::format("attribute '{}' needs a single value", key));
      return v.tok;
    }
    void operator()(const char* key, int64_t& out) {
      const AttrVal* v = find(key, true);
      const Token& t = scalarTok(*v, key);
      if (t.kind != Tok::Number) throw p.lex_.err(t, fmt::format("attribute '{}' expects an integer", key));
      out = p.toInt(t);
      vals.erase(key);
    }
    void operator()(const char* key, bool& out) {
      const AttrVal* v = find(key, false);
      if (!v) return (void)(out = false);
      bool isBoolWord = v->tok.kind == Tok::Ident && (v->tok.text == "true" || v->tok.text == "false");
      if (v->tok.kind != Tok::End && !isBoolWord)
        throw p.lex_.err(v->tok, fmt::format("attribute '{}' is a flag: write '{}' alone, or ={{true|false}}", key, key));
      out = v->tok.kind == Tok::End || v->tok.text == "true";
      vals.erase(key);
    }
    void operator()(const char* key, Count& out) {
      const AttrVal* v = find(key, false);
      if (!v) return (void)(out = Count{});
      const Token& t = scalarTok(*v, key);
      if (t.kind != Tok::Number) throw p.lex_.err(t, fmt::format("attribute '{}' expects an integer", key));
      out = Count{p.toInt(t)};
      vals.erase(key);
    }
    void operator()(const char* key, double& out) {
      out = p.toDouble(scalarTok(*find(key, true), key));
      vals.erase(key);
    }
    void operator()(const char* key, std::string& out) {
      const Token& t = scalarTok(*find(key, true), key);
      if (t.kind != Tok::String) throw p.lex_.err(t, fmt::format("attribute '{}' expects a quoted string", key));
      out = t.text;
      vals.erase(key);
    }
    void operator()(const char* key, Init& out) {
      const Token& t = scalarTok(*find(key, true), key);
      auto i = parseInit(t.text);
      if (t.kind != Tok::Ident || !i) throw p.lex_.err(t, fmt::format("unknown initialiser '{}'", t.text));
      out = *i;
      vals.erase(key);
    }
    template <class T>
    void readList(const char* key, std::vector<T>& out) {
      const AttrVal* v = find(key, true);
      if (v->tok.kind != Tok::Punct) throw p.lex_.err(v->tok, fmt::format("attribute '{}' expects a list [..]", key));
      out.clear();
      for (const Token& t : v->items) {
        if constexpr (std::is_same_v<T, int64_t>) out.push_back(p.toInt(t));
        else out.push_back(p.toDouble(t));
      }
      vals.erase(key);
    }
    void operator()(const char* key, std::vector<int64_t>& out) { readList(key, out); }
    void operator()(const char* key, std::vector<double>& out) { readList(key, out); }
  };

  NodeDraft parseNode() {
    Token ref = take();
    NodeDraft d;
    d.id = refId(ref);
    d.where = loc(ref);
    expectPunct("=");
    Token opTok = expect(Tok::Ident, "an op name");
    auto op = parseOp(opTok.text);
    if (!op) throw lex_.err(opTok, fmt::format("unknown op '{}'", opTok.text));
    d.op = *op;
    while (tok_.kind == Tok::NodeRef) {
      d.operands.push_back(refId(take()));
      if (!atPunct(",")) break;
      take();
      if (tok_.kind != Tok::NodeRef) throw lex_.err(tok_, "expected an operand after ','");
    }
    int arity = opInfo(d.op).arity;
    if (arity >= 0 && int(d.operands.size()) != arity)
      throw lex_.err(opTok, fmt::format("{} expects {} operand(s), got {}", opTok.text, arity, d.operands.size()));
    d.attrs = defaultAttrs(d.op);
    std::map<std::string, AttrVal> vals;
    if (atPunct("{")) vals = parseAttrValues();
    std::visit([&](auto& a) { a.fields(FieldReader{*this, vals, opTok}); }, d.attrs);
    if (!vals.empty())
      throw lex_.err(vals.begin()->second.tok, fmt::format("{} has no attribute '{}'", opTok.text, vals.begin()->first));
    expectPunct(":");
    d.written = parseType();
    if (tok_.kind == Tok::Ident && tok_.text == "from") {
      take();
      d.origin = refId(expect(Tok::NodeRef, "a node reference after 'from'"));
    }
    return d;
  }

  Lexer lex_;
  Token tok_;
};

}  // namespace

Graph parseKir(std::string_view text, const std::string& file) {
  int line, col;
  std::string bad = checkUtf8(text, line, col);
  if (!bad.empty()) throw Error(Location{file, line, col}, bad);
  return Parser(text, file).parse();
}

Graph parseGraph(std::string_view text, const std::string& file) {
  size_t i = text.find_first_not_of(" \t\r\n");
  if (i != std::string_view::npos && (text[i] == '{' || text[i] == '[')) return graphFromJson(text, file);
  return parseKir(text, file);
}

std::string readFile(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Location{path, 0, 0}, fmt::format("cannot open file: {}", std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(Location{path, 0, 0}, "cannot read file");
  return ss.str();
}

}  // namespace kiln
