// JSON-lines reader with line-numbered errors.
#include "engine/jsonl.h"

#include <fstream>

#include "engine/error.h"

namespace lorafarm::engine {

std::vector<JsonlRecord> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InvalidInput(path.string() + ": cannot open");
  std::vector<JsonlRecord> records;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      // A blank final line is what editors leave; blank lines inside the file are mistakes.
      if (in.peek() == EOF) break;
      throw InvalidInput(path.string() + ":" + std::to_string(number) + ": empty line");
    }
    JsonlRecord record;
    record.line = number;
    record.text = line;
    try {
      record.value = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
      throw InvalidInput(path.string() + ":" + std::to_string(number) + ": malformed JSON: " + e.what());
    }
    if (!record.value.is_object()) {
      throw InvalidInput(path.string() + ":" + std::to_string(number) + ": expected a JSON object");
    }
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace lorafarm::engine
