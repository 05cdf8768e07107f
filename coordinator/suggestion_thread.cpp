// The sampler on its own thread (see the header).
#include "coordinator/suggestion_thread.h"

#include <chrono>
#include <stdexcept>
#include <utility>

namespace lorafarm::coordinator {
namespace {

SuggestionThread::Answer suggest(search::Sampler& sampler, int n, const std::vector<search::Observation>& history) {
  const auto started = std::chrono::steady_clock::now();
  SuggestionThread::Answer answer;
  answer.suggestions = sampler.suggest(n, history);
  answer.requested = n;
  answer.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return answer;
}

}  // namespace

SuggestionThread::SuggestionThread(std::unique_ptr<search::Sampler> sampler)
    : sampler_(std::move(sampler)), name_(sampler_->name()), slow_(sampler_->slow()) {}

SuggestionThread::~SuggestionThread() {
  if (running_.valid()) running_.wait();
}

void SuggestionThread::tell(const search::Observation& observation) {
  if (running_.valid()) {  // running, or finished and not taken yet: keep the order of tells
    held_tells_.push_back(observation);
    return;
  }
  sampler_->tell(observation);
}

void SuggestionThread::request(int n, std::vector<search::Observation> history) {
  if (busy()) throw std::logic_error("SuggestionThread::request while a request is running");
  ready_.reset();
  if (!slow_) {
    ready_ = suggest(*sampler_, n, history);
    return;
  }
  running_ = std::async(std::launch::async, [this, n, history = std::move(history)] { return suggest(*sampler_, n, history); });
}

bool SuggestionThread::busy() const {
  return running_.valid() && running_.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
}

std::optional<SuggestionThread::Answer> SuggestionThread::take() {
  if (running_.valid()) {
    if (busy()) return std::nullopt;
    auto future = std::move(running_);
    deliver_held_tells();
    ready_ = future.get();  // rethrows the sampler's exception
  }
  return std::exchange(ready_, std::nullopt);
}

void SuggestionThread::deliver_held_tells() {
  for (const auto& o : held_tells_) sampler_->tell(o);
  held_tells_.clear();
}

}  // namespace lorafarm::coordinator
