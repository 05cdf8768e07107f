// ASHA promotions on a hand-worked example, rungs and brackets.
#include "search/asha.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lorafarm::search {
namespace {

TEST(Asha, RungsGrowByTheReductionFactor) {
  const Asha asha({1, 27, 3, 3});
  EXPECT_EQ(asha.rungs(0), (std::vector<double>{1, 3, 9}));
  EXPECT_EQ(asha.rungs(1), (std::vector<double>{3, 9}));
  EXPECT_EQ(asha.rungs(2), (std::vector<double>{9}));
  EXPECT_EQ(asha.bracket_of(4), 1);
}

// η = 3, rungs at 1 and 3, full budget 9. Nine trials reach step 1 with values
// 5 3 8 1 9 2 7 4 6, in that order. Trial i continues iff its value is among
// the best max(1, ⌊n/3⌋) of the n values recorded so far:
//   5 (n=1, top 1) yes · 3 (n=2, top 1) yes · 8 (n=3, top 1) no · 1 (top 1) yes ·
//   9 (n=5, top 1) no · 2 (n=6, top 2: {1,2}) yes · 7 (n=7) no · 4 (n=8, top 2) no · 6 (n=9, top 3) no.
TEST(Asha, PromotesOnlyTheTopThirdAtEachRung) {
  Asha asha({1, 9, 3, 1});
  const double values[] = {5, 3, 8, 1, 9, 2, 7, 4, 6};
  const bool expected[] = {true, true, false, true, false, true, false, false, false};
  for (int t = 0; t < 9; ++t)
    EXPECT_EQ(asha.report(t, 1, values[t]) == AshaDecision::Continue, expected[t]) << "trial " << t;
  EXPECT_EQ(asha.rung_values(0, 0).size(), 9u);
  // Steps below the next rung never stop a trial.
  EXPECT_EQ(asha.report(0, 2, 100.0), AshaDecision::Continue);
  // Rung 3 (second rung): trial 3 arrives first with 0.9, then trial 0 with 4.5
  // (n=2, top 1: stop), trial 1 with 0.5 (best: continue).
  EXPECT_EQ(asha.report(3, 3, 0.9), AshaDecision::Continue);
  EXPECT_EQ(asha.report(0, 3, 4.5), AshaDecision::Stop);
  EXPECT_EQ(asha.report(1, 3, 0.5), AshaDecision::Continue);
  // Reaching the full budget ends a trial.
  EXPECT_EQ(asha.report(1, 9, 0.4), AshaDecision::Stop);
}

TEST(Asha, JumpingPastSeveralRungsRecordsEachUntilStopped) {
  Asha asha({1, 27, 3, 1});
  EXPECT_EQ(asha.report(0, 1, 1.0), AshaDecision::Continue);
  EXPECT_EQ(asha.report(0, 3, 1.0), AshaDecision::Continue);
  // Trial 1 reports first at step 10: recorded at rung 1 (worse than 1.0 → stop) and not at 3 or 9.
  EXPECT_EQ(asha.report(1, 10, 2.0), AshaDecision::Stop);
  EXPECT_EQ(asha.rung_values(0, 0), (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(asha.rung_values(0, 1), (std::vector<double>{1.0}));
  EXPECT_TRUE(asha.rung_values(0, 2).empty());
}

TEST(Asha, BracketsStartAtLaterRungs) {
  Asha asha({1, 9, 3, 2});
  // Trial 1 is in bracket 1, whose first rung is 3: step 1 decides nothing.
  EXPECT_EQ(asha.report(1, 1, 10.0), AshaDecision::Continue);
  EXPECT_TRUE(asha.rung_values(1, 0).empty());
  EXPECT_EQ(asha.report(1, 3, 10.0), AshaDecision::Continue);
  EXPECT_EQ(asha.report(3, 3, 11.0), AshaDecision::Stop);
  EXPECT_EQ(asha.rung_values(1, 0).size(), 2u);
}

TEST(Asha, NanStopsAndBadOptionsAreRejected) {
  Asha asha({1, 9, 3, 1});
  EXPECT_EQ(asha.report(0, 1, std::nan("")), AshaDecision::Stop);
  EXPECT_THROW(Asha({0, 9, 3, 1}), std::invalid_argument);
  EXPECT_THROW(Asha({1, 9, 1.5, 1}), std::invalid_argument);
  EXPECT_THROW(Asha({1, 9, 3, 5}), std::invalid_argument);
  EXPECT_THROW(asha.rung_values(0, 7), std::out_of_range);
}

}  // namespace
}  // namespace lorafarm::search
