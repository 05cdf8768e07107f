// The coordinator's artifact store beside the database (docs/store.md,
// "Artifact store"): content-addressed objects, uploads in progress, each
// attempt's home folder, and the one lookup of where an attempt's adapter is
// on this machine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schema/store.h"

namespace lorafarm::schema {

// 64 lower-case hex digits (what may name an object file).
bool is_sha256_hex(std::string_view text);

// The attempt's folder in the store: <artifact_dir>/trials/<experiment>/trial-<n>-a<attempt>.
std::filesystem::path home_folder(const std::filesystem::path& artifact_dir, const std::string& experiment, std::int64_t trial, int attempt);
// Whether `path` is `root` or lies under it, compared lexically (`root` made absolute).
bool is_within(const std::filesystem::path& root, const std::filesystem::path& path);
// Where a file the worker recorded at `recorded_path` lives at home: the home
// folder plus the part of the worker's path after its own trial-<n>-a<attempt>
// folder (so local workers, which write there already, record the home path).
std::filesystem::path home_path(const std::filesystem::path& artifact_dir, const std::string& experiment, std::int64_t trial, int attempt,
                                const std::string& recorded_path);

// Objects under <artifact_dir>/objects/<sha[0:2]>/<sha>; uploads in progress
// under objects/tmp/<sha>.part. Every sha256 given must satisfy is_sha256_hex.
class ObjectStore {
 public:
  explicit ObjectStore(std::filesystem::path artifact_dir) : dir_(std::move(artifact_dir)) {}
  const std::filesystem::path& artifact_dir() const { return dir_; }
  std::filesystem::path object_path(const std::string& sha256) const;
  bool has(const std::string& sha256) const;
  // Bytes of the upload in progress (0 when none).
  std::int64_t received(const std::string& sha256) const;

  enum class Outcome {
    Accepted,     // appended; more to come
    WrongOffset,  // not appended: the chunk does not start where the upload stands
    Stored,       // complete, sha256 verified, renamed into place
    Corrupt,      // complete but the sha256 differs (or too many bytes): discarded
  };
  struct Append {
    Outcome outcome;
    std::int64_t offset;  // bytes the store now has of this upload
  };
  // Appends `data` at `offset` of the object's upload of `total_bytes`.
  Append append(const std::string& sha256, std::int64_t total_bytes, std::int64_t offset, std::string_view data) const;
  // Makes `home` the object's content (a hard link, else a copy).
  void materialise(const std::string& sha256, const std::filesystem::path& home) const;
  // Deletes the object when no home links it any more (its link count is 1):
  // a home that holds a copy instead of a link does not need it either.
  void remove_if_unlinked(const std::string& sha256) const;

 private:
  std::filesystem::path part_path(const std::string& sha256) const;
  std::filesystem::path dir_;
};

// The artifact folder of the database `store` reads (schema/artifact_dir.h);
// nullopt for an in-memory database.
std::optional<std::filesystem::path> artifact_dir_of(Store& store);

// One file of an attempt's adapter: as recorded, and where it is here (if anywhere).
struct AdapterFile {
  ArtifactRecord record;
  std::optional<std::filesystem::path> local;
};
struct AttemptAdapter {
  std::filesystem::path recorded_folder;  // on the worker that trained it
  std::filesystem::path folder;           // on this machine; empty when it is not here
  std::vector<AdapterFile> files;         // the files of the adapter's folder
};
// The local folder of an attempt's adapter (the folder of its
// adapter_config.json): its home copy in the store, else the worker's folder
// when it is on this machine. Nullopt when the attempt recorded no adapter.
std::optional<AttemptAdapter> attempt_adapter(Store& store, const std::string& experiment, std::int64_t trial_id, std::int64_t trial_number,
                                              int attempt);

}  // namespace lorafarm::schema
