// Status names, upper-case in the database (`SELECT * FROM trials WHERE status = 'FAILED'`).
#include "schema/trial_status.h"

#include <array>
#include <utility>

namespace lorafarm::schema {
namespace {
constexpr std::array<std::pair<TrialStatus, std::string_view>, 9> kNames{{
    {TrialStatus::Queued, "QUEUED"},
    {TrialStatus::Running, "RUNNING"},
    {TrialStatus::Completed, "COMPLETED"},
    {TrialStatus::Failed, "FAILED"},
    {TrialStatus::Pruned, "PRUNED"},
    {TrialStatus::Infeasible, "INFEASIBLE"},
    {TrialStatus::Lost, "LOST"},
    {TrialStatus::Cancelled, "CANCELLED"},
    {TrialStatus::Stale, "STALE"},
}};
}  // namespace

std::string_view to_string(TrialStatus status) {
  for (const auto& [s, name] : kNames)
    if (s == status) return name;
  return "UNKNOWN";
}

std::optional<TrialStatus> trial_status_from(std::string_view name) {
  for (const auto& [s, n] : kNames)
    if (n == name) return s;
  return std::nullopt;
}

bool is_final(TrialStatus status) {
  switch (status) {
    case TrialStatus::Completed:
    case TrialStatus::Failed:
    case TrialStatus::Pruned:
    case TrialStatus::Infeasible:
    case TrialStatus::Lost:
      return true;
    default:
      return false;
  }
}

}  // namespace lorafarm::schema
