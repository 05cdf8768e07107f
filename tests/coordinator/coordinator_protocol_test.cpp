// The coordinator against scripted workers on a real socket: assignment,
// results counted once, leases that expire, stale and duplicate results, and
// hostile traffic that must be dropped without disturbing real work.
#include "coordinator/coordinator.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <random>
#include <thread>

#include "coordinator/fake_worker.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::coordinator {
namespace {

using nlohmann::json;
using schema::MessageType;
using testing::FakeWorker;

schema::SweepSpec command_spec(int trials, int max_attempts = 3) {
  const json doc{{"name", "proto"},
                 {"seed", 1},
                 {"budget", {{"trials", trials}, {"max_attempts", max_attempts}}},
                 {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                 {"trial", {{"kind", "command"}, {"command", {"true"}}}}};
  return schema::parse_sweep_spec(doc.dump(), "/tmp");
}

struct Running {
  std::unique_ptr<Coordinator> coordinator;
  std::atomic<int> interrupts{0};
  std::future<RunOutcome> outcome;

  Running(schema::SweepSpec spec, const std::filesystem::path& db, int heartbeat_ms = 100, int liveness = 3) {
    CoordinatorOptions o;
    o.db_path = db;
    o.heartbeat_ms = heartbeat_ms;
    o.liveness = liveness;
    o.interrupts = &interrupts;
    o.cancel_grace_seconds = 0.2;
    coordinator = std::make_unique<Coordinator>(std::move(spec), o);
    outcome = std::async(std::launch::async, [this] { return coordinator->run(); });
  }
  ~Running() {
    if (outcome.valid()) {
      interrupts = 2;
      outcome.wait();
    }
  }
  RunOutcome wait() { return outcome.get(); }
};

json result_body(std::int64_t trial, int attempt, double loss) {
  return {{"trial", trial}, {"attempt", attempt}, {"metrics", {{"val_loss", loss}}}, {"wall_seconds", 0.01}};
}

TEST(CoordinatorProtocol, AssignsTrialsAndCountsEachResultOnce) {
  testing::ScratchDir dir;
  Running run(command_spec(2), dir / "db.sqlite");
  zmq::context_t ctx;
  FakeWorker w(ctx, run.coordinator->endpoint(), "w1");
  w.send(MessageType::Hello, w.hello_body(2));
  const auto welcome = w.expect(MessageType::Welcome);
  EXPECT_EQ(welcome.body["experiment"], "proto");
  w.send(MessageType::Request, {{"slots", 2}});
  const auto a0 = w.expect(MessageType::Assign);
  const auto a1 = w.expect(MessageType::Assign);
  EXPECT_EQ(a0.body["trial"], 0);
  EXPECT_EQ(a1.body["trial"], 1);
  EXPECT_EQ(a0.body["attempt"], 1);
  EXPECT_NE(a0.body["seed"], a1.body["seed"]);
  EXPECT_TRUE(a0.body["params"].contains("x"));

  w.send(MessageType::Progress, {{"trial", 0}, {"attempt", 1}, {"step", 5}, {"metrics", {{"val_loss", 3.0}}}});
  w.expect(MessageType::Continue);
  w.send(MessageType::Result, result_body(0, 1, 1.5));
  EXPECT_EQ(w.expect(MessageType::Ack).body["ended"], true);  // completed: its checkpoints may go
  w.send(MessageType::Result, result_body(0, 1, 1.4));  // a duplicate: acknowledged, not counted
  EXPECT_FALSE(w.expect(MessageType::Ack).body.contains("ended"));
  w.send(MessageType::Failed, {{"trial", 1}, {"attempt", 1}, {"cause", "signal"}, {"signal", 11}, {"message", "segv"}});
  w.expect(MessageType::Ack);
  w.expect(MessageType::Shutdown);
  const auto outcome = run.wait();
  EXPECT_TRUE(outcome.finished);

  auto store = schema::Store::open_reader(dir / "db.sqlite");
  const auto trials = store.trials(outcome.experiment_id);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].status, schema::TrialStatus::Completed);
  EXPECT_EQ(trials[0].objective, 1.5);
  EXPECT_EQ(trials[1].status, schema::TrialStatus::Failed);
  EXPECT_THAT(trials[1].error, ::testing::HasSubstr("signal: segv"));
  EXPECT_EQ(store.count_results(outcome.experiment_id), 1);
  EXPECT_EQ(store.metrics(trials[0].id).size(), 1u);
  int duplicates = 0;
  for (const auto& e : store.events(outcome.experiment_id)) duplicates += e.kind == "DUPLICATE_RESULT";
  EXPECT_EQ(duplicates, 1);
  EXPECT_TRUE(store.integrity_ok());
}

