// The verbs of the kiln command line. Each takes its arguments (after the verb), writes results to
// stdout and returns the exit status; user mistakes throw kiln::Error, which main() prints.
#pragma once

#include <string>
#include <vector>

namespace kiln {

/// A verb: its name, one-line summary, --help text and entry point.
struct Command {
  std::string name;
  std::string summary;
  std::string help;
  int (*run)(const std::vector<std::string>& args);
};

/// Every verb, in the order `kiln --help` lists them.
const std::vector<Command>& allCommands();

}  // namespace kiln
