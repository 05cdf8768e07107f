// A token bucket: at most `rate` events a second on average, bursts of `burst`.
// The coordinator meters HELLOs with it so a peer reconnecting in a loop cannot
// keep it busy writing the workers table.
#pragma once

#include <algorithm>

namespace lorafarm::coordinator {

class TokenBucket {
 public:
  TokenBucket(double rate_per_second, double burst) : rate_(rate_per_second), burst_(burst), tokens_(burst) {}

  // Takes one token at time `now` (seconds); false when the bucket is empty.
  bool take(double now) {
    tokens_ = std::min(burst_, tokens_ + (now - last_) * rate_);
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double rate_;
  double burst_;
  double tokens_;
  double last_ = 0;
};

}  // namespace lorafarm::coordinator
