// Fit tests and device choice for placement (see the header).
#include "coordinator/placement.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace lorafarm::coordinator {

using schema::Allocation;
using schema::ResourceNeed;
using schema::WorkerOffer;

namespace {

std::string mb(double value) { return std::to_string(static_cast<long long>(std::ceil(value))) + " MB"; }

std::string plural(long long n, const std::string& what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

}  // namespace

int gpus_wanted(const ResourceNeed& need, const WorkerOffer& offer) {
  if (need.gpus) return *need.gpus;
  return offer.gpus.empty() ? 0 : 1;
}

std::optional<Allocation> place(const ResourceNeed& need, const WorkerOffer& offer, std::span<const Allocation> held) {
  if (exceeds(need, offer)) return std::nullopt;
  double memory_used = 0;
  int cpus_used = 0;
  std::set<std::string> busy;
  for (const auto& a : held) {
    memory_used += a.memory_mb;
    cpus_used += a.cpus;
    if (a.gpus) busy.insert(a.gpus->begin(), a.gpus->end());
  }
  if (offer.memory_mb && memory_used + need.memory_mb > static_cast<double>(*offer.memory_mb)) return std::nullopt;
  if (offer.cpus && cpus_used + need.cpus > *offer.cpus) return std::nullopt;
  Allocation a{std::nullopt, need.memory_mb, need.cpus};
  const int wanted = gpus_wanted(need, offer);
  if (offer.gpus.empty()) return a;
  a.gpus.emplace();
  for (const auto& id : offer.gpus) {
    if (static_cast<int>(a.gpus->size()) == wanted) break;
    if (!busy.count(id)) a.gpus->push_back(id);
  }
  if (static_cast<int>(a.gpus->size()) < wanted) return std::nullopt;
  return a;
}

void grow_into_share(Allocation& allocation, const WorkerOffer& offer, std::span<const Allocation> held,
                     int free_slots) {
  if (!offer.memory_mb) return;
  double unheld = static_cast<double>(*offer.memory_mb);
  for (const auto& a : held) unheld -= a.memory_mb;
  allocation.memory_mb = std::max(allocation.memory_mb, unheld / std::max(1, free_slots));
}

std::optional<std::string> exceeds(const ResourceNeed& need, const WorkerOffer& offer) {
  const int gpus = gpus_wanted(need, offer);
  if (gpus > static_cast<int>(offer.gpus.size()))
    return "needs " + plural(gpus, "GPU") + ", offers " + plural(static_cast<long long>(offer.gpus.size()), "GPU");
  if (offer.memory_mb && need.memory_mb > static_cast<double>(*offer.memory_mb))
    return "needs " + mb(need.memory_mb) + ", offers " + mb(static_cast<double>(*offer.memory_mb));
  if (offer.cpus && need.cpus > *offer.cpus) return "needs " + plural(need.cpus, "cpu") + ", offers " + plural(*offer.cpus, "cpu");
  return std::nullopt;
}

std::string unplaceable_reason(const ResourceNeed& need, std::span<const std::pair<std::string, WorkerOffer>> workers,
                               const std::string& memory_note) {
  std::size_t most_gpus = 0;
  std::optional<std::int64_t> most_memory;  // nullopt while some worker's memory is unlimited
  std::optional<int> most_cpus;
  bool memory_unlimited = false, cpus_unlimited = false;
  for (const auto& [id, offer] : workers) {
    most_gpus = std::max(most_gpus, offer.gpus.size());
    if (!offer.memory_mb) memory_unlimited = true;
    else most_memory = std::max(most_memory.value_or(0), *offer.memory_mb);
    if (!offer.cpus) cpus_unlimited = true;
    else most_cpus = std::max(most_cpus.value_or(0), *offer.cpus);
  }
  const std::string where = workers.size() == 1 ? "the only connected worker (" + workers[0].first + ") offers " : "the largest connected worker offers ";
  if (need.gpus && *need.gpus > static_cast<int>(most_gpus))
    return "needs " + plural(*need.gpus, "GPU") + ", " + (workers.size() == 1 ? where : "the most a connected worker offers is ") + plural(static_cast<long long>(most_gpus), "GPU");
  if (!memory_unlimited && most_memory && need.memory_mb > static_cast<double>(*most_memory))
    return "needs " + mb(need.memory_mb) + " of memory" + memory_note + ", " + where + mb(static_cast<double>(*most_memory));
  if (!cpus_unlimited && most_cpus && need.cpus > *most_cpus)
    return "needs " + plural(need.cpus, "cpu") + ", " + where + plural(*most_cpus, "cpu");
  std::string each;
  for (const auto& [id, offer] : workers) each += (each.empty() ? "" : "; ") + id + ": " + exceeds(need, offer).value_or("fits");
  return "no connected worker offers all it needs together (" + each + ")";
}

}  // namespace lorafarm::coordinator
