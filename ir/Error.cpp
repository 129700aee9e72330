// Formatting of kiln::Error and the invariant failure path.
#include "ir/Error.h"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace kiln {

Location Location::of(const std::source_location& site) {
  return {site.file_name(), int(site.line()), int(site.column())};
}

std::string Location::str() const {
  if (file.empty() && line == 0) return "";
  if (line == 0) return file;
  if (col == 0) return fmt::format("{}:{}", file, line);
  return fmt::format("{}:{}:{}", file, line, col);
}

static std::string render(const Location& where, const std::string& message) {
  std::string place = where.str();
  return place.empty() ? "error: " + message : place + ": error: " + message;
}

Error::Error(Location where, const std::string& message)
    : std::runtime_error(render(where, message)), where_(std::move(where)), message_(message) {}

void assertFailed(const char* condition, const std::string& detail, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: internal error: assertion `%s` failed: %s\n", file, line, condition,
               detail.c_str());
  std::abort();
}

}  // namespace kiln
