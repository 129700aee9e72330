// Command-line parsing for the kiln verbs.
#include "tools/Args.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "ir/Error.h"

namespace kiln {

Args::Args(const std::string& verb, const std::vector<std::string>& args, const FlagSpec& spec) : verb_(verb) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a.rfind("--", 0) != 0) {
      if (a.size() > 1 && a[0] == '-')
        throw Error(fmt::format("kiln {}: unknown option '{}'; see kiln {} --help", verb, a, verb));
      positionals_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), val;
    size_t eq = name.find('=');
    bool inlineValue = eq != std::string::npos;
    if (inlineValue) val = name.substr(eq + 1), name = name.substr(0, eq);
    if (spec.switches.count(name)) {
      if (inlineValue) throw Error(fmt::format("kiln {}: --{} takes no value", verb, name));
      switches_.insert(name);
    } else if (spec.withValue.count(name)) {
      if (!inlineValue) {
        if (i + 1 >= args.size()) throw Error(fmt::format("kiln {}: --{} needs a value", verb, name));
        val = args[++i];
      }
      if (values_.count(name)) throw Error(fmt::format("kiln {}: --{} is given twice", verb, name));
      values_[name] = val;
    } else {
      throw Error(fmt::format("kiln {}: unknown flag --{}; see kiln {} --help", verb, name, verb));
    }
  }
}

std::optional<std::string> Args::value(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

int64_t Args::integer(const std::string& flag, int64_t fallback, int64_t min, int64_t max) const {
  auto v = value(flag);
  if (!v) return fallback;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size() || out < min || out > max)
    throw Error(fmt::format("kiln {}: --{} expects an integer in [{}, {}], got '{}'", verb_, flag, min, max, *v));
  return out;
}

double Args::real(const std::string& flag, double fallback, double min, double max) const {
  auto v = value(flag);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  double out = v->empty() ? 0 : std::strtod(v->c_str(), &end);
  if (v->empty() || errno != 0 || end != v->c_str() + v->size() || !std::isfinite(out) || out < min || out > max)
    throw Error(fmt::format("kiln {}: --{} expects a number in [{}, {}], got '{}'", verb_, flag, min, max, *v));
  return out;
}

void Args::expectPositionals(size_t n, const std::string& what) const {
  if (positionals_.size() != n)
    throw Error(fmt::format("kiln {}: expected {}, got {} argument(s); see kiln {} --help", verb_, what,
                            positionals_.size(), verb_));
}

}  // namespace kiln