// A worker whose first WELCOME was slow says HELLO again, gets two WELCOMEs
// and asks twice for the same free slots: it still gets only as many trials as
// it has slots. (With devices offered, placement alone would stop it.)
TEST(CoordinatorProtocol, AWorkerThatSaysHelloTwiceGetsNoMoreTrialsThanItsSlots) {
  testing::ScratchDir dir;
  Running run(command_spec(4), dir / "db.sqlite");
  zmq::context_t ctx;
  FakeWorker w(ctx, run.coordinator->endpoint(), "w1");
  w.send(MessageType::Hello, w.hello_body(2));
  w.send(MessageType::Hello, w.hello_body(2));
  w.expect(MessageType::Welcome);
  w.expect(MessageType::Welcome);
  w.send(MessageType::Request, {{"slots", 2}});
  for (int i = 0; i < 2; ++i) {
    const auto assign = w.expect(MessageType::Assign);
    EXPECT_FALSE(assign.body["resources"].contains("gpus")) << "the worker offers no devices";
  }
  w.send(MessageType::Request, {{"slots", 2}});  // the second WELCOME's request, after the trials went out
  const auto extra = w.receive(600);
  EXPECT_FALSE(extra) << to_string(extra->type) << " " << extra->body.dump();
}

TEST(CoordinatorProtocol, ASilentWorkerLosesItsLeaseAndItsLateResultIsStale) {
  testing::ScratchDir dir;
  Running run(command_spec(1), dir / "db.sqlite", /*heartbeat_ms=*/50, /*liveness=*/2);
  zmq::context_t ctx;
  FakeWorker a(ctx, run.coordinator->endpoint(), "a");
  a.send(MessageType::Hello, a.hello_body(1));
  a.expect(MessageType::Welcome);
  a.send(MessageType::Request, {{"slots", 1}});
  EXPECT_EQ(a.expect(MessageType::Assign).body["attempt"], 1);
  // `a` now says nothing for longer than the lease (100 ms).
  std::this_thread::sleep_for(std::chrono::milliseconds(400));

  FakeWorker b(ctx, run.coordinator->endpoint(), "b");
  b.send(MessageType::Hello, b.hello_body(1));
  b.expect(MessageType::Welcome);
  b.send(MessageType::Request, {{"slots", 1}});
  const auto reassigned = b.expect(MessageType::Assign);
  EXPECT_EQ(reassigned.body["trial"], 0);
  EXPECT_EQ(reassigned.body["attempt"], 2);

  // `a` comes back with its old attempt: told to drop it, and its result is stale.
  a.send(MessageType::Result, result_body(0, 1, 0.1));
  EXPECT_EQ(a.expect(MessageType::Reject).body["rehello"], true);
  a.send(MessageType::Hello, a.hello_body(1, json::array({{{"trial", 0}, {"attempt", 1}}})));
  const auto welcome = a.expect(MessageType::Welcome);
  ASSERT_EQ(welcome.body["cancel"].size(), 1u);
  a.send(MessageType::Result, result_body(0, 1, 0.1));
  a.expect(MessageType::Ack);
  b.send(MessageType::Heartbeat, {{"running", {{{"trial", 0}, {"attempt", 2}}}}});
  b.send(MessageType::Result, result_body(0, 2, 0.7));
  b.expect(MessageType::Ack);
  const auto outcome = run.wait();
  EXPECT_TRUE(outcome.finished);

  auto store = schema::Store::open_reader(dir / "db.sqlite");
  const auto trials = store.trials(outcome.experiment_id);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].status, schema::TrialStatus::Completed);
  EXPECT_EQ(trials[0].objective, 0.7);  // the stale 0.1 was not counted
  EXPECT_EQ(trials[0].attempt, 2);
  const auto attempts = store.attempts(outcome.experiment_id);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].status, schema::TrialStatus::Lost);
  EXPECT_EQ(attempts[0].worker, "a");
  EXPECT_EQ(attempts[1].status, schema::TrialStatus::Completed);
  EXPECT_EQ(attempts[1].worker, "b");
  std::set<std::string> kinds;
  for (const auto& e : store.events(outcome.experiment_id)) kinds.insert(e.kind);
  EXPECT_TRUE(kinds.count("LEASE_EXPIRED"));
  EXPECT_TRUE(kinds.count("STALE_RESULT"));
  EXPECT_EQ(store.result(trials[0].id)->attempt, 2);
}

