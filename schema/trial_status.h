// The names of trial and attempt states as stored in the database and shown to
// users. Which transitions are legal is decided in one place:
// coordinator/trial_lifecycle.cpp.
#pragma once

#include <optional>
#include <string_view>

namespace lorafarm::schema {

enum class TrialStatus {
  Queued,      // waiting for a worker (new, or re-queued after a lost attempt)
  Running,     // leased to (worker, attempt)
  Completed,   // finished with its objective
  Failed,      // the trial's own fault: non-zero exit, signal, timeout, bad output
  Pruned,      // stopped early by the scheduler
  Infeasible,  // violated a constraint (e.g. killed for memory)
  Lost,        // its worker vanished on every allowed attempt
  Cancelled,   // attempt only: stopped by the user (the trial is re-queued)
  Stale,       // attempt only: a late result from an attempt that no longer held the lease
};

std::string_view to_string(TrialStatus status);
std::optional<TrialStatus> trial_status_from(std::string_view name);
// Completed, Failed, Pruned, Infeasible and Lost end a trial.
bool is_final(TrialStatus status);

}  // namespace lorafarm::schema
