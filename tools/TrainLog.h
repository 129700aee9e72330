// kiln train's record of a run: --log writes the metrics as JSON lines while training, --plot draws the
// training and evaluation curves as an SVG a browser shows. Both files are rewritten atomically.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/TrainData.h"

namespace kiln {

/// The metrics of one run, and the files they go to.
class TrainLog {
 public:
  /// Records to `jsonl` and `svg` when given; `title` heads the plot. With `resume`, the lines an earlier run
  /// wrote to `jsonl` are kept and later ones appended (lines past step `first` are dropped).
  TrainLog(std::optional<std::string> jsonl, std::optional<std::string> svg, std::string title, bool resume, int64_t first);
  /// The loss of step `step` (0-based) of epoch `epoch` (1-based), or none for a skipped step. Every `every`
  /// steps, and at `last`, the mean of the losses since the previous record becomes a record.
  void trainLoss(int64_t step, int64_t epoch, std::optional<double> loss, int64_t every, bool last);
  /// An evaluation after step `step` of epoch `epoch`.
  void evaluation(int64_t step, int64_t epoch, const Evaluation& e);

 private:
  /// Writes the files: every line so far, and the plot.
  void write() const;

  std::optional<std::string> jsonl_, svg_;
  std::string title_, metric_;
  std::vector<std::string> lines_;
  std::vector<std::pair<int64_t, double>> train_, eval_;  // steps done, value
  double sum_ = 0;
  int64_t count_ = 0;
};

/// The SVG of a training curve (`train`: steps and losses) and an evaluation curve (`eval`: steps and
/// values of `metric`, on its own axis at the right), headed by `title`.
std::string plotCurves(const std::string& title, const std::vector<std::pair<int64_t, double>>& train,
                       const std::string& metric, const std::vector<std::pair<int64_t, double>>& eval);

}  // namespace kiln
