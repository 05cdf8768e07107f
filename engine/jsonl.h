// Reading JSON-lines files (one JSON object per line, as mlx-lm's data sets).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

namespace lorafarm::engine {

struct JsonlRecord {
  int line = 0;  // 1-based line number in the file, for error messages
  nlohmann::json value;
  std::string text;  // the line itself (to parse again, e.g. keeping key order)
};

// Every non-blank line parsed as a JSON object. An empty or malformed line is
// an InvalidInput naming the file and its line number.
std::vector<JsonlRecord> read_jsonl(const std::filesystem::path& path);

}  // namespace lorafarm::engine
