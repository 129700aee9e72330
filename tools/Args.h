// A small command-line parser: positionals and --flags, each verb declaring what it accepts, so an unknown
// or malformed flag is an error naming the verb.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kiln {

/// The flags a verb accepts: those that take a value and those that do not.
struct FlagSpec {
  std::set<std::string> withValue;
  std::set<std::string> switches;
};

/// Parsed arguments of one verb.
class Args {
 public:
  /// Parses argv-style `args` for `verb`. Accepts --flag value, --flag=value and bare switches; "-" is a
  /// positional (standard input). Throws Error for unknown flags, missing values and repeated flags.
  Args(const std::string& verb, const std::vector<std::string>& args, const FlagSpec& spec);

  const std::vector<std::string>& positionals() const { return positionals_; }
  bool has(const std::string& flag) const { return values_.count(flag) || switches_.count(flag); }
  std::optional<std::string> value(const std::string& flag) const;
  /// The flag's value as an integer in [min, max], or `fallback` when absent; Error when malformed.
  int64_t integer(const std::string& flag, int64_t fallback, int64_t min, int64_t max) const;
  /// The flag's value as a finite number in [min, max], or `fallback` when absent; Error when malformed.
  double real(const std::string& flag, double fallback, double min, double max) const;
  /// Requires exactly `n` positionals named by `what` (for the message).
  void expectPositionals(size_t n, const std::string& what) const;

 private:
  std::string verb_;
  std::vector<std::string> positionals_;
  std::map<std::string, std::string> values_;
  std::set<std::string> switches_;
};

}  // namespace kiln
