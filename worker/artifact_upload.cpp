// Sending artifact files in chunks at the coordinator's offset (worker/artifact_upload.h).
#include "worker/artifact_upload.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>

#include "schema/base64.h"
#include "schema/messages.h"

namespace lorafarm::worker {

namespace fs = std::filesystem;
using nlohmann::json;

ArtifactUploads::ArtifactUploads(fs::path workdir, std::size_t chunk_bytes)
    : workdir_(fs::weakly_canonical(fs::absolute(workdir))), chunk_bytes_(std::clamp<std::size_t>(chunk_bytes, 1, schema::kMaxChunkBytes)) {}

std::string ArtifactUploads::refusal(const fs::path& path, std::int64_t bytes) const {
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(path, ec);
  if (ec) return "cannot resolve the path: " + ec.message();
  const auto [in_workdir, in_path] = std::mismatch(workdir_.begin(), workdir_.end(), real.begin(), real.end());
  if (in_workdir != workdir_.end()) return "not inside this worker's --workdir " + workdir_.string();
  if (!fs::is_regular_file(real)) return "no such file on this worker (its trial folder was removed?)";
  if (fs::file_size(real, ec) != static_cast<std::uintmax_t>(bytes) || ec) return "the file's size changed since the trial recorded it";
  return "";
}

std::vector<json> ArtifactUploads::on_fetch(const json& body) {
  std::vector<json> out;
  for (const auto& file : body["files"]) {
    const auto sha = file["sha256"].get<std::string>();
    if (uploads_.count(sha)) continue;  // already under way
    const fs::path path = file["path"].get<std::string>();
    const auto bytes = file["bytes"].get<std::int64_t>();
    if (const auto why = refusal(path, bytes); !why.empty()) {
      spdlog::warn("cannot send {}: {}", path.string(), why);
      out.push_back({{"sha256", sha}, {"offset", 0}, {"data", ""}, {"error", path.string() + ": " + why}});
      continue;
    }
    uploads_[sha] = {path, bytes};
    out.push_back({{"sha256", sha}, {"offset", 0}, {"data", ""}});  // where does the coordinator stand?
  }
  return out;
}

std::vector<fs::path> ArtifactUploads::sending() const {
  std::vector<fs::path> paths;
  for (const auto& [sha, upload] : uploads_) paths.push_back(upload.path);
  return paths;
}

std::optional<json> ArtifactUploads::on_ack(const json& body) {
  const auto sha = body["sha256"].get<std::string>();
  const auto it = uploads_.find(sha);
  if (it == uploads_.end()) return std::nullopt;
  if (body.value("complete", false) || body.contains("error")) {
    if (body.contains("error")) spdlog::warn("upload of {} ended: {}", it->second.path.string(), body["error"].get<std::string>());
    uploads_.erase(it);
    return std::nullopt;
  }
  const auto offset = body["offset"].get<std::int64_t>();
  Upload& upload = it->second;
  // The chunk at this offset is in flight already (this answers an older
  // probe): its own acknowledgement moves the transfer on, so two chunks are
  // never in flight.
  if (offset == upload.last_sent) return std::nullopt;
  if (offset >= upload.bytes) {  // nothing left to send; the coordinator verified on the last chunk
    uploads_.erase(it);
    return std::nullopt;
  }
  std::string chunk(std::min<std::size_t>(chunk_bytes_, static_cast<std::size_t>(upload.bytes - offset)), '\0');
  std::ifstream in(upload.path, std::ios::binary);
  in.seekg(offset);
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  if (!in) {
    uploads_.erase(it);
    return json{{"sha256", sha}, {"offset", offset}, {"data", ""}, {"error", upload.path.string() + ": cannot read the file"}};
  }
  upload.last_sent = offset;
  return json{{"sha256", sha}, {"offset", offset}, {"data", schema::base64_encode(chunk)}};
}

}  // namespace lorafarm::worker
