// Lease bookkeeping; the coordinator turns expiries into LOST attempts.
#include "coordinator/lease_table.h"

namespace lorafarm::coordinator {

WorkerLease& LeaseTable::worker(std::string_view id) {
  auto it = workers_.find(id);
  if (it == workers_.end()) {
    it = workers_.emplace(std::string(id), WorkerLease{}).first;
    it->second.id = std::string(id);
  }
  return it->second;
}

WorkerLease* LeaseTable::find(std::string_view id) {
  const auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

void LeaseTable::grant(std::string_view worker_id, std::int64_t trial, int attempt) {
  release(trial);
  worker(worker_id).trials[trial] = attempt;
  holders_[trial] = std::string(worker_id);
}

void LeaseTable::release(std::int64_t trial) {
  const auto it = holders_.find(trial);
  if (it == holders_.end()) return;
  if (auto* w = find(it->second)) w->trials.erase(trial);
  holders_.erase(it);
}

std::optional<std::string> LeaseTable::holder(std::int64_t trial) const {
  const auto it = holders_.find(trial);
  if (it == holders_.end()) return std::nullopt;
  return it->second;
}

void LeaseTable::heard(std::string_view worker_id, double now) {
  if (auto* w = find(worker_id)) w->last_heard = std::max(w->last_heard, now);
}

std::vector<WorkerLease> LeaseTable::expire(double now) {
  std::vector<WorkerLease> gone;
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (now - it->second.last_heard <= timeout_) {
      ++it;
      continue;
    }
    for (const auto& [trial, attempt] : it->second.trials) holders_.erase(trial);
    gone.push_back(std::move(it->second));
    it = workers_.erase(it);
  }
  return gone;
}

void LeaseTable::remove(std::string_view id) {
  const auto it = workers_.find(id);
  if (it == workers_.end()) return;
  for (const auto& [trial, attempt] : it->second.trials) holders_.erase(trial);
  workers_.erase(it);
}

int LeaseTable::total_credit() const {
  int total = 0;
  for (const auto& [id, w] : workers_) total += w.connected ? w.credit : 0;
  return total;
}

}  // namespace lorafarm::coordinator
