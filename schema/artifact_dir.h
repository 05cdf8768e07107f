// Where a database keeps its trials' files by default: one folder beside the
// database file, so the night's adapters outlive the sweep (docs/store.md).
#pragma once

#include <filesystem>

namespace lorafarm::schema {

// "<folder of db>/<db file name without extension>-artifacts", absolute:
// runs/quickstart.db -> runs/quickstart-artifacts.
std::filesystem::path default_artifact_dir(const std::filesystem::path& db);

// The trial folders a local sweep's workers write under an artifact folder:
// <artifacts>/trials/<experiment>/trial-<n>-a<attempt>/.
std::filesystem::path trial_workdir(const std::filesystem::path& artifact_dir);

}  // namespace lorafarm::schema
