// `lorafarm validate SPEC`: checks a sweep spec and shows what its trials run
// (a preset's expanded command line, config file and metric collectors).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "schema/sweep_spec.h"

namespace lorafarm::cli {

// What one trial of `spec` runs, with every searched parameter, the seed
// and the trial folder as {placeholders}: {"kind", "command", "files",
// "parameters" (where each goes), "metrics"}.
nlohmann::json trial_expansion(const schema::SweepSpec& spec);

// Loads the spec (throws SpecError naming the field) and prints its expansion.
int check_spec(const std::filesystem::path& path, bool json, std::ostream& out);

}  // namespace lorafarm::cli
