#include "coordinator/peer_routes.h"

#include <gtest/gtest.h>

namespace lorafarm::coordinator {
namespace {

TEST(PeerRoutes, ARouteSpeaksForItsWorkerIdWithOrWithoutANonce) {
  EXPECT_TRUE(PeerRoutes::speaks_for("w1", "w1"));
  EXPECT_TRUE(PeerRoutes::speaks_for("w1~00ab", "w1"));
  EXPECT_FALSE(PeerRoutes::speaks_for("w1~", "w1"));
  EXPECT_FALSE(PeerRoutes::speaks_for("w12~00ab", "w1"));
  EXPECT_FALSE(PeerRoutes::speaks_for("w1", "w1~00ab"));
  EXPECT_FALSE(PeerRoutes::speaks_for("evil", "w1"));
}

TEST(PeerRoutes, UnboundNamesStandForThemselves) {
  PeerRoutes routes;
  EXPECT_EQ(routes.worker_of("w1~a"), "w1~a");
  EXPECT_EQ(routes.route_of("w1"), "w1");
}

TEST(PeerRoutes, ANewConnectionReplacesTheOldOne) {
  PeerRoutes routes;
  routes.bind("w1~a", "w1");
  EXPECT_EQ(routes.worker_of("w1~a"), "w1");
  EXPECT_EQ(routes.route_of("w1"), "w1~a");
  routes.bind("w1~b", "w1");
  EXPECT_EQ(routes.route_of("w1"), "w1~b");
  EXPECT_EQ(routes.worker_of("w1~a"), "w1~a");  // the old connection no longer speaks for w1
  EXPECT_EQ(routes.size(), 1u);
}

TEST(PeerRoutes, ForgettingAWorkerDropsItsRoute) {
  PeerRoutes routes;
  routes.bind("w1~a", "w1");
  routes.bind("w2~a", "w2");
  routes.forget("w1");
  routes.forget("nobody");
  EXPECT_EQ(routes.route_of("w1"), "w1");
  EXPECT_EQ(routes.worker_of("w1~a"), "w1~a");
  EXPECT_EQ(routes.route_of("w2"), "w2~a");
  EXPECT_EQ(routes.size(), 1u);
}

}  // namespace
}  // namespace lorafarm::coordinator
