// The kiln command line: dispatches to a verb and turns every failure into a message and exit status 1.
#include <iostream>
#include <new>

#include <fmt/format.h>

#include "ir/Error.h"
#include "tools/Commands.h"

namespace {

void printUsage(std::ostream& out) {
  out << "kiln: a static graph compiler and runtime for training on the CPU\n"
         "usage: kiln VERB [ARGS] (kiln VERB --help for each verb)\n\nverbs:\n";
  for (const kiln::Command& c : kiln::allCommands()) out << fmt::format("  {:<8} {}\n", c.name, c.summary);
}

int dispatch(int argc, char** argv) {
  if (argc < 2) {
    printUsage(std::cerr);
    return 1;
  }
  std::string verb = argv[1];
  if (verb == "--help" || verb == "-h" || verb == "help") {
    printUsage(std::cout);
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const kiln::Command& c : kiln::allCommands())
    if (c.name == verb) return c.run(args);
  throw kiln::Error(fmt::format("unknown verb '{}'; see kiln --help", verb));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const kiln::Error& e) {
    std::cout.flush();
    std::cerr << e.what() << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
  }
  return 1;
}
