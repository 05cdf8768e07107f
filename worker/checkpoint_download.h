// The worker's side of checkpoint resume: before a resumed attempt starts,
// the files of the checkpoint its ASSIGN names are pulled from the
// coordinator (DOWNLOAD, answered by DOWNLOAD_CHUNK), one chunk in flight per
// file, written at the offset the worker has, and sha256-verified.
// docs/protocol.md, "Checkpoints".
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace lorafarm::worker {

class CheckpointDownloads {
 public:
  using Key = std::pair<std::int64_t, int>;  // (trial, attempt)

  // Starts restoring `files` ([{name, sha256, bytes}], validated) into
  // `folder`; returns the DOWNLOAD bodies to send.
  std::vector<nlohmann::json> start(Key key, const nlohmann::json& files, const std::filesystem::path& folder);
  // A DOWNLOAD_CHUNK: the next DOWNLOAD to send, if the transfer goes on.
  std::optional<nlohmann::json> on_chunk(const nlohmann::json& body);
  // After a reconnect: a DOWNLOAD for every file under way, at its offset.
  std::vector<nlohmann::json> resend() const;
  // Restorations that ended since the last call: the key and "" (complete)
  // or the error, which names the file.
  std::vector<std::pair<Key, std::string>> take_finished();
  // Forgets a restoration (its trial was cancelled).
  void drop(Key key);
  bool restoring(Key key) const { return restores_.count(key) > 0; }

 private:
  struct Destination {
    Key key;
    std::filesystem::path path;
  };
  struct File {
    std::int64_t bytes = 0;
    std::int64_t have = 0;
    std::filesystem::path part;             // the download in progress
    std::vector<Destination> destinations;  // the first gets the file, the others a copy
  };
  struct Restore {
    std::size_t remaining = 0;
    std::string error;
  };
  std::optional<nlohmann::json> append(const std::string& sha, File& f, std::int64_t offset, const std::string& data);
  void complete(const std::string& sha, File& f);
  void fail(const std::string& sha, const std::string& why);
  void settle(const Destination& d, const std::string& error);

  std::map<std::string, File> files_;  // by sha256
  std::map<Key, Restore> restores_;
  std::vector<std::pair<Key, std::string>> finished_;
};

}  // namespace lorafarm::worker