TEST(CoordinatorProtocol, ATrialLostOnEveryAttemptEndsLost) {
  testing::ScratchDir dir;
  Running run(command_spec(1, /*max_attempts=*/2), dir / "db.sqlite", 50, 2);
  zmq::context_t ctx;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    FakeWorker w(ctx, run.coordinator->endpoint(), "w" + std::to_string(attempt));
    w.send(MessageType::Hello, w.hello_body(1));
    w.expect(MessageType::Welcome);
    w.send(MessageType::Request, {{"slots", 1}});
    EXPECT_EQ(w.expect(MessageType::Assign).body["attempt"], attempt);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // silent: lease expires
  }
  const auto outcome = run.wait();
  EXPECT_TRUE(outcome.finished);
  auto store = schema::Store::open_reader(dir / "db.sqlite");
  EXPECT_EQ(store.trials(outcome.experiment_id).at(0).status, schema::TrialStatus::Lost);
}

// Must-show 4: garbage, a wrong protocol version, an oversized frame, valid
// JSON of the wrong types and a RESULT for a trial the sender does not hold
// are logged and dropped; a real worker is served throughout.
TEST(CoordinatorProtocol, HostileTrafficIsDroppedAndRealWorkKeepsFlowing) {
  testing::ScratchDir dir;
  // The good worker sends no heartbeats while the evil one talks: a liveness
  // of 5 s keeps a loaded machine from counting it lost meanwhile.
  Running run(command_spec(3), dir / "db.sqlite", /*heartbeat_ms=*/100, /*liveness=*/50);
  const auto endpoint = run.coordinator->endpoint();
  zmq::context_t ctx;
  FakeWorker good(ctx, endpoint, "good");
  good.send(MessageType::Hello, good.hello_body(1));
  good.expect(MessageType::Welcome);
  good.send(MessageType::Request, {{"slots", 1}});
  auto assign = good.expect(MessageType::Assign);

  FakeWorker evil(ctx, endpoint, "evil");
  std::mt19937 rng(7);
  std::string noise(512, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  evil.send_raw({noise});
  evil.send_raw({noise, noise, noise, noise});
  evil.send_raw({"LORAFARM/0", "HELLO", evil.hello_body(1).dump()});
  evil.send_raw({std::string(schema::kProtocolVersion), "HELLO", R"({"worker_id": 5, "host": [], "slots": "many", "version": 1})"});
  evil.send_raw({std::string(schema::kProtocolVersion), "REQUEST", "{\"slots\": 1e309}"});
  evil.send(MessageType::Result, result_body(assign.body["trial"], 1, -100.0));  // before HELLO
  EXPECT_EQ(evil.expect(MessageType::Reject).body["rehello"], true);
  evil.send(MessageType::Hello, evil.hello_body(1));
  evil.expect(MessageType::Welcome);
  evil.send(MessageType::Result, result_body(assign.body["trial"], 1, -100.0));  // a trial it does not hold
  evil.expect(MessageType::Ack);
  evil.send(MessageType::Result, result_body(999, 1, -100.0));  // a trial that does not exist
  evil.expect(MessageType::Ack);
  evil.send(MessageType::Assign, {{"nonsense", true}});  // a type workers may not send

  // An oversized body: libzmq itself drops the connection that sent it (so
  // whatever that peer sent next may be lost), hence a peer of its own.
  FakeWorker huge(ctx, endpoint, "huge");
  huge.send_raw({std::string(schema::kProtocolVersion), "HELLO", std::string(2 * schema::kMaxBodyBytes, '{')});

  // Raw TCP bytes that are not ZMTP at all.
  if (endpoint.rfind("tcp://127.0.0.1:", 0) == 0) {
    const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    [[maybe_unused]] auto n = ::write(fd, noise.data(), noise.size());
    ::close(fd);
  }

  // The real worker finishes all three trials.
  for (int i = 0; i < 3; ++i) {
    if (i > 0) assign = good.expect(MessageType::Assign);
    good.send(MessageType::Result, result_body(assign.body["trial"], assign.body["attempt"], 1.0 + i));
    good.expect(MessageType::Ack);
    good.send(MessageType::Request, {{"slots", 1}});
  }
  const auto outcome = run.wait();
  EXPECT_TRUE(outcome.finished);
  EXPECT_GE(outcome.dropped_messages, 5);
  auto store = schema::Store::open_reader(dir / "db.sqlite");
  EXPECT_EQ(store.count_results(outcome.experiment_id), 3);
  for (const auto& t : store.trials(outcome.experiment_id)) {
    EXPECT_EQ(t.status, schema::TrialStatus::Completed);
    EXPECT_GE(*t.objective, 1.0);
  }
  int not_held = 0;
  for (const auto& e : store.events(outcome.experiment_id)) not_held += e.kind == "NOT_HELD_RESULT";
  EXPECT_EQ(not_held, 2);
  EXPECT_TRUE(store.integrity_ok());
}

TEST(CoordinatorProtocol, ResumesAnExperimentAndRefusesAChangedSpec) {
  testing::ScratchDir dir;
  {
    Running run(command_spec(2), dir / "db.sqlite");
    zmq::context_t ctx;
    FakeWorker w(ctx, run.coordinator->endpoint(), "w");
    w.send(MessageType::Hello, w.hello_body(1));
    w.expect(MessageType::Welcome);
    w.send(MessageType::Request, {{"slots", 1}});
    w.expect(MessageType::Assign);
    w.send(MessageType::Result, result_body(0, 1, 2.0));
    w.expect(MessageType::Ack);
    run.interrupts = 1;  // stop dispatching: trial 1 is never created
    const auto outcome = run.wait();
    EXPECT_FALSE(outcome.finished);
    EXPECT_TRUE(outcome.interrupted);
  }
  {
    CoordinatorOptions o;
    o.db_path = dir / "db.sqlite";
    auto changed = command_spec(2);
    changed.document["search_space"]["x"]["high"] = 2;
    EXPECT_THROW(Coordinator(changed, o), std::runtime_error);
  }
  Running run(command_spec(2), dir / "db.sqlite");
  EXPECT_TRUE(run.coordinator->resumed());
  zmq::context_t ctx;
  FakeWorker w(ctx, run.coordinator->endpoint(), "w");
  w.send(MessageType::Hello, w.hello_body(1));
  w.expect(MessageType::Welcome);
  w.send(MessageType::Request, {{"slots", 1}});
  const auto a = w.expect(MessageType::Assign);
  EXPECT_EQ(a.body["trial"], 1);
  w.send(MessageType::Result, result_body(1, 1, 1.0));
  w.expect(MessageType::Ack);
  EXPECT_TRUE(run.wait().finished);
}

}  // namespace
}  // namespace lorafarm::coordinator
