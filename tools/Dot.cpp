// kiln dot: a graph or training program as Graphviz DOT, optionally with its kernels as clusters, and
// rendered to SVG through Graphviz's `dot` (run without a shell).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "ir/Dot.h"
#include "ir/Error.h"
#include "passes/Fuse.h"
#include "passes/ScheduleDot.h"
#include "passes/PassRegistry.h"
#include "runtime/Safetensors.h"
#include "tools/Args.h"
#include "tools/CliCommon.h"

extern char** environ;

namespace kiln {

const char* kDotHelp =
    "usage: kiln dot FILE|- [--schedule [--no-simplify]] [--svg OUT.svg]\n"
    "Prints a graph or training program (.kir text or JSON) as Graphviz DOT. Nodes show their id, op and\n"
    "type; inputs, parameters, state and constants have shapes of their own. Fill colours tell forward\n"
    "(blue), backward (orange: made by autodiff) and optimizer (green: made by the optimizer, from its\n"
    "step counter optimizer.step on) nodes apart; dashed grey edges point from a node made by a pass to\n"
    "the node it was made for. Outputs are boxes, with a dashed `aliases` edge to the leaf they replace.\n"
    "  --schedule       simplify and fuse the graph as `kiln fuse` does, and draw each kernel as a box\n"
    "                   around its nodes, labelled with its index and kind\n"
    "  --no-simplify    with --schedule: fuse the graph as loaded\n"
    "  --svg OUT.svg    render the DOT with Graphviz (`dot -Tsvg`, package graphviz) into OUT.svg instead\n"
    "                   of printing it; the file is replaced only when dot succeeds\n";

namespace {

/// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// An unlinked temporary file holding `text`, positioned at its start.
void writeTempInput(Fd& file, const std::string& text) {
  std::string path = (std::filesystem::temp_directory_path() / "kiln-dot-XXXXXX").string();
  file.fd = mkostemp(path.data(), O_CLOEXEC);
  if (file.fd < 0) throw Error(fmt::format("kiln dot --svg: cannot create a temporary file: {}", std::strerror(errno)));
  ::unlink(path.c_str());
  for (size_t done = 0; done < text.size();) {
    ssize_t n = ::write(file.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(fmt::format("kiln dot --svg: cannot write a temporary file: {}", std::strerror(errno)));
    done += size_t(n);
  }
  if (::lseek(file.fd, 0, SEEK_SET) != 0)
    throw Error(fmt::format("kiln dot --svg: cannot rewind a temporary file: {}", std::strerror(errno)));
}

/// Starts `dot -Tsvg` (found on PATH) reading `input` and writing to `output`; returns its process id.
pid_t spawnDot(int input, int output) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input, 0);
  posix_spawn_file_actions_adddup2(&actions, output, 1);
  char dot[] = "dot", format[] = "-Tsvg";
  char* argv[] = {dot, format, nullptr};
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "dot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == ENOENT)
    throw Error("kiln dot --svg: Graphviz's `dot` was not found on PATH; install the graphviz package "
                "(apt-get install graphviz)");
  if (rc != 0) throw Error(fmt::format("kiln dot --svg: cannot run `dot`: {}", std::strerror(rc)));
  return pid;
}

/// The SVG that Graphviz's `dot -Tsvg` makes of `dotText`. No shell is involved: the DOT goes in through
/// an unlinked temporary file, the SVG comes back through a pipe, dot's own messages go to stderr.
std::vector<uint8_t> renderSvg(const std::string& dotText) {
  Fd input, readEnd, writeEnd;
  writeTempInput(input, dotText);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(fmt::format("kiln dot --svg: cannot make a pipe: {}", std::strerror(errno)));
  readEnd.fd = fds[0];
  writeEnd.fd = fds[1];
  pid_t pid = spawnDot(input.fd, writeEnd.fd);
  ::close(writeEnd.fd);
  writeEnd.fd = -1;
  std::vector<uint8_t> svg;
  char buf[1 << 16];
  int readError = 0;
  for (;;) {
    ssize_t n = ::read(readEnd.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) readError = errno;
    if (n <= 0) break;
    svg.insert(svg.end(), buf, buf + n);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) throw Error(fmt::format("kiln dot --svg: `dot -Tsvg` was killed by signal {}", WTERMSIG(status)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(fmt::format("kiln dot --svg: `dot -Tsvg` failed with exit status {}", WEXITSTATUS(status)));
  if (readError != 0) throw Error(fmt::format("kiln dot --svg: cannot read dot's output: {}", std::strerror(readError)));
  return svg;
}

}  // namespace

int cmdDot(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kDotHelp)) return 0;
  Args args("dot", argv, {{"svg"}, {"schedule", "no-simplify"}});
  args.expectPositionals(1, "one FILE (or - for standard input)");
  if (args.has("no-simplify") && !args.has("schedule")) throw Error("kiln dot: --no-simplify goes with --schedule");
  std::string text;
  if (args.has("schedule")) {
    PipelineState st = compileThrough(args, "fuse");
    text = scheduleToDot(st.graph, *st.schedule);
  } else {
    text = graphToDot(loadGraph(args.positionals()[0]));
  }
  if (auto svg = args.value("svg")) {
    std::vector<uint8_t> bytes = renderSvg(text);
    writeFileAtomic(*svg, bytes);
  } else {
    std::cout << text;
  }
  return 0;
}

}  // namespace kiln
