// fuzz_corpus_replay CORPUS_DIR: runs every file of CORPUS_DIR/<target>/
// through that target's entry point (the same code the libFuzzer binaries
// run), so the normal gcc build and CI check that no seed or saved crash
// input regresses. A target folder that is missing or empty is a failure too.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#define LORAFARM_DECLARE(name) extern "C" int lorafarm_fuzz_##name(const std::uint8_t* data, std::size_t size);
LORAFARM_DECLARE(messages)
LORAFARM_DECLARE(sweep_spec)
LORAFARM_DECLARE(safetensors)
LORAFARM_DECLARE(tokenizer_json)
LORAFARM_DECLARE(jsonl)
LORAFARM_DECLARE(chat_template)
#undef LORAFARM_DECLARE

namespace {

struct Target {
  const char* name;
  int (*run)(const std::uint8_t*, std::size_t);
};

constexpr Target kTargets[] = {
    {"messages", lorafarm_fuzz_messages},       {"sweep_spec", lorafarm_fuzz_sweep_spec},
    {"safetensors", lorafarm_fuzz_safetensors}, {"tokenizer_json", lorafarm_fuzz_tokenizer_json},
    {"jsonl", lorafarm_fuzz_jsonl},             {"chat_template", lorafarm_fuzz_chat_template},
};

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  int failures = 0;
  for (const Target& target : kTargets) {
    const auto folder = root / target.name;
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(folder)) {
      for (const auto& entry : std::filesystem::directory_iterator(folder))
        if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      std::fprintf(stderr, "%s: no corpus files in %s\n", target.name, folder.c_str());
      ++failures;
      continue;
    }
    for (const auto& file : files) {
      const auto bytes = read_bytes(file);
      try {
        target.run(bytes.data(), bytes.size());
      } catch (const std::exception& e) {  // anything but the project's input errors escapes the target
        std::fprintf(stderr, "%s: %s: uncaught exception: %s\n", target.name, file.c_str(), e.what());
        ++failures;
      }
    }
    std::printf("%-15s %zu inputs\n", target.name, files.size());
  }
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
