// Placement: whether a trial's needs fit a worker's offer next to the trials
// it already runs, which devices it gets, and why a trial fits no worker.
// Memory and cores are summed over a worker's running trials; a device is
// held by one trial at a time. Pure functions: the dispatch loop
// (trial_placement.cpp) keeps the state.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "schema/trial_resources.h"
#include "schema/worker_resources.h"

namespace lorafarm::coordinator {

// Devices a trial takes on `offer`: its request, else one on a worker that
// offers devices and none elsewhere.
int gpus_wanted(const schema::ResourceNeed& need, const schema::WorkerOffer& offer);

// The allocation for `need` on a worker offering `offer` whose running trials
// hold `held`; nullopt when it does not fit now.
std::optional<schema::Allocation> place(const schema::ResourceNeed& need, const schema::WorkerOffer& offer,
                                        std::span<const schema::Allocation> held);

// For a trial that grows into the memory it is given (an engine trial with
// batch_size auto picks its micro-batch from it): at least its allocation,
// else its share of the memory `held` leaves on the worker, split over the
// worker's `free_slots`, so trials started later in the other slots still
// find theirs. Workers that offer no memory figure keep the allocation.
void grow_into_share(schema::Allocation& allocation, const schema::WorkerOffer& offer,
                     std::span<const schema::Allocation> held, int free_slots);

// Why `need` exceeds what `offer` has in total (it could never run there), or nullopt.
std::optional<std::string> exceeds(const schema::ResourceNeed& need, const schema::WorkerOffer& offer);

// Why `need` fits none of `workers` (id, offer), each of which it exceeds:
// the largest offer of the first short resource, e.g. "needs 20000 MB of
// memory, the largest connected worker offers 16000 MB". `memory_note` tells
// where the memory figure came from (", predicted by the engine").
std::string unplaceable_reason(const schema::ResourceNeed& need, std::span<const std::pair<std::string, schema::WorkerOffer>> workers,
                               const std::string& memory_note);

}  // namespace lorafarm::coordinator
