// Test helpers.
#include "tests/TestUtil.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include "ir/Parser.h"

namespace kiln::test {

std::string sourcePath(const std::string& rel) { return std::string(KILN_SOURCE_DIR) + "/" + rel; }

std::string tempDir(const std::string& tag) {
  namespace fs = std::filesystem;
  fs::path p = fs::temp_directory_path() / ("kiln-test-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

static std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CliResult runKiln(const std::string& args, const std::string& stdinText) {
  std::string dir = tempDir("cli");
  std::string in = dir + "/stdin", out = dir + "/stdout", err = dir + "/stderr";
  std::ofstream(in, std::ios::binary) << stdinText;
  std::string cmd = std::string(KILN_CLI_PATH) + " " + args + " <" + in + " >" + out + " 2>" + err;
  int raw = std::system(cmd.c_str());
  CliResult r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  r.out = slurp(out);
  r.err = slurp(err);
  std::filesystem::remove_all(dir);
  return r;
}

double maxRelError(const std::vector<double>& a, const std::vector<double>& b, double floor) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
      continue;
    }
    if (a[i] == b[i]) continue;  // equal infinities too
    worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(std::fabs(b[i]), floor));
  }
  return worst;
}

HostTensor tensor(DType dt, Shape shape, std::vector<double> values) {
  return HostTensor(dt, std::move(shape), std::move(values));
}

Graph kir(const std::string& text) { return parseKir(text, "test.kir"); }

}  // namespace kiln::test
