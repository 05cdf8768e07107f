// Who holds which trial, and whether they are still alive (the worker queue of
// the Paranoid Pirate pattern). A lease on a trial lasts as long as its worker
// keeps talking: any message renews the worker, and a worker silent for longer
// than the lease timeout loses every trial it holds.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "schema/worker_resources.h"

namespace lorafarm::coordinator {

struct WorkerLease {
  std::string id;
  int slots = 0;
  int credit = 0;           // free slots the worker asked to fill
  bool connected = false;   // said HELLO to this coordinator run
  double last_heard = 0;    // seconds (monotonic)
  std::map<std::int64_t, int> trials;  // trial number -> attempt held
  schema::WorkerOffer offer;           // devices, memory and cores from its HELLO
};

class LeaseTable {
 public:
  explicit LeaseTable(double timeout_seconds) : timeout_(timeout_seconds) {}

  WorkerLease& worker(std::string_view id);  // creates a disconnected entry if new
  WorkerLease* find(std::string_view id);
  const std::map<std::string, WorkerLease, std::less<>>& workers() const { return workers_; }

  void grant(std::string_view worker, std::int64_t trial, int attempt);
  void release(std::int64_t trial);
  // The worker holding `trial`, if any.
  std::optional<std::string> holder(std::int64_t trial) const;

  void heard(std::string_view worker, double now);
  // Workers silent for longer than the timeout, with the trials they held;
  // they are removed from the table.
  std::vector<WorkerLease> expire(double now);
  void remove(std::string_view worker);

  double timeout() const { return timeout_; }
  int total_credit() const;

 private:
  double timeout_;
  std::map<std::string, WorkerLease, std::less<>> workers_;
  std::map<std::int64_t, std::string> holders_;
};

}  // namespace lorafarm::coordinator
