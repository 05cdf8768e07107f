// Enqueued configurations first, then the wrapped sampler.
#include "search/enqueued_sampler.h"

#include <algorithm>

namespace lorafarm::search {

EnqueuedFirst::EnqueuedFirst(std::unique_ptr<Sampler> inner, std::vector<Params> enqueued)
    : inner_(std::move(inner)), enqueued_(std::move(enqueued)) {}

std::vector<Params> EnqueuedFirst::suggest(int n, std::span<const Observation> history) {
  std::vector<Params> out;
  for (const Params& p : enqueued_) {
    if (static_cast<int>(out.size()) >= n) break;
    const bool tried = std::any_of(history.begin(), history.end(), [&](const Observation& o) { return o.params == p; });
    if (!tried && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  if (static_cast<int>(out.size()) >= n) return out;
  if (out.empty()) return inner_->suggest(n, history);
  std::vector<Observation> extended(history.begin(), history.end());
  for (const Params& p : out) {
    extended.push_back({static_cast<std::int64_t>(extended.size()), p, ObservationStatus::Running, {}, {}, {}});
  }
  for (auto& p : inner_->suggest(n - static_cast<int>(out.size()), extended)) out.push_back(std::move(p));
  return out;
}

}  // namespace lorafarm::search
