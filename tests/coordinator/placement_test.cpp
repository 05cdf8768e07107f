// Placement rules: devices held by one trial at a time, memory and cores
// summed over a worker's running trials, and the reason a trial fits nowhere.
#include "coordinator/placement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lorafarm::coordinator {
namespace {

using schema::Allocation;
using schema::ResourceNeed;
using schema::WorkerOffer;
using ::testing::HasSubstr;

TEST(Placement, OneTrialPerDeviceByDefault) {
  const WorkerOffer four{{"0", "1", "2", "3"}, std::nullopt, std::nullopt};
  std::vector<Allocation> held;
  for (const char* expected : {"0", "1", "2", "3"}) {
    const auto a = place(ResourceNeed{}, four, held);
    ASSERT_TRUE(a && a->gpus);
    EXPECT_EQ(*a->gpus, std::vector<std::string>{expected});
    held.push_back(*a);
  }
  EXPECT_FALSE(place(ResourceNeed{}, four, held));  // every device is held
  held.erase(held.begin() + 2);                     // the trial on device 2 ended
  EXPECT_EQ(*place(ResourceNeed{}, four, held)->gpus, std::vector<std::string>{"2"});
  // A trial that asks for no device runs beside them and sees none.
  const auto cpu_only = place(ResourceNeed{0, 0, 0}, four, held);
  ASSERT_TRUE(cpu_only && cpu_only->gpus);
  EXPECT_TRUE(cpu_only->gpus->empty());
}

TEST(Placement, MemoryAndCoresAreSummedOverRunningTrials) {
  const WorkerOffer offer{{}, 4000, 8};
  const std::vector<Allocation> held{{std::nullopt, 3000, 2}};
  EXPECT_TRUE(place(ResourceNeed{std::nullopt, 1000, 6}, offer, held));   // exactly full
  EXPECT_FALSE(place(ResourceNeed{std::nullopt, 1001, 1}, offer, held));  // 4001 MB
  EXPECT_FALSE(place(ResourceNeed{std::nullopt, 500, 7}, offer, held));   // 9 cpus
  const auto a = place(ResourceNeed{std::nullopt, 500, 1}, offer, held);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->gpus);  // the worker offers no devices: the child's environment is left alone
  EXPECT_EQ(a->memory_mb, 500);
  // A worker that declares no memory is not limited by it; one without devices cannot give any.
  EXPECT_TRUE(place(ResourceNeed{std::nullopt, 1e6, 0}, WorkerOffer{}, {}));
  EXPECT_FALSE(place(ResourceNeed{1, 0, 0}, WorkerOffer{}, {}));
}

// batch_size auto fills what it is allocated: a share of the unheld memory
// per free slot, never less than its need, so the slots still free keep theirs.
TEST(Placement, AGrowingTrialTakesItsShareOfTheUnheldMemory) {
  const WorkerOffer offer{{}, 4000, std::nullopt};
  std::vector<Allocation> held;
  auto first = place(ResourceNeed{std::nullopt, 300, 0}, offer, held);
  ASSERT_TRUE(first);
  grow_into_share(*first, offer, held, 4);
  EXPECT_EQ(first->memory_mb, 1000);  // 4000 over 4 free slots
  held.push_back(*first);
  auto second = place(ResourceNeed{std::nullopt, 300, 0}, offer, held);
  ASSERT_TRUE(second);
  grow_into_share(*second, offer, held, 3);
  EXPECT_EQ(second->memory_mb, 1000);  // 3000 over 3
  held.push_back(*second);
  held.push_back({std::nullopt, 1900, 0});  // a fixed-size trial took more than a share
  auto third = place(ResourceNeed{std::nullopt, 50, 0}, offer, held);
  ASSERT_TRUE(third);
  grow_into_share(*third, offer, held, 1);
  EXPECT_EQ(third->memory_mb, 100);  // what is left
  auto small_share = place(ResourceNeed{std::nullopt, 80, 0}, offer, held);
  ASSERT_TRUE(small_share);
  grow_into_share(*small_share, offer, held, 2);
  EXPECT_EQ(small_share->memory_mb, 80);  // 100 over 2 is below its need: it keeps its need
  Allocation unlimited{std::nullopt, 300, 0};
  grow_into_share(unlimited, WorkerOffer{}, held, 1);
  EXPECT_EQ(unlimited.memory_mb, 300);  // a worker without a memory figure: nothing to share
}

TEST(Placement, ExceedsComparesWithTheWholeOffer) {
  const WorkerOffer offer{{"0"}, 16000, 4};
  EXPECT_FALSE(exceeds(ResourceNeed{1, 16000, 4}, offer));
  EXPECT_EQ(exceeds(ResourceNeed{2, 0, 0}, offer), "needs 2 GPUs, offers 1 GPU");
  EXPECT_EQ(exceeds(ResourceNeed{std::nullopt, 20000, 0}, offer), "needs 20000 MB, offers 16000 MB");
  EXPECT_EQ(exceeds(ResourceNeed{std::nullopt, 0, 5}, offer), "needs 5 cpus, offers 4 cpus");
}

TEST(Placement, TheReasonNamesTheLargestOffer) {
  const std::vector<std::pair<std::string, WorkerOffer>> workers{{"small", {{}, 1000, std::nullopt}}, {"big", {{}, 16000, std::nullopt}}};
  EXPECT_EQ(unplaceable_reason(ResourceNeed{std::nullopt, 20000, 0}, workers, ""),
            "needs 20000 MB of memory, the largest connected worker offers 16000 MB");
  EXPECT_EQ(unplaceable_reason(ResourceNeed{std::nullopt, 20000.2, 0}, workers, ", predicted by the engine"),
            "needs 20001 MB of memory, predicted by the engine, the largest connected worker offers 16000 MB");
  const std::vector<std::pair<std::string, WorkerOffer>> one{{"w", {{"0"}, std::nullopt, std::nullopt}}};
  EXPECT_EQ(unplaceable_reason(ResourceNeed{3, 0, 0}, one, ""), "needs 3 GPUs, the only connected worker (w) offers 1 GPU");
  // Each resource fits some worker, but no worker has all of them.
  const std::vector<std::pair<std::string, WorkerOffer>> split{{"gpu", {{"0"}, 1000, std::nullopt}}, {"mem", {{}, 9000, std::nullopt}}};
  EXPECT_THAT(unplaceable_reason(ResourceNeed{1, 5000, 0}, split, ""),
              HasSubstr("no connected worker offers all it needs together (gpu: needs 5000 MB, offers 1000 MB; mem: needs 1 GPU, offers 0 GPUs)"));
}

}  // namespace
}  // namespace lorafarm::coordinator
