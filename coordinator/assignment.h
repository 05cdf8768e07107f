// What a worker is told to run for a trial (the ASSIGN body): the trial's
// parameters and seed plus everything the spec says about how trials run.
// The coordinator sends it; `lorafarm rerun` rebuilds it from the database, so
// a re-run goes through exactly the same launch path as the original.
#pragma once

#include <nlohmann/json.hpp>

#include "schema/store.h"
#include "schema/sweep_spec.h"

namespace lorafarm::coordinator {

nlohmann::json assignment(const schema::SweepSpec& spec, const schema::TrialRecord& trial);

}  // namespace lorafarm::coordinator
