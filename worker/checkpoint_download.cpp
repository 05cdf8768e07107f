// Pulling a checkpoint's files from the coordinator (worker/checkpoint_download.h).
#include "worker/checkpoint_download.h"

#include <spdlog/spdlog.h>

#include <fstream>

#include "schema/base64.h"
#include "schema/sha256.h"

namespace lorafarm::worker {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
json download(const std::string& sha, std::int64_t offset) { return {{"sha256", sha}, {"offset", offset}}; }
}  // namespace

std::vector<json> CheckpointDownloads::start(Key key, const json& files, const fs::path& folder) {
  std::vector<json> out;
  restores_[key] = {files.size(), ""};
  if (files.empty()) {
    restores_.erase(key);
    finished_.emplace_back(key, "");
    return out;
  }
  for (const auto& f : files) {
    const auto sha = f["sha256"].get<std::string>();
    const Destination d{key, folder / f["name"].get<std::string>()};
    std::error_code ec;
    fs::create_directories(d.path.parent_path(), ec);
    if (auto it = files_.find(sha); it != files_.end()) {  // the same content twice: one transfer
      it->second.destinations.push_back(d);
      continue;
    }
    File& file = files_[sha] = File{f["bytes"].get<std::int64_t>(), 0, d.path.string() + ".part", {d}};
    fs::remove(file.part, ec);
    if (file.bytes == 0) {
      std::ofstream(file.part, std::ios::binary);
      complete(sha, file);
      continue;
    }
    out.push_back(download(sha, 0));
  }
  return out;
}

std::optional<json> CheckpointDownloads::on_chunk(const json& body) {
  const auto sha = body["sha256"].get<std::string>();
  const auto it = files_.find(sha);
  if (it == files_.end()) return std::nullopt;  // dropped, or an answer to a request sent before a reconnect
  File& f = it->second;
  const fs::path& first = f.destinations.front().path;
  if (body.contains("error")) {
    fail(sha, first.string() + ": the coordinator cannot send this checkpoint file: " + body["error"].get<std::string>());
    return std::nullopt;
  }
  if (body.contains("bytes") && body["bytes"].get<std::int64_t>() != f.bytes) {
    fail(sha, first.string() + ": the coordinator's copy of this checkpoint file has " + body["bytes"].dump() + " bytes, the checkpoint says " +
                  std::to_string(f.bytes));
    return std::nullopt;
  }
  if (body["offset"].get<std::int64_t>() != f.have) return std::nullopt;  // a duplicate answer; the current one follows
  const auto data = schema::base64_decode(body["data"].get_ref<const std::string&>());
  if (!data || data->empty()) {
    fail(sha, first.string() + ": the coordinator sent no data at byte " + std::to_string(f.have) + " of " + std::to_string(f.bytes));
    return std::nullopt;
  }
  return append(sha, f, f.have, *data);
}

std::optional<json> CheckpointDownloads::append(const std::string& sha, File& f, std::int64_t offset, const std::string& data) {
  {
    std::ofstream out(f.part, std::ios::binary | std::ios::app);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out.flush()) {
      fail(sha, f.part.string() + ": cannot write");
      return std::nullopt;
    }
  }
  f.have = offset + static_cast<std::int64_t>(data.size());
  if (f.have > f.bytes) {
    fail(sha, f.destinations.front().path.string() + ": more bytes arrived than the checkpoint file has");
    return std::nullopt;
  }
  if (f.have < f.bytes) return download(sha, f.have);
  complete(sha, f);
  return std::nullopt;
}

// Verifies the whole file, puts it in place (and its copies), and settles its restorations.
void CheckpointDownloads::complete(const std::string& sha, File& f) {
  const fs::path part = f.part;
  if (schema::sha256_file(part) != sha)
    return fail(sha, f.destinations.front().path.string() + ": corrupt checkpoint file (its content does not match its recorded sha256)");
  const auto destinations = f.destinations;
  files_.erase(sha);
  std::error_code ec;
  fs::rename(part, destinations.front().path, ec);
  for (std::size_t i = 1; i < destinations.size() && !ec; ++i)
    fs::copy_file(destinations.front().path, destinations[i].path, fs::copy_options::overwrite_existing, ec);
  for (const auto& d : destinations) settle(d, ec ? d.path.string() + ": cannot write: " + ec.message() : "");
}

void CheckpointDownloads::fail(const std::string& sha, const std::string& why) {
  const auto it = files_.find(sha);
  if (it == files_.end()) return;
  spdlog::warn("checkpoint restore: {}", why);
  std::error_code ec;
  fs::remove(it->second.part, ec);
  const auto destinations = it->second.destinations;
  files_.erase(it);
  for (const auto& d : destinations) settle(d, why);
}

void CheckpointDownloads::settle(const Destination& d, const std::string& error) {
  const auto it = restores_.find(d.key);
  if (it == restores_.end()) return;
  if (!error.empty() && it->second.error.empty()) it->second.error = error;
  if (--it->second.remaining > 0) return;
  finished_.emplace_back(d.key, it->second.error);
  restores_.erase(it);
}

std::vector<json> CheckpointDownloads::resend() const {
  std::vector<json> out;
  for (const auto& [sha, f] : files_) out.push_back(download(sha, f.have));
  return out;
}

std::vector<std::pair<CheckpointDownloads::Key, std::string>> CheckpointDownloads::take_finished() { return std::exchange(finished_, {}); }

void CheckpointDownloads::drop(Key key) {
  restores_.erase(key);
  for (auto it = files_.begin(); it != files_.end();) {
    auto& ds = it->second.destinations;
    std::erase_if(ds, [&](const Destination& d) { return d.key == key; });
    if (!ds.empty()) {
      ++it;
      continue;
    }
    std::error_code ec;
    fs::remove(it->second.part, ec);
    it = files_.erase(it);
  }
}

}  // namespace lorafarm::worker
