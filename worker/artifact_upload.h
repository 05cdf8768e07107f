// The worker's side of "artifacts come home": answers the coordinator's FETCH
// by sending each file in chunks (UPLOAD), one chunk in flight per file, each
// at the offset the coordinator's last UPLOAD_ACK says it has. Files are sent
// only from inside the worker's own trial folders. docs/protocol.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lorafarm::worker {

class ArtifactUploads {
 public:
  ArtifactUploads(std::filesystem::path workdir, std::size_t chunk_bytes);

  // FETCH: the UPLOAD bodies to send now (an empty probe per new file, or an
  // error for a file this worker cannot send).
  std::vector<nlohmann::json> on_fetch(const nlohmann::json& body);
  // UPLOAD_ACK: the next chunk of that file, if the transfer goes on.
  std::optional<nlohmann::json> on_ack(const nlohmann::json& body);
  // The connection is gone, or the coordinator restarted: transfers start
  // again (with a probe) at the next FETCH.
  void reset() { uploads_.clear(); }
  std::size_t active() const { return uploads_.size(); }
  // The files being sent now.
  std::vector<std::filesystem::path> sending() const;

 private:
  struct Upload {
    std::filesystem::path path;
    std::int64_t bytes = 0;
    std::int64_t last_sent = -1;  // offset of the chunk in flight (-1: the probe)
  };
  // Why the file may not be sent ("" when it may).
  std::string refusal(const std::filesystem::path& path, std::int64_t bytes) const;

  std::filesystem::path workdir_;
  std::size_t chunk_bytes_;
  std::map<std::string, Upload> uploads_;  // by sha256
};

}  // namespace lorafarm::worker
