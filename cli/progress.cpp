// The progress line: formatting (pure, tested) and drawing on stderr.
#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace lorafarm::cli {
namespace {

// Columns of the terminal on stderr (80 when unknown): a line that wraps can
// no longer be redrawn with "\r".
int terminal_columns() {
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

std::string count_of(int64_t done, int64_t total, std::string_view unit) {
  std::string s = std::to_string(done) + "/" + std::to_string(total);
  if (!unit.empty()) s += " " + std::string(unit);
  return s;
}

// ", eta 12s" once there is something to extrapolate from.
std::string eta(int64_t done, int64_t total, double elapsed_seconds) {
  if (done <= 0 || done >= total || elapsed_seconds <= 0) return "";
  return ", eta " + format_duration(elapsed_seconds / static_cast<double>(done) * static_cast<double>(total - done));
}

}  // namespace

bool stderr_is_terminal() {
  if (!::isatty(STDERR_FILENO)) return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::strcmp(term, "dumb") != 0;
}

std::string with_thousands(double value) {
  if (!std::isfinite(value)) return "-";
  const auto rounded = static_cast<long long>(std::llround(std::abs(value)));
  std::string digits = std::to_string(rounded);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (value < 0 && rounded != 0 ? "-" : "") + out;
}

std::string format_duration(double seconds) {
  const auto s = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  char text[32];
  if (s < 60) std::snprintf(text, sizeof text, "%llds", s);
  else if (s < 3600) std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  else std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  return text;
}

std::string format_progress(int64_t done, int64_t total, std::string_view unit, std::string_view detail,
                            double elapsed_seconds, int bar_width) {
  const int64_t bounded = std::clamp<int64_t>(done, 0, std::max<int64_t>(total, 0));
  const int filled = total > 0 ? static_cast<int>(bar_width * bounded / total) : 0;
  std::string line = "[" + std::string(static_cast<std::size_t>(filled), '#') +
                     std::string(static_cast<std::size_t>(bar_width - filled), '.') + "] " + count_of(done, total, unit);
  if (!detail.empty()) line += ", " + std::string(detail);
  return line + eta(done, total, elapsed_seconds);
}

ProgressLine::Mode ProgressLine::mode_for(bool quiet, Mode otherwise) {
  if (quiet) return Mode::kOff;
  return stderr_is_terminal() ? Mode::kTerminal : otherwise;
}

ProgressLine::ProgressLine(Mode mode, std::string label, std::string unit, double plain_interval_seconds)
    : mode_(mode), label_(std::move(label)), unit_(std::move(unit)), plain_interval_(plain_interval_seconds) {
  if (mode_ == Mode::kPlain) last_draw_ = 0;  // the first plain line after one interval, not at once
}

ProgressLine::~ProgressLine() { clear(); }

double ProgressLine::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressLine::update(int64_t done, int64_t total, std::string_view detail) {
  if (mode_ == Mode::kOff) return;
  const double now = elapsed();
  const bool last = done >= total;
  if (mode_ == Mode::kPlain) {
    if (last || now - last_draw_ < plain_interval_) return;  // the caller prints the result
    last_draw_ = now;
    std::cerr << label_ << ": " << count_of(done, total, unit_) << (detail.empty() ? "" : ", ") << detail
              << eta(done, total, now) << "\n";
    return;
  }
  if (!last && now - last_draw_ < 0.1) return;
  last_draw_ = now;
  std::string line = label_ + " " + format_progress(done, total, unit_, detail, now);
  const auto columns = static_cast<std::size_t>(terminal_columns());
  if (line.size() >= columns) line.resize(columns - 1);
  std::cerr << "\r\033[K" << line << std::flush;
  drawn_ = true;
}

void ProgressLine::clear() {
  if (!drawn_) return;
  std::cerr << "\r\033[K" << std::flush;
  drawn_ = false;
  last_draw_ = -1e9;
}

}  // namespace lorafarm::cli
