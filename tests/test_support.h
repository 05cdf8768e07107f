// Helpers shared by the tests: where the repository and the built binary are,
// scratch folders that clean up after themselves, and running a real process.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lorafarm::testing {

std::filesystem::path source_dir();
// The npm test oracles (tests/oracles: Hugging Face's tokenizers and jinja,
// real tokenizer.json files) and the executable `node` on PATH ("" when there
// is none); kOracleSetupHint says how to get both.
std::filesystem::path oracles_dir();
std::string find_node();
inline constexpr const char* kOracleSetupHint =
    "; run scripts/setup.sh (it installs node and `npm ci --prefix tests/oracles`)";
std::filesystem::path lorafarm_binary();
std::filesystem::path bundled_model(const std::string& name = "stories260K");
std::filesystem::path bundled_data(const std::string& name);

// A fresh directory under the system temp dir, removed on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct ProcessResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] is a path), feeding `input` on stdin, and waits.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "");
// Runs the built `lorafarm` binary with `args`.
ProcessResult run_lorafarm(const std::vector<std::string>& args, const std::string& input = "");

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

}  // namespace lorafarm::testing
