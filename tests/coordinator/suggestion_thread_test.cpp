// The sampler off the coordinator's loop: a slow sampler answers on its own
// thread, tells made meanwhile wait their turn, failures come back to the caller.
#include "coordinator/suggestion_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace lorafarm::coordinator {
namespace {

using namespace std::chrono_literals;

class FakeSampler : public search::Sampler {
 public:
  explicit FakeSampler(bool slow) : slow_(slow) {}
  std::vector<search::Params> suggest(int n, std::span<const search::Observation> history) override {
    if (slow_) std::this_thread::sleep_for(150ms);
    if (fail) throw std::runtime_error("model fit failed");
    seen_history = history.size();
    tells_at_suggest = told.size();
    std::vector<search::Params> out;
    for (int i = 0; i < n; ++i) out.push_back({{"x", static_cast<int>(history.size()) + i}});
    return out;
  }
  void tell(const search::Observation& o) override { told.push_back(o.trial_number); }
  std::string name() const override { return "fake"; }
  bool slow() const override { return slow_; }

  bool fail = false;
  std::size_t seen_history = 0, tells_at_suggest = 0;
  std::vector<std::int64_t> told;

 private:
  bool slow_;
};

search::Observation finished(std::int64_t number) {
  return {number, {{"x", number}}, search::ObservationStatus::Completed, {1.0}, {}, {}};
}

TEST(SuggestionThread, AFastSamplerAnswersInline) {
  auto owned = std::make_unique<FakeSampler>(false);
  FakeSampler& fake = *owned;
  SuggestionThread thread(std::move(owned));
  EXPECT_EQ(thread.name(), "fake");
  EXPECT_FALSE(thread.take());  // nothing asked yet
  thread.request(2, {finished(0)});
  EXPECT_FALSE(thread.busy());
  const auto answer = thread.take();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->suggestions.size(), 2u);
  EXPECT_EQ(answer->requested, 2);
  EXPECT_EQ(fake.seen_history, 1u);
  EXPECT_FALSE(thread.take());  // once
}

TEST(SuggestionThread, AnExpensiveSamplerRunsOnItsThreadAndHeldTellsFollowInOrder) {
  auto owned = std::make_unique<FakeSampler>(true);
  FakeSampler& fake = *owned;
  SuggestionThread thread(std::move(owned));
  thread.tell(finished(0));  // idle: delivered at once
  thread.request(3, {finished(0), finished(1)});
  EXPECT_TRUE(thread.busy());  // the call returned while the fit still runs
  EXPECT_FALSE(thread.take());
  thread.tell(finished(1));  // while it computes: held
  thread.tell(finished(2));
  EXPECT_EQ(fake.told, (std::vector<std::int64_t>{0}));
  std::optional<SuggestionThread::Answer> answer;
  for (int i = 0; i < 200 && !answer; ++i) {
    std::this_thread::sleep_for(5ms);
    answer = thread.take();
  }
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->suggestions.size(), 3u);
  EXPECT_GE(answer->seconds, 0.14);
  EXPECT_EQ(fake.tells_at_suggest, 1u);  // the held tells did not reach the sampler mid-fit
  EXPECT_EQ(fake.told, (std::vector<std::int64_t>{0, 1, 2}));
  thread.tell(finished(3));
  EXPECT_EQ(fake.told.back(), 3);
}

TEST(SuggestionThread, TheSamplersFailureReachesTheCaller) {
  auto owned = std::make_unique<FakeSampler>(true);
  owned->fail = true;
  SuggestionThread thread(std::move(owned));
  thread.request(1, {});
  EXPECT_THROW(
      {
        for (int i = 0; i < 200; ++i) {
          std::this_thread::sleep_for(5ms);
          if (thread.take()) break;
        }
      },
      std::runtime_error);
  EXPECT_FALSE(thread.busy());
}

// What a BlockingSampler went through, kept outside it so the test can read
// it after the sampler is destroyed.
struct SuggestLog {
  std::mutex mutex;
  std::condition_variable changed;
  bool entered = false;   // suggest() started
  bool released = false;  // the test let it finish
  bool returned = false;  // suggest() returned
  bool destroyed = false;
  bool destroyed_mid_suggest = false;
};

// suggest() blocks until the test releases it.
class BlockingSampler : public search::Sampler {
 public:
  explicit BlockingSampler(std::shared_ptr<SuggestLog> log) : log_(std::move(log)) {}
  ~BlockingSampler() override {
    std::lock_guard lock(log_->mutex);
    log_->destroyed = true;
    log_->destroyed_mid_suggest = log_->entered && !log_->returned;
  }
  std::vector<search::Params> suggest(int n, std::span<const search::Observation>) override {
    const auto log = log_;  // our own reference: the log outlives even a wrongly destroyed sampler
    std::unique_lock lock(log->mutex);
    log->entered = true;
    log->changed.notify_all();
    log->changed.wait(lock, [&] { return log->released; });
    std::vector<search::Params> out(static_cast<std::size_t>(n), search::Params{{"x", 1}});
    log->returned = true;
    return out;
  }
  void tell(const search::Observation&) override {}
  std::string name() const override { return "blocking"; }
  bool slow() const override { return true; }

 private:
  std::shared_ptr<SuggestLog> log_;
};

TEST(SuggestionThread, DestroyingItWaitsForARunningRequest) {
  auto log = std::make_shared<SuggestLog>();
  auto thread = std::make_unique<SuggestionThread>(std::make_unique<BlockingSampler>(log));
  thread->request(1, {});
  {
    std::unique_lock lock(log->mutex);
    ASSERT_TRUE(log->changed.wait_for(lock, 5s, [&] { return log->entered; }));
  }
  std::atomic<bool> destructor_returned{false};
  std::thread destroyer([&] {
    thread.reset();
    destructor_returned = true;
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(destructor_returned) << "the destructor returned while suggest() still ran";
  {
    std::lock_guard lock(log->mutex);
    EXPECT_FALSE(log->destroyed) << "the sampler was destroyed while suggest() still ran";
    log->released = true;
  }
  log->changed.notify_all();
  destroyer.join();
  std::lock_guard lock(log->mutex);
  EXPECT_TRUE(log->returned);
  EXPECT_TRUE(log->destroyed);  // the thread owns its sampler and destroys it, after the request
  EXPECT_FALSE(log->destroyed_mid_suggest);
}

}  // namespace
}  // namespace lorafarm::coordinator
