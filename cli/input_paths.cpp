// Existence checks of command-line paths, as invalid input.
#include "cli/input_paths.h"

#include <filesystem>
#include <stdexcept>

namespace lorafarm::cli {
namespace {

std::string named(std::string_view option, const std::string& path) {
  return option.empty() ? path : std::string(option) + " " + path;
}

}  // namespace

void require_folder(std::string_view option, const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return;
  if (std::filesystem::exists(path, ec)) throw std::runtime_error(named(option, path) + ": not a folder");
  throw std::runtime_error(named(option, path) + ": no such folder");
}

void require_file(std::string_view option, const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return;
  if (std::filesystem::is_directory(path, ec)) throw std::runtime_error(named(option, path) + ": is a folder, not a file");
  throw std::runtime_error(named(option, path) + ": no such file");
}

}  // namespace lorafarm::cli
