// The sampler, run off the coordinator's loop when it is slow. A GP fit on a
// long history takes up to a second (docs/search.md); on the loop, that
// second would hold back every acknowledgement, heartbeat and dispatch. So a
// slow sampler's suggest() runs on its own thread with a copy of the history
// while the loop keeps serving workers, and the answer is picked up on a
// later turn. Fast samplers (random, Sobol, grid) answer at once, inline.
//
// One request at a time. While one runs, only that thread touches the
// sampler: tell() calls made meanwhile wait and are delivered when it ends.
#pragma once

#include <future>
#include <memory>
#include <optional>
#include <vector>

#include "search/sampler.h"

namespace lorafarm::coordinator {

class SuggestionThread {
 public:
  struct Answer {
    std::vector<search::Params> suggestions;
    int requested = 0;     // fewer suggestions than this: the sampler is exhausted
    double seconds = 0.0;  // how long suggest() took
  };

  explicit SuggestionThread(std::unique_ptr<search::Sampler> sampler);
  ~SuggestionThread();  // waits for a running request
  SuggestionThread(const SuggestionThread&) = delete;
  SuggestionThread& operator=(const SuggestionThread&) = delete;

  std::string name() const { return name_; }
  void tell(const search::Observation& observation);

  // Starts suggest(n, history): on a thread for a slow sampler, inline
  // otherwise. Call only when !busy().
  void request(int n, std::vector<search::Observation> history);
  // A request is running on the thread.
  bool busy() const;
  // The last request's answer, once it is there (rethrows what suggest()
  // threw); nullopt while it runs or when nothing was requested.
  std::optional<Answer> take();

 private:
  void deliver_held_tells();

  std::unique_ptr<search::Sampler> sampler_;
  std::string name_;
  bool slow_;
  std::future<Answer> running_;
  std::optional<Answer> ready_;
  std::vector<search::Observation> held_tells_;
};

}  // namespace lorafarm::coordinator
