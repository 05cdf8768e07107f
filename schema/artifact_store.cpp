// Content-addressed objects, resumable uploads and home folders (schema/artifact_store.h).
#include "schema/artifact_store.h"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "schema/artifact_dir.h"
#include "schema/sha256.h"

namespace lorafarm::schema {

namespace fs = std::filesystem;

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

fs::path home_folder(const fs::path& artifact_dir, const std::string& experiment, std::int64_t trial, int attempt) {
  return trial_workdir(artifact_dir) / experiment / ("trial-" + std::to_string(trial) + "-a" + std::to_string(attempt));
}

fs::path home_path(const fs::path& artifact_dir, const std::string& experiment, std::int64_t trial, int attempt, const std::string& recorded_path) {
  const fs::path home = home_folder(artifact_dir, experiment, trial, attempt);
  const fs::path recorded = fs::path(recorded_path).lexically_normal();
  const std::string folder = home.filename().string();
  // The last component naming the attempt's folder; what follows is kept.
  auto anchor = recorded.end();
  for (auto it = recorded.begin(); it != recorded.end(); ++it)
    if (it->string() == folder) anchor = it;
  if (anchor == recorded.end()) return home / "artifacts" / recorded.filename();
  fs::path out = home;
  for (auto it = std::next(anchor); it != recorded.end(); ++it) {
    if (it->string() == "..") return home / "artifacts" / recorded.filename();  // never leave the home folder
    out /= *it;
  }
  return out;
}

fs::path ObjectStore::object_path(const std::string& sha256) const {
  if (!is_sha256_hex(sha256)) throw std::invalid_argument("not a sha256: '" + sha256.substr(0, 70) + "'");
  return dir_ / "objects" / sha256.substr(0, 2) / sha256;
}

fs::path ObjectStore::part_path(const std::string& sha256) const {
  if (!is_sha256_hex(sha256)) throw std::invalid_argument("not a sha256: '" + sha256.substr(0, 70) + "'");
  return dir_ / "objects" / "tmp" / (sha256 + ".part");
}

bool ObjectStore::has(const std::string& sha256) const { return fs::is_regular_file(object_path(sha256)); }

std::int64_t ObjectStore::received(const std::string& sha256) const {
  std::error_code ec;
  const auto size = fs::file_size(part_path(sha256), ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

ObjectStore::Append ObjectStore::append(const std::string& sha256, std::int64_t total_bytes, std::int64_t offset, std::string_view data) const {
  const fs::path part = part_path(sha256);
  const std::int64_t have = received(sha256);
  if (offset != have) return {Outcome::WrongOffset, have};
  if (have + static_cast<std::int64_t>(data.size()) > total_bytes) {
    fs::remove(part);
    return {Outcome::Corrupt, 0};
  }
  if (!data.empty()) {
    fs::create_directories(part.parent_path());
    std::ofstream out(part, std::ios::binary | std::ios::app);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.flush();
    if (!out) throw std::runtime_error(part.string() + ": cannot append the upload (disk full?)");
  }
  const std::int64_t now_have = have + static_cast<std::int64_t>(data.size());
  if (now_have < total_bytes) return {Outcome::Accepted, now_have};
  if (total_bytes == 0) std::ofstream(part, std::ios::binary | std::ios::app);  // an empty file is an empty object
  if (sha256_file(part) != sha256) {
    fs::remove(part);
    return {Outcome::Corrupt, 0};
  }
  const fs::path object = object_path(sha256);
  fs::create_directories(object.parent_path());
  fs::rename(part, object);
  return {Outcome::Stored, now_have};
}

void ObjectStore::materialise(const std::string& sha256, const fs::path& home) const {
  const fs::path object = object_path(sha256);
  fs::create_directories(home.parent_path());
  std::error_code ec;
  fs::remove(home, ec);
  fs::create_hard_link(object, home, ec);
  if (ec) fs::copy_file(object, home, fs::copy_options::overwrite_existing);
}

bool is_within(const fs::path& root, const fs::path& path) {
  const fs::path r = fs::absolute(root).lexically_normal(), p = path.lexically_normal();
  return std::mismatch(r.begin(), r.end(), p.begin(), p.end()).first == r.end();
}

void ObjectStore::remove_if_unlinked(const std::string& sha256) const {
  const fs::path object = object_path(sha256);
  std::error_code ec;
  if (fs::hard_link_count(object, ec) != 1 || ec || !fs::remove(object, ec)) return;
  fs::remove(object.parent_path(), ec);  // its <sha[0:2]> folder, when that was the last object in it
}

std::optional<fs::path> artifact_dir_of(Store& store) {
  auto s = store.database().prepare("SELECT file FROM pragma_database_list WHERE name = 'main'");
  if (!s.step() || s.is_null(0) || s.text(0).empty()) return std::nullopt;  // an in-memory database
  return default_artifact_dir(s.text(0));
}

namespace {

// The folder holding the attempt's adapter_config.json as recorded, if any.
// Trainers that save checkpoints write one per checkpoint folder too
// (output/checkpoint-N/); the final adapter is the shallowest one.
std::optional<fs::path> recorded_adapter_folder(const std::vector<ArtifactRecord>& artifacts, int attempt) {
  std::optional<fs::path> best;
  const auto depth = [](const fs::path& p) { return std::distance(p.begin(), p.end()); };
  for (const auto& a : artifacts) {
    if (a.attempt != attempt || fs::path(a.path).filename() != "adapter_config.json") continue;
    const fs::path folder = fs::path(a.path).parent_path();
    if (!best || depth(folder) < depth(*best) || (depth(folder) == depth(*best) && folder < *best)) best = folder;
  }
  return best;
}

}  // namespace

std::optional<AttemptAdapter> attempt_adapter(Store& store, const std::string& experiment, std::int64_t trial_id, std::int64_t trial_number,
                                              int attempt) {
  const auto artifacts = store.artifacts(trial_id);
  const auto recorded = recorded_adapter_folder(artifacts, attempt);
  if (!recorded) return std::nullopt;
  AttemptAdapter adapter;
  adapter.recorded_folder = *recorded;
  const fs::path config = adapter.recorded_folder / "adapter_config.json";
  const auto store_dir = artifact_dir_of(store);
  const fs::path home = store_dir ? home_path(*store_dir, experiment, trial_number, attempt, config.string()).parent_path() : fs::path();
  if (store_dir && fs::is_regular_file(home / "adapter_config.json")) adapter.folder = home;
  else if (fs::is_regular_file(config)) adapter.folder = adapter.recorded_folder;
  for (const auto& a : artifacts) {
    if (a.attempt != attempt || fs::path(a.path).parent_path() != adapter.recorded_folder) continue;
    AdapterFile file{a, std::nullopt};
    if (!adapter.folder.empty() && fs::is_regular_file(adapter.folder / fs::path(a.path).filename()))
      file.local = adapter.folder / fs::path(a.path).filename();
    adapter.files.push_back(std::move(file));
  }
  return adapter;
}

}  // namespace lorafarm::schema
