// Freezing a checkpoint folder (worker/checkpoint_snapshot.h).
#include "worker/checkpoint_snapshot.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <map>

#include "schema/sha256.h"

namespace lorafarm::worker {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The regular files under `folder`, by their relative name.
std::map<std::string, fs::path> files_under(const fs::path& folder) {
  std::map<std::string, fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code type_error;
    // A file being written (".tmp", renamed into place when complete) is not part of the checkpoint.
    if (it->path().extension() == ".tmp") continue;
    if (it->is_regular_file(type_error)) out[it->path().lexically_relative(folder).generic_string()] = it->path();
  }
  return out;
}

// Links (or copies) every file; false when one vanished meanwhile.
bool freeze(const std::map<std::string, fs::path>& files, const fs::path& into) {
  for (const auto& [name, path] : files) {
    const fs::path target = into / name;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    fs::create_hard_link(path, target, ec);
    if (ec) fs::copy_file(path, target, fs::copy_options::overwrite_existing, ec);
    if (ec) return false;
  }
  return true;
}

// Whether the folder still holds exactly the frozen files (same names, and
// the same inodes where they were linked): then the snapshot is one state.
bool unchanged(const fs::path& folder, const std::map<std::string, fs::path>& before, const fs::path& into) {
  const auto now = files_under(folder);
  if (now.size() != before.size()) return false;
  for (const auto& [name, path] : now) {
    std::error_code ec;
    if (!before.count(name)) return false;
    const bool linked = fs::hard_link_count(into / name, ec) > 1 && !ec;
    if (linked && !fs::equivalent(path, into / name, ec)) return false;
  }
  return true;
}

}  // namespace

std::optional<std::int64_t> checkpoint_step_of(std::string_view line) {
  if (line.find("\"checkpoint_step\"") == std::string_view::npos) return std::nullopt;
  const json value = json::parse(line, nullptr, false);
  if (!value.is_object() || !value.contains("checkpoint_step") || !value["checkpoint_step"].is_number_integer()) return std::nullopt;
  const auto step = value["checkpoint_step"].get<std::int64_t>();
  return step >= 0 ? std::optional(step) : std::nullopt;
}

std::optional<std::vector<std::string>> freeze_checkpoint(const fs::path& folder, const fs::path& into) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::error_code ec;
    fs::remove_all(into, ec);
    const auto files = files_under(folder);
    if (files.empty()) return std::nullopt;
    if (!freeze(files, into) || !unchanged(folder, files, into)) continue;
    std::vector<std::string> names;
    for (const auto& [name, path] : files) names.push_back(name);
    return names;
  }
  std::error_code ec;
  fs::remove_all(into, ec);
  spdlog::warn("checkpoint folder {} kept changing while it was frozen; this checkpoint does not ship", folder.string());
  return std::nullopt;
}

std::optional<json> describe_frozen(const fs::path& into, const std::vector<std::string>& names) {
  json list = json::array();
  try {
    for (const auto& name : names)
      list.push_back({{"name", name}, {"path", (into / name).string()}, {"sha256", schema::sha256_file(into / name)},
                      {"bytes", static_cast<std::int64_t>(fs::file_size(into / name))}});
  } catch (const std::exception& e) {
    spdlog::warn("checkpoint snapshot {}: {}", into.string(), e.what());
    return std::nullopt;
  }
  return list;
}

std::optional<json> snapshot_checkpoint(const fs::path& folder, const fs::path& into) {
  const auto names = freeze_checkpoint(folder, into);
  if (!names) return std::nullopt;
  return describe_frozen(into, *names);
}

namespace {

// N of a folder named step-N, else nullopt.
std::optional<std::int64_t> frozen_step(const std::string& name) {
  constexpr std::string_view kPrefix = "step-";
  if (name.rfind(kPrefix, 0) != 0 || name.size() == kPrefix.size()) return std::nullopt;
  std::int64_t step = 0;
  const char* end = name.data() + name.size();
  const auto [ptr, ec] = std::from_chars(name.data() + kPrefix.size(), end, step);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return step;
}

}  // namespace

std::optional<std::int64_t> frozen_step_of(const fs::path& frozen, const fs::path& file) {
  const fs::path relative = file.lexically_normal().lexically_relative(frozen.lexically_normal());
  if (relative.empty() || *relative.begin() == "..") return std::nullopt;
  return frozen_step(relative.begin()->string());
}

std::vector<std::int64_t> remove_frozen_below(const fs::path& frozen, std::int64_t below_step, const std::set<std::int64_t>& busy) {
  std::vector<std::int64_t> removed;
  std::error_code ec;
  for (auto it = fs::directory_iterator(frozen, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const auto step = frozen_step(it->path().filename().string());
    if (!step || *step >= below_step || busy.count(*step)) continue;
    std::error_code remove_error;
    fs::remove_all(it->path(), remove_error);
    if (remove_error) spdlog::warn("cannot delete the superseded checkpoint {}: {}", it->path().string(), remove_error.message());
    else removed.push_back(*step);
  }
  return removed;
}

}  // namespace lorafarm::worker
