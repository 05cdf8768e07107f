// Which recorded artifacts the coordinator still has to fetch from their
// workers, and how each file reaches the store (docs/protocol.md, "Artifacts
// come home"). Internal to the coordinator.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "schema/artifact_store.h"

namespace lorafarm::coordinator {

// A file the store lacks and the worker that has it.
struct PendingFile {
  std::string worker;
  std::int64_t trial_id = 0;
  std::int64_t trial = 0;  // number within the experiment
  int attempt = 1;
  std::string path;  // on the worker
  std::int64_t bytes = 0;
  std::vector<std::filesystem::path> homes;  // attempt folders to give the content once stored
};

class ArtifactTransfers {
 public:
  ArtifactTransfers(std::filesystem::path artifact_dir, std::filesystem::path local_workdir, std::int64_t max_bytes)
      : objects_(std::move(artifact_dir)), local_workdir_(std::move(local_workdir)), max_bytes_(max_bytes) {}

  enum class Plan {
    AtHome,    // a local worker wrote it on this machine (into the store's folder, or the sweep's --workdir)
    Linked,    // the store had the content already; the home folder now has it too
    TooLarge,  // above the size limit: stays on the worker
    Fetch,     // pending: ask the worker for it
  };
  // Decides how a recorded artifact of (trial, attempt) comes home; a Fetch is remembered.
  Plan plan(const std::string& experiment, std::int64_t trial, const schema::ArtifactRecord& artifact);

  // FETCH bodies asking `worker` for its pending files, one per attempt.
  std::vector<nlohmann::json> fetches_for(const std::string& worker) const;
  const PendingFile* pending(const std::string& sha256) const;
  // Gives every home of a stored object its content and forgets the file.
  void stored(const std::string& sha256);
  void forget(const std::string& sha256) { pending_.erase(sha256); }
  // A pending file no longer needs to reach `home` (a superseded checkpoint's);
  // forgotten when no home is left.
  void drop_home(const std::string& sha256, const std::filesystem::path& home);
  // Pending files whose worker `reachable` says can still send them.
  std::size_t waiting(const std::function<bool(const std::string&)>& reachable) const;
  std::size_t size() const { return pending_.size(); }
  const schema::ObjectStore& objects() const { return objects_; }
  std::int64_t max_bytes() const { return max_bytes_; }

 private:
  bool written_locally(const std::filesystem::path& path, const std::filesystem::path& home, std::int64_t bytes) const;

  schema::ObjectStore objects_;
  std::filesystem::path local_workdir_;  // empty: no local workers
  std::int64_t max_bytes_;
  std::map<std::string, PendingFile> pending_;  // by sha256
};

}  // namespace lorafarm::coordinator
