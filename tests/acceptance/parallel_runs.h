// Runs several `lorafarm` commands at once (a few at a time) and reads the
// last JSON line each printed: the acceptance trainings are independent, and
// two single-threaded runs use two cores better than one two-threaded run.
#pragma once

#include <nlohmann/json.hpp>

#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.h"

namespace lorafarm::testing {

// Runs each argument list through `lorafarm`, at most `jobs` at a time; the
// results keep the order of `runs`.
inline std::vector<ProcessResult> run_lorafarm_parallel(const std::vector<std::vector<std::string>>& runs, std::size_t jobs) {
  std::vector<ProcessResult> results(runs.size());
  for (std::size_t first = 0; first < runs.size(); first += jobs) {
    std::vector<std::future<ProcessResult>> batch;
    for (std::size_t i = first; i < std::min(runs.size(), first + jobs); ++i)
      batch.push_back(std::async(std::launch::async, [&runs, i] { return run_lorafarm(runs[i]); }));
    for (std::size_t i = 0; i < batch.size(); ++i) results[first + i] = batch[i].get();
  }
  return results;
}

// The last non-empty line of `out`, parsed as JSON (the final report of `train --json`).
inline nlohmann::json last_json_line(const std::string& out) {
  const auto end = out.find_last_not_of("\n");
  if (end == std::string::npos) throw std::runtime_error("no output");
  const auto start = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1));
}

}  // namespace lorafarm::testing
