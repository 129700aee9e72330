// The memory plan as text, JSON and an SVG picture of the arena over time.
#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "passes/PlanMemory.h"

namespace kiln {

std::string printPlan(const Graph& g, const MemoryPlan& p) {
  std::string s = fmt::format(
      "# peak {} bytes, lower bound {} bytes (max live), no reuse {} bytes; efficiency {:.3f} (lower bound / peak); "
      "placement: {}\n",
      p.peakBytes, p.lowerBoundBytes, p.noReuseBytes, p.efficiency(), p.ordering);
  s += fmt::format("{:>6} {:>12} {:>6} {:>6} {:>12}  {}\n", "node", "bytes", "first", "last", "offset", "value");
  for (const PlannedBuffer& b : p.buffers) {
    std::string note = b.inPlaceOf.valid() ? fmt::format(" in place of %{}", b.inPlaceOf.v) : b.persistent ? " persistent" : "";
    s += fmt::format("{:>6} {:>12} {:>6} {:>6} {:>12}  {} {}{}\n", fmt::format("%{}", b.node.v), b.bytes, b.first, b.last,
                     b.offset, opName(g[b.node].op), g[b.node].type.str(), note);
  }
  return s;
}

std::string planToJson(const Graph& g, const MemoryPlan& p) {
  nlohmann::ordered_json j;
  j["peak_bytes"] = p.peakBytes;
  j["lower_bound_bytes"] = p.lowerBoundBytes;
  j["no_reuse_bytes"] = p.noReuseBytes;
  j["efficiency"] = p.efficiency();
  j["placement"] = p.ordering;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const PlannedBuffer& b : p.buffers) {
    nlohmann::ordered_json e = {{"node", b.node.v}, {"op", std::string(opName(g[b.node].op))}, {"bytes", b.bytes},
                                {"first", b.first}, {"last", b.last}, {"offset", b.offset}, {"persistent", b.persistent}};
    if (b.inPlaceOf.valid()) e["in_place_of"] = b.inPlaceOf.v;
    list.push_back(e);
  }
  j["buffers"] = list;
  return j.dump(2) + "\n";
}

std::string planToSvg(const Graph& g, const MemoryPlan& p) {
  int32_t kernels = 0;
  for (const PlannedBuffer& b : p.buffers) kernels = std::max(kernels, b.last);
  const double W = 1000, H = 600, x0 = 60;
  double xs = (W - x0 - 10) / double(kernels + 2), ys = H / double(std::max<int64_t>(p.peakBytes, 1));
  std::string s = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\">\n", W, H + 40);
  s += fmt::format("<text x=\"5\" y=\"{}\" font-size=\"12\">peak {} B, lower bound {} B, efficiency {:.3f}</text>\n", H + 30,
                   p.peakBytes, p.lowerBoundBytes, p.efficiency());
  for (const PlannedBuffer& b : p.buffers) {
    double x = x0 + double(b.first + 1) * xs, w = double(b.last - b.first + 1) * xs;
    double y = H - double(b.offset + b.bytes) * ys, h = std::max(double(b.bytes) * ys, 0.5);
    const char* fill = b.persistent ? "#9ab" : b.inPlaceOf.valid() ? "#e96" : "#6a9";
    s += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" stroke=\"#333\" "
                     "stroke-width=\"0.3\"><title>%{} {} {} B</title></rect>\n",
                     x, y, w, h, fill, b.node.v, g[b.node].type.str(), b.bytes);
  }
  return s + "</svg>\n";
}

}  // namespace kiln
