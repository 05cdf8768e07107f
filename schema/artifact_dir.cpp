// The default artifact folder of a database (docs/store.md, "Artifact folder").
#include "schema/artifact_dir.h"

namespace lorafarm::schema {

std::filesystem::path default_artifact_dir(const std::filesystem::path& db) {
  const auto absolute = std::filesystem::absolute(db).lexically_normal();
  return absolute.parent_path() / (absolute.stem().string() + "-artifacts");
}

std::filesystem::path trial_workdir(const std::filesystem::path& artifact_dir) { return artifact_dir / "trials"; }

}  // namespace lorafarm::schema
