// What a command trial's collectors read (schema/metric_collectors.h): the
// reports that carry a step, which become PROGRESS messages (learning curves,
// ASHA), and each metric's final value for the RESULT. Without `trial.metrics`
// it is lorafarm's JSON-lines protocol, whose final line is the result.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schema/metric_collectors.h"

namespace lorafarm::worker {

enum class Stream { Stdout, Stderr };

// The metrics one line or record gave at a step (stored names).
struct StepReport {
  std::int64_t step = 0;
  nlohmann::json metrics = nlohmann::json::object();
};

class MetricCollection {
 public:
  // `spec` nullopt: lorafarm's JSON lines. Files are looked up under `trial_dir`.
  explicit MetricCollection(std::optional<schema::MetricsSpec> spec = std::nullopt, std::filesystem::path trial_dir = {},
                            std::string objective = "val_loss");

  // One line of the trial's output, without its end of line.
  void line(Stream stream, std::string_view text);
  // Reads the watched files that changed, at most every kFilePollSeconds;
  // `at_exit` reads every one of them whatever its time stamp, including a
  // JSON line not yet ended by a newline.
  void read_files(double now, bool at_exit = false);
  bool watches_files() const;
  std::vector<StepReport> take_reports();

  // The RESULT metrics (stored names): the final line's numbers, or with
  // `trial.metrics` each metric's last, smallest or largest value.
  nlohmann::json final_metrics() const;
  // Why the objective is not among final_metrics(), for a bad_output failure.
  std::string missing() const;

  static constexpr double kFilePollSeconds = 0.25;

 private:
  struct FileState {
    std::filesystem::file_time_type time{};
    std::uintmax_t size = 0;
    std::uintmax_t offset = 0;  // JSON lines: bytes already read
    std::string last_document;  // JSON: a single-object document seen last
  };
  struct Collector {
    schema::CollectorSpec spec;
    std::map<std::string, FileState> files;
    std::size_t records_seen = 0;  // JSON: records of the (growing) list already taken
  };
  struct Final {
    double value = 0;
    bool seen = false;
  };

  void json_line(std::string_view text);
  void regex_line(Stream stream, std::string_view text);
  void read_file(Collector& c, const std::filesystem::path& path, bool at_exit);
  void read_json_document(Collector& c, const std::filesystem::path& path, const std::string& text);
  void read_json_lines(Collector& c, FileState& state, const std::filesystem::path& path, bool at_exit);
  void record(const nlohmann::json& object, const schema::CollectorSpec& file);
  void observe(const std::string& metric, double value);
  // Adds `value` to the report of `step` being built (flush_line() sends
  // them), or only to the final value when there is no step.
  void collect(std::optional<std::int64_t> step, const std::string& metric, double value);
  void flush_line();
  std::vector<std::filesystem::path> matches(const std::string& pattern) const;

  std::optional<schema::MetricsSpec> spec_;
  std::filesystem::path trial_dir_;
  std::string objective_;
  std::vector<Collector> collectors_;
  std::vector<StepReport> reports_;
  std::vector<StepReport> line_reports_;  // of the line or record being read
  std::map<std::string, Final> finals_;
  std::optional<std::int64_t> current_step_[2];  // per stream: the last step a pattern gave
  double last_file_read_ = -1e300;
  std::size_t lines_[2] = {0, 0};
  // lorafarm's JSON lines without `trial.metrics`: the final line (or the
  // last object without "step" that carries a number), and what was not JSON.
  std::optional<nlohmann::json> final_line_;
  std::optional<nlohmann::json> candidate_final_;
  std::size_t garbage_lines_ = 0;
  std::string last_garbage_;
};

}  // namespace lorafarm::worker
