// Progress of long work (train, eval) for a person watching: one updating line
// on a terminal's stderr, or, when stderr is a file or a pipe, a plain line
// now and then (never "\r" or escape codes in logs). --json turns it off.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace lorafarm::cli {

// True when stderr is a terminal that understands "\r" and "erase line"
// (isatty(2) and TERM is not "dumb").
bool stderr_is_terminal();

// "[#########.....................] 45/150 iters, loss 2.31, 1,050 tok/s, eta 12s".
// `detail` (may be empty) goes after the count; the ETA extrapolates `elapsed`.
std::string format_progress(int64_t done, int64_t total, std::string_view unit, std::string_view detail,
                            double elapsed_seconds, int bar_width = 30);
// "1,050": a rate or count rounded to an integer, with thousands separators.
std::string with_thousands(double value);
// "12s", "3m05s", "1h02m".
std::string format_duration(double seconds);

class ProgressLine {
 public:
  enum class Mode {
    kOff,       // --json, or plain lines come from elsewhere (train's step reports)
    kTerminal,  // one line redrawn in place on stderr
    kPlain,     // "eval: 120/441 samples, ..." on stderr every plain_interval seconds
  };
  // kTerminal when stderr is a terminal, else `otherwise`; kOff when `quiet`.
  static Mode mode_for(bool quiet, Mode otherwise);

  ProgressLine(Mode mode, std::string label, std::string unit, double plain_interval_seconds = 10.0);
  ~ProgressLine();  // erases a line left on the terminal
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Redrawn at most every 100 ms (always at done == total).
  void update(int64_t done, int64_t total, std::string_view detail = {});
  // Erase the line before other text goes to the terminal; the next update redraws it.
  void clear();
  Mode mode() const { return mode_; }

 private:
  double elapsed() const;

  Mode mode_;
  std::string label_;
  std::string unit_;
  double plain_interval_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  double last_draw_ = -1e9;
  bool drawn_ = false;
};

}  // namespace lorafarm::cli
