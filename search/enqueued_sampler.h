// Configurations the user asks to try first (Optuna's enqueue_trial), in
// front of any sampler: suggest() hands them out in order, skipping those
// already in the history, and passes the rest of the request to the wrapped
// sampler with the handed-out ones added as running trials, so a model-based
// sampler treats them as pending.
#pragma once

#include <memory>
#include <vector>

#include "search/sampler.h"

namespace lorafarm::search {

class EnqueuedFirst : public Sampler {
 public:
  // `enqueued` must be valid in the sampler's space (the spec parser checks).
  EnqueuedFirst(std::unique_ptr<Sampler> inner, std::vector<Params> enqueued);

  std::vector<Params> suggest(int n, std::span<const Observation> history) override;
  void tell(const Observation& observation) override { inner_->tell(observation); }
  std::string name() const override { return inner_->name(); }
  bool slow() const override { return inner_->slow(); }

 private:
  std::unique_ptr<Sampler> inner_;
  std::vector<Params> enqueued_;
};

}  // namespace lorafarm::search
