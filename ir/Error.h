// kiln::Error, the one exception type for user mistakes, and KILN_ASSERT for internal invariants.
// A user mistake (bad DSL shapes, malformed .kir or JSON, bad flags, missing files) throws Error with the
// place it points at; the CLI prints what() and exits 1. An internal invariant that fails aborts.
#pragma once

#include <source_location>
#include <stdexcept>
#include <string>

namespace kiln {

/// Where a diagnostic points: a file, a 1-based line and column. line == 0 means "the whole file".
struct Location {
  std::string file;  ///< as given: a path, or empty when unknown
  int line = 0;      ///< 1-based; 0: the whole file
  int col = 0;       ///< 1-based; 0: the whole line

  /// The call site of a DSL function, as captured by a default std::source_location argument.
  static Location of(const std::source_location& site);
  /// "file:line:col", "file:line" (no column), "file" (no line) or "" when nothing is known.
  std::string str() const;
};

/// A user mistake. what() reads "file:line:col: error: message" (or "error: message" without a place).
class Error : public std::runtime_error {
 public:
  /// A mistake at `where` (Location{} for none).
  Error(Location where, const std::string& message);
  /// An error with no place yet; callers that know one rethrow it with withLocation().
  explicit Error(const std::string& message) : Error(Location{}, message) {}

  /// Where it points (empty when nowhere).
  const Location& location() const { return where_; }
  /// The message without the place and the "error: " prefix.
  const std::string& message() const { return message_; }
  /// The same message at another place (used when an inner error learns where it happened).
  Error withLocation(Location where) const { return Error(std::move(where), message_); }

 private:
  Location where_;
  std::string message_;
};

/// Prints the failed invariant and aborts. Only for bugs in kiln, never for user input.
[[noreturn]] void assertFailed(const char* condition, const std::string& detail, const char* file, int line);

}  // namespace kiln

/// Always-on invariant check: KILN_ASSERT(i < n, "node %3 has ...").
#define KILN_ASSERT(cond, detail) \
  do {                            \
    if (!(cond)) ::kiln::assertFailed(#cond, (detail), __FILE__, __LINE__); \
  } while (0)
