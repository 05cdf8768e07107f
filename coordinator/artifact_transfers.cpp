// Planning which artifacts travel (coordinator/artifact_transfers.h).
#include "coordinator/artifact_transfers.h"

#include <algorithm>

namespace lorafarm::coordinator {

namespace fs = std::filesystem;
using nlohmann::json;

// Whether a local worker wrote the file on this machine: at its home path, or
// inside the local workers' folder, with the recorded size (it hashed it just now).
bool ArtifactTransfers::written_locally(const fs::path& path, const fs::path& home, std::int64_t bytes) const {
  const fs::path normal = path.lexically_normal();
  bool local = normal == home.lexically_normal();
  if (!local && !local_workdir_.empty()) local = schema::is_within(local_workdir_, normal);
  std::error_code ec;
  return local && fs::file_size(path, ec) == static_cast<std::uintmax_t>(bytes) && !ec;
}

ArtifactTransfers::Plan ArtifactTransfers::plan(const std::string& experiment, std::int64_t trial, const schema::ArtifactRecord& a) {
  const fs::path home = schema::home_path(objects_.artifact_dir(), experiment, trial, a.attempt, a.path);
  if (written_locally(a.path, home, a.bytes)) return Plan::AtHome;
  if (objects_.has(a.sha256)) {
    if (!fs::is_regular_file(home)) objects_.materialise(a.sha256, home);
    return Plan::Linked;
  }
  if (a.bytes > max_bytes_) return Plan::TooLarge;
  auto [it, fresh] = pending_.try_emplace(a.sha256, PendingFile{a.worker, a.trial_id, trial, a.attempt, a.path, a.bytes, {}});
  it->second.homes.push_back(home);
  return Plan::Fetch;
}

std::vector<json> ArtifactTransfers::fetches_for(const std::string& worker) const {
  // One body per attempt, split so each stays far below the 1 MiB frame limit.
  constexpr std::size_t kFilesPerFetch = 1000;
  constexpr std::size_t kPathBytesPerFetch = 256 * 1024;
  std::vector<json> out;
  std::map<std::pair<std::int64_t, int>, std::size_t> open;  // attempt -> index in `out` being filled
  std::map<std::size_t, std::size_t> path_bytes;             // index in `out` -> bytes of paths in it
  for (const auto& [sha, f] : pending_) {
    if (f.worker != worker) continue;
    const auto key = std::make_pair(f.trial, f.attempt);
    auto it = open.find(key);
    if (it == open.end() || out[it->second]["files"].size() >= kFilesPerFetch || path_bytes[it->second] + f.path.size() > kPathBytesPerFetch) {
      out.push_back({{"trial", f.trial}, {"attempt", f.attempt}, {"files", json::array()}});
      it = open.insert_or_assign(key, out.size() - 1).first;
    }
    out[it->second]["files"].push_back({{"sha256", sha}, {"bytes", f.bytes}, {"path", f.path}});
    path_bytes[it->second] += f.path.size();
  }
  return out;
}

const PendingFile* ArtifactTransfers::pending(const std::string& sha256) const {
  const auto it = pending_.find(sha256);
  return it == pending_.end() ? nullptr : &it->second;
}

void ArtifactTransfers::stored(const std::string& sha256) {
  const auto it = pending_.find(sha256);
  if (it == pending_.end()) return;
  for (const auto& home : it->second.homes) objects_.materialise(sha256, home);
  pending_.erase(it);
}

void ArtifactTransfers::drop_home(const std::string& sha256, const fs::path& home) {
  const auto it = pending_.find(sha256);
  if (it == pending_.end()) return;
  std::erase(it->second.homes, home);
  if (it->second.homes.empty()) pending_.erase(it);
}

std::size_t ArtifactTransfers::waiting(const std::function<bool(const std::string&)>& reachable) const {
  std::size_t n = 0;
  for (const auto& [sha, f] : pending_) n += reachable(f.worker) ? 1 : 0;
  return n;
}

}  // namespace lorafarm::coordinator
