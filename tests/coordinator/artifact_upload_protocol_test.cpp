// The coordinator's side of UPLOAD over a real socket, driven by a scripted
// worker: chunks at the wrong offset are refused with the offset it has,
// uploads nobody asked for are refused, corrupt content is discarded and
// recorded, and a good file lands in the store. The oracle for the digest is
// FIPS 180-4's SHA-256("abc").
#include <gtest/gtest.h>

#include <future>

#include "coordinator/coordinator.h"
#include "fake_worker.h"
#include "schema/base64.h"
#include "test_support.h"

namespace lorafarm::coordinator {
namespace {

using nlohmann::json;
using schema::MessageType;
using testing::FakeWorker;
namespace fs = std::filesystem;

const std::string kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

json upload(std::int64_t offset, const std::string& bytes, const std::string& sha = kAbc) {
  return {{"sha256", sha}, {"offset", offset}, {"data", schema::base64_encode(bytes)}};
}

TEST(ArtifactUploadProtocol, RefusesWrongOffsetsAndCorruptContentAndStoresAGoodFile) {
  testing::ScratchDir dir;
  const json doc{{"name", "up"},
                 {"seed", 1},
                 {"budget", {{"trials", 2}}},
                 {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                 {"trial", {{"kind", "command"}, {"command", {"true"}}}}};
  std::atomic<int> interrupts{0};
  CoordinatorOptions o;
  o.db_path = dir / "up.db";
  o.heartbeat_ms = 100;
  o.liveness = 50;
  o.interrupts = &interrupts;
  o.artifact_wait_seconds = 0;
  Coordinator coordinator(schema::parse_sweep_spec(doc.dump(), "/tmp"), o);
  auto outcome = std::async(std::launch::async, [&] { return coordinator.run(); });
  zmq::context_t ctx;
  FakeWorker w(ctx, coordinator.endpoint(), "far");
  w.send(MessageType::Hello, w.hello_body(2));
  w.expect(MessageType::Welcome);
  w.send(MessageType::Request, {{"slots", 2}});
  w.expect(MessageType::Assign);
  w.expect(MessageType::Assign);
  const std::string path = "/far/up/trial-0-a1/artifacts/abc.txt";
  w.send(MessageType::Result,
         {{"trial", 0}, {"attempt", 1}, {"metrics", {{"val_loss", 1.0}}}, {"artifacts", {{{"path", path}, {"sha256", kAbc}, {"bytes", 3}}}}});
  w.expect(MessageType::Ack);
  const auto fetch = w.expect(MessageType::Fetch);
  ASSERT_EQ(fetch.body["files"].size(), 1u);
  EXPECT_EQ(fetch.body["files"][0]["path"], path);

  w.send(MessageType::Upload, upload(0, "x", std::string(64, 'e')));  // not asked for
  EXPECT_TRUE(w.expect(MessageType::UploadAck).body.contains("error"));
  w.send(MessageType::Upload, upload(0, "a"));
  EXPECT_EQ(w.expect(MessageType::UploadAck).body["offset"], 1);
  w.send(MessageType::Upload, upload(0, "a"));  // again: refused with the offset the store has
  EXPECT_EQ(w.expect(MessageType::UploadAck).body["offset"], 1);
  w.send(MessageType::Upload, {{"sha256", kAbc}, {"offset", 1}, {"data", "not base64!"}});  // dropped, unanswered
  w.send(MessageType::Upload, upload(1, "bX"));  // "abX" is not "abc"
  const auto corrupt = w.expect(MessageType::UploadAck).body;
  EXPECT_TRUE(corrupt.contains("error")) << corrupt.dump();
  const fs::path object = dir / "up-artifacts" / "objects" / "ba" / kAbc;
  EXPECT_FALSE(fs::exists(object));

  // A discarded file is asked for again by a later sweep; here the second trial records it anew.
  w.send(MessageType::Result, {{"trial", 1}, {"attempt", 1}, {"metrics", {{"val_loss", 2.0}}},
                               {"artifacts", {{{"path", "/far/up/trial-1-a1/artifacts/abc.txt"}, {"sha256", kAbc}, {"bytes", 3}}}}});
  w.expect(MessageType::Ack);
  w.expect(MessageType::Fetch);
  w.send(MessageType::Upload, upload(0, "abc"));
  const auto done = w.expect(MessageType::UploadAck).body;
  EXPECT_EQ(done["offset"], 3);
  EXPECT_EQ(done["complete"], true);
  EXPECT_EQ(testing::read_file(object), "abc");
  EXPECT_EQ(testing::read_file(dir / "up-artifacts" / "trials" / "up" / "trial-1-a1" / "artifacts" / "abc.txt"), "abc");
  const auto result = outcome.get();
  EXPECT_TRUE(result.finished);
  EXPECT_GE(result.dropped_messages, 1);

  auto store = schema::Store::open_reader(dir / "up.db");
  std::multiset<std::string> kinds;
  for (const auto& ev : store.events(store.find_experiment("up")->id)) kinds.insert(ev.kind);
  EXPECT_EQ(kinds.count("ARTIFACT_CORRUPT"), 1u);
  EXPECT_EQ(kinds.count("ARTIFACT_STORED"), 1u);
}

}  // namespace
}  // namespace lorafarm::coordinator
