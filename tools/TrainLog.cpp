// Metrics as JSON lines, curves as SVG.
#include "tools/TrainLog.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ir/Error.h"
#include "runtime/Safetensors.h"

namespace kiln {

namespace {

/// `text` with &, < and > escaped for XML.
std::string xmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
  return out;
}

/// A JSON number, or null for NaN and infinities (JSON has no such numbers).
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

/// The lines of an earlier run's log at `path` up to step `first`; Error naming a line that is not a record.
std::vector<std::string> earlierLines(const std::string& path, int64_t first) {
  std::ifstream in(path);
  std::vector<std::string> kept;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer())
      throw Error(Location{path, int(n), 1}, "--log: expected a JSON object with an integer \"step\" on every line");
    if (j["step"].get<int64_t>() <= first) kept.push_back(line);
  }
  return kept;
}

/// "nice" tick values covering [lo, hi]: 1, 2 or 5 times a power of ten apart.
std::vector<double> ticks(double lo, double hi) {
  double span = std::max(hi - lo, 1e-12), raw = span / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return out;
}

/// The finite values' [min, max], widened a little (or [0, 1] when there are none).
std::pair<double, double> range(const std::vector<std::pair<int64_t, double>>& pts) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& [s, v] : pts)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo > hi) return {0, 1};
  double pad = std::max((hi - lo) * 0.05, 1e-6);
  return {lo - pad, hi + pad};
}

}  // namespace

std::string plotCurves(const std::string& title, const std::vector<std::pair<int64_t, double>>& train,
                       const std::string& metric, const std::vector<std::pair<int64_t, double>>& eval) {
  const double W = 760, H = 420, L = 70, R = 690, T = 50, B = 360;  // the plot area: x in [L, R], y in [T, B]
  int64_t last = 1;
  for (const auto* pts : {&train, &eval})
    for (const auto& [s, v] : *pts) last = std::max(last, s);
  auto [lo, hi] = range(train);
  auto [elo, ehi] = range(eval);
  auto x = [&](int64_t s) { return L + (R - L) * double(s) / double(last); };
  auto y = [&](double v, double a, double b) { return B - (B - T) * (v - a) / (b - a); };
  std::string svg = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">)"
                                "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
                                "<text x=\"{}\" y=\"25\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n"
                                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n",
                                W, H, W / 2, xmlEscape(title), L, T, R - L, B - T);
  for (double t : ticks(0, double(last)))
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x(int64_t(t)), B + 18, int64_t(t));
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n", (L + R) / 2, B + 40);
  for (double t : ticks(lo, hi))
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#1f77b4\">{:g}</text>\n"
                       "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>\n",
                       L - 6, y(t, lo, hi) + 4, t, L, R, y(t, lo, hi), y(t, lo, hi));
  auto line = [&](const std::vector<std::pair<int64_t, double>>& pts, double a, double b, const char* colour) {
    std::string d;
    for (const auto& [s, v] : pts)
      if (std::isfinite(v)) d += fmt::format("{}{:.1f},{:.1f}", d.empty() ? "" : " ", x(s), y(v, a, b));
    std::string out = fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", colour, d);
    if (&pts == &eval)
      for (const auto& [s, v] : pts)
        if (std::isfinite(v)) out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", x(s), y(v, a, b), colour);
    return out;
  };
  svg += line(train, lo, hi, "#1f77b4");
  if (!eval.empty()) {
    for (double t : ticks(elo, ehi))
      svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" fill=\"#d62728\">{:g}</text>\n", R + 6, y(t, elo, ehi) + 4, t);
    svg += line(eval, elo, ehi, "#d62728");
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">training loss</text>\n", L + 10, T + 18);
  if (!eval.empty()) svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#d62728\" text-anchor=\"end\">{} (right axis)</text>\n",
                                        R - 10, T + 18, metric);
  return svg + "</svg>\n";
}

TrainLog::TrainLog(std::optional<std::string> jsonl, std::optional<std::string> svg, std::string title, bool resume, int64_t first)
    : jsonl_(std::move(jsonl)), svg_(std::move(svg)), title_(std::move(title)) {
  if (!jsonl_ || !resume) return;
  lines_ = earlierLines(*jsonl_, first);
  for (const std::string& l : lines_) {
    nlohmann::json j = nlohmann::json::parse(l);
    int64_t step = j["step"].get<int64_t>();
    if (j.contains("train_loss") && j["train_loss"].is_number()) train_.push_back({step, j["train_loss"].get<double>()});
    for (const char* m : {"validation_loss", "test_accuracy"})
      if (j.contains(m) && j[m].is_number()) eval_.push_back({step, j[m].get<double>()}), metric_ = m;
  }
}

void TrainLog::trainLoss(int64_t step, int64_t epoch, std::optional<double> loss, int64_t every, bool last) {
  if (loss) sum_ += *loss, count_++;
  if ((step + 1) % every != 0 && !last) return;
  double mean = count_ ? sum_ / double(count_) : NAN;
  lines_.push_back(nlohmann::json{{"step", step + 1}, {"epoch", epoch}, {"train_loss", number(mean)}}.dump());
  train_.push_back({step + 1, mean});
  sum_ = 0, count_ = 0;
  write();
}

void TrainLog::evaluation(int64_t step, int64_t epoch, const Evaluation& e) {
  lines_.push_back(nlohmann::json{{"step", step + 1}, {"epoch", epoch}, {e.metric, number(e.value)}}.dump());
  eval_.push_back({step + 1, e.value});
  metric_ = e.metric;
  write();
}

void TrainLog::write() const {
  if (jsonl_) {
    std::string text;
    for (const std::string& l : lines_) text += l + "\n";
    writeFileAtomic(*jsonl_, std::vector<uint8_t>(text.begin(), text.end()));
  }
  if (svg_) {
    std::string s = plotCurves(title_, train_, metric_, eval_);
    writeFileAtomic(*svg_, std::vector<uint8_t>(s.begin(), s.end()));
  }
}

}  // namespace kiln
