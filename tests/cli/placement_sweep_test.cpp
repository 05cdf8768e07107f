// Placement end to end (issue 19 item 3): real `lorafarm sweep --bind` and
// `lorafarm worker` processes over TCP, a real SQLite store. Devices given
// with --gpus reach each trial's child as CUDA_VISIBLE_DEVICES and
// HIP_VISIBLE_DEVICES, one trial per device; trials go only to workers whose
// --memory holds them; a trial too big for every worker is INFEASIBLE with
// the reason, an engine trial by the engine's own prediction.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/background_process.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// Leases last 3 heartbeats: long enough that a loaded machine does not lose them.
constexpr const char* kHeartbeatMs = "250";

// A coordinator on a TCP port and the workers the test starts against it.
struct PlacementSweep {
  ScratchDir dir;
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  std::string db = (dir / "placement.db").string();
  std::vector<std::unique_ptr<BackgroundProcess>> workers;

  explicit PlacementSweep(const json& spec) { write_file(dir / "spec.json", spec.dump()); }

  // Runs the sweep to its end with one worker per entry of `worker_args`
  // (id, extra arguments); returns the coordinator's exit code.
  std::optional<int> run(const std::vector<std::pair<std::string, std::vector<std::string>>>& worker_args) {
    BackgroundProcess coordinator({lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", db, "--bind", endpoint,
                                   "--heartbeat-ms", kHeartbeatMs, "--infeasible-after", "2", "--log-level", "info"},
                                  dir / "coordinator.log");
    for (const auto& [id, extra] : worker_args) {
      std::vector<std::string> argv{lorafarm_binary().string(), "worker", "--connect", endpoint, "--id", id,
                                    "--workdir", (dir / ("work-" + id)).string(), "--heartbeat-ms", kHeartbeatMs};
      argv.insert(argv.end(), extra.begin(), extra.end());
      workers.push_back(std::make_unique<BackgroundProcess>(argv, dir / (id + ".log")));
    }
    const auto code = coordinator.wait(240);
    for (auto& w : workers) w->wait(10);
    return code;
  }
  std::string logs() const { return read_file(dir / "coordinator.log"); }
};

json command_spec(const std::string& name, int trials, const json& space, const std::string& command) {
  return {{"name", name},
          {"seed", 1},
          {"budget", {{"trials", trials}}},
          {"search_space", space},
          {"trial", {{"kind", "command"}, {"command", command}, {"timeout_seconds", 60}}}};
}

struct Seen {
  std::string cuda, hip;
  double start = 0, end = 0;
};

// Each trial writes what it saw: "CUDA HIP START END" in seen-<trial>.
std::map<int, Seen> read_seen(const std::filesystem::path& dir, int trials) {
  std::map<int, Seen> seen;
  for (int t = 0; t < trials; ++t) {
    const auto path = dir / ("seen-" + std::to_string(t));
    if (!std::filesystem::exists(path)) continue;
    std::istringstream in(read_file(path));
    Seen s;
    in >> s.cuda >> s.hip >> s.start >> s.end;
    seen[t] = s;
  }
  return seen;
}

// Must-show: a worker with --gpus 0,1 runs one trial per device, each seeing
// only its own. A trial claims its device with an O_EXCL file (set -C), so a
// device given to two running trials fails the second one.
TEST(PlacementSweep, EachTrialSeesOnlyItsOwnDeviceAndNoDeviceIsShared) {
  const int trials = 4;
  ScratchDir marks;
  const std::string m = marks.path().string();
  const std::string command =
      "set -C; start=$(date +%s.%N); echo $LORAFARM_TRIAL > " + m + "/busy-$CUDA_VISIBLE_DEVICES || exit 3; sleep 0.6; rm -f " + m +
      "/busy-$CUDA_VISIBLE_DEVICES; echo \"$CUDA_VISIBLE_DEVICES $HIP_VISIBLE_DEVICES $start $(date +%s.%N)\" > " + m +
      "/seen-$LORAFARM_TRIAL; echo '{\"final\": true, \"val_loss\": '{x}'}'";
  PlacementSweep sweep(command_spec("devices", trials, {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}, command));
  ASSERT_EQ(sweep.run({{"gpu-box", {"--gpus", "0,1"}}}), 0) << sweep.logs();

  const auto seen = read_seen(marks.path(), trials);
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(trials)) << sweep.logs();
  std::set<std::string> used;
  for (const auto& [t, s] : seen) {
    EXPECT_TRUE(s.cuda == "0" || s.cuda == "1") << "trial " << t << " saw CUDA_VISIBLE_DEVICES=" << s.cuda;
    EXPECT_EQ(s.hip, s.cuda) << "trial " << t;
    used.insert(s.cuda);
  }
  EXPECT_EQ(used, (std::set<std::string>{"0", "1"}));
  // Two trials ran at once (one per device), and never two on one device.
  bool overlapped = false;
  for (const auto& [a, sa] : seen)
    for (const auto& [b, sb] : seen) {
      if (a >= b || sa.end <= sb.start || sb.end <= sa.start) continue;
      overlapped = true;
      EXPECT_NE(sa.cuda, sb.cuda) << "trials " << a << " and " << b << " shared a device";
    }
  EXPECT_TRUE(overlapped);

  // The store records the device each attempt got, as the trial saw it.
  auto store = schema::Store::open_reader(sweep.db);
  const auto experiment = store.find_experiment("devices");
  ASSERT_TRUE(experiment);
  for (const auto& t : store.trials(experiment->id)) EXPECT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
  for (const auto& a : store.attempts(experiment->id)) {
    ASSERT_TRUE(a.resources.is_object()) << a.resources;
    if (a.status != schema::TrialStatus::Completed) continue;  // a lease lost on a loaded machine is retried
    EXPECT_EQ(a.resources["gpus"], json::array({seen.at(static_cast<int>(a.trial_number)).cuda}));
  }
  const auto workers = store.workers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].slots, 2);  // one per device
  EXPECT_EQ(workers[0].resources["gpus"], json::array({"0", "1"}));
}

// Must-show: two workers with different --memory; each trial runs only where
// its memory_mb fits next to what that worker already runs, and one that fits
// neither is INFEASIBLE with the reason and never runs.
TEST(PlacementSweep, TrialsRunOnlyWhereTheirMemoryFits) {
  json spec = command_spec("memory", 7, {{"mem", {{"type", "categorical"}, {"values", {500, 3000, 20000}}}}},
                           "sleep 0.3; echo '{\"final\": true, \"val_loss\": 1}'");
  spec["trial"]["resources"] = {{"memory_mb", "mem"}};
  spec["search"] = {{"algorithm", "random"},
                    {"enqueue", json::array({{{"mem", 3000}}, {{"mem", 500}}, {{"mem", 3000}}, {{"mem", 500}}, {{"mem", 20000}},
                                             {{"mem", 500}}, {{"mem", 3000}}})}};
  PlacementSweep sweep(spec);
  ASSERT_EQ(sweep.run({{"small", {"--memory", "1000M", "--slots", "2"}}, {"big", {"--memory", "4000M", "--slots", "2"}}}), 0) << sweep.logs();

  auto store = schema::Store::open_reader(sweep.db);
  const auto experiment = store.find_experiment("memory");
  ASSERT_TRUE(experiment);
  const auto trials = store.trials(experiment->id);
  ASSERT_EQ(trials.size(), 7u);
  const std::map<std::string, double> offered{{"small", 1000}, {"big", 4000}};
  std::map<std::string, int> ran_on;
  std::size_t placeable = 0;
  for (const auto& t : trials) {
    const double mem = t.params["mem"].get<double>();
    placeable += mem <= 4000 ? 1 : 0;
    if (mem > 4000) {
      EXPECT_EQ(t.status, schema::TrialStatus::Infeasible);
      EXPECT_EQ(t.error, "needs 20000 MB of memory, the largest connected worker offers 4000 MB");
      continue;
    }
    EXPECT_EQ(t.status, schema::TrialStatus::Completed) << "trial " << t.number << ": " << t.error;
  }
  const auto attempts = store.attempts(experiment->id);
  for (const auto& a : attempts) {
    const double mem = trials.at(static_cast<std::size_t>(a.trial_number)).params["mem"].get<double>();
    EXPECT_LT(mem, 20000) << "the infeasible trial must never start";
    EXPECT_LE(mem, offered.at(a.worker)) << "trial " << a.trial_number << " ran on " << a.worker;
    EXPECT_EQ(a.resources["memory_mb"].get<double>(), mem);
    ++ran_on[a.worker];
    // At its start, the memory of the trials running on that worker fits its offer.
    double held = 0;
    for (const auto& b : attempts)
      if (b.worker == a.worker && b.started_at <= a.started_at && (!b.finished_at || *b.finished_at > a.started_at))
        held += b.resources["memory_mb"].get<double>();
    EXPECT_LE(held, offered.at(a.worker)) << "worker " << a.worker << " at the start of trial " << a.trial_number;
  }
  // Each placeable trial ran once (the sampler may repeat an enqueued value, 20000 included).
  std::string lineage;
  for (const auto& a : attempts)
    lineage += std::to_string(a.trial_number) + "/" + std::to_string(a.attempt) + " " + a.worker + " " +
               std::string(schema::to_string(a.status)) + " " + a.cause + "; ";
  EXPECT_EQ(attempts.size(), placeable) << lineage;
  EXPECT_LT(placeable, trials.size());
  EXPECT_GT(ran_on["big"], 0);
  bool infeasible_event = false;
  for (const auto& e : store.events(experiment->id)) infeasible_event |= e.kind == "UNPLACEABLE";
  EXPECT_TRUE(infeasible_event);
}

// Must-show: an engine trial whose predicted peak (the engine's own
// predictor, as `lorafarm info --estimate` prints it) exceeds the worker's
// --memory is INFEASIBLE before it runs.
TEST(PlacementSweep, AnEngineTrialPredictedAboveTheWorkersMemoryNeverRuns) {
  const json spec{{"name", "engine"},
                  {"seed", 5},
                  {"model", bundled_model().string()},
                  {"data", bundled_data("fortunes").string()},
                  {"budget", {{"trials", 1}}},
                  {"search_space", {{"learning_rate", {{"type", "categorical"}, {"values", {0.001}}}}}},
                  {"fixed", {{"method", "lora"}, {"rank", 4}, {"iters", 4}, {"batch_size", 4}, {"max_seq_length", 96}, {"test", false}, {"threads", 1}}},
                  {"trial", {{"kind", "engine"}, {"timeout_seconds", 300}}}};
  PlacementSweep sweep(spec);
  ASSERT_EQ(sweep.run({{"tiny", {"--memory", "8M"}}}), 0) << sweep.logs();

  const auto info = run_lorafarm({"info", bundled_model().string(), "--estimate", "lora", "--rank", "4", "--batch-size", "4",
                                  "--max-seq-length", "96", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const double predicted = json::parse(info.out)["training_estimate"]["predicted_peak_rss_mb"].get<double>();
  ASSERT_GT(predicted, 8);

  auto store = schema::Store::open_reader(sweep.db);
  const auto experiment = store.find_experiment("engine");
  ASSERT_TRUE(experiment);
  const auto trials = store.trials(experiment->id);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].status, schema::TrialStatus::Infeasible);
  EXPECT_EQ(trials[0].error, "needs " + std::to_string(static_cast<long long>(std::ceil(predicted))) +
                                 " MB of memory, predicted by the engine, the only connected worker (tiny) offers 8 MB");
  EXPECT_TRUE(store.attempts(experiment->id).empty());
}

// The peak `lorafarm info --estimate` predicts for the auto-batch trials below
// (LoRA rank 4 on the bundled model, 96 tokens) at micro-batch `batch`.
double auto_trial_peak_mb(int batch) {
  const auto info = run_lorafarm({"info", bundled_model().string(), "--estimate", "lora", "--rank", "4", "--batch-size",
                                  std::to_string(batch), "--max-seq-length", "96", "--json"});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  return json::parse(info.out)["training_estimate"]["predicted_peak_rss_mb"].get<double>();
}

// One engine trial per learning rate, batch_size auto with an effective batch of 8.
json auto_batch_spec(const std::string& name, const std::vector<double>& learning_rates) {
  return {{"name", name},
          {"seed", 5},
          {"model", bundled_model().string()},
          {"data", bundled_data("tinystories").string()},
          {"budget", {{"trials", learning_rates.size()}}},
          {"search_space", {{"learning_rate", {{"type", "categorical"}, {"values", learning_rates}}}}},
          {"fixed", {{"method", "lora"}, {"rank", 4}, {"iters", 2}, {"batch_size", "auto"}, {"effective_batch_size", 8},
                     {"max_seq_length", 96}, {"val_batches", 1}, {"test", false}, {"threads", 1}}},
          {"trial", {{"kind", "engine"}, {"timeout_seconds", 300}}}};
}

// batch_size auto in a sweep: the trial fits its micro-batch into the memory
// its worker offers (no memory_limit_mb anywhere), keeps the effective batch,
// and the choice is stored with the trial. Every tinystories sample is longer
// than 96 tokens, so the peak `info --estimate` predicts at 96 tokens is the
// one the trial predicts, and an offer between the peaks of micro-batches 2
// and 4 must give 2 x 4 accumulation steps.
TEST(PlacementSweep, AnAutoBatchTrialFitsTheMemoryItsWorkerOffers) {
  const double offer = std::floor(0.5 * (auto_trial_peak_mb(2) + auto_trial_peak_mb(4)));
  ASSERT_GT(offer, auto_trial_peak_mb(2));
  const json spec = auto_batch_spec("auto", {0.001});
  PlacementSweep sweep(spec);
  ASSERT_EQ(sweep.run({{"box", {"--memory", std::to_string(static_cast<long long>(offer)) + "M"}}}), 0) << sweep.logs();

  auto store = schema::Store::open_reader(sweep.db);
  const auto experiment = store.find_experiment("auto");
  ASSERT_TRUE(experiment);
  const auto trials = store.trials(experiment->id);
  ASSERT_EQ(trials.size(), 1u);
  ASSERT_EQ(trials[0].status, schema::TrialStatus::Completed) << trials[0].error << sweep.logs();
  const auto result = store.result(trials[0].id);
  ASSERT_TRUE(result);
  const json& m = result->metrics;
  EXPECT_EQ(m["micro_batch_size"], 2) << m.dump();
  EXPECT_EQ(m["grad_accumulation_steps"], 4) << m.dump();
  EXPECT_NEAR(m["predicted_peak_rss_mb"].get<double>(), auto_trial_peak_mb(2), 1e-6);
}

// Two auto trials on a worker with 2 slots share its memory: each is
// allocated half and fits its micro-batch into that half, so together they
// stay within the worker's --memory (before, the first could take nearly all
// of it, and the second's reservation of a micro-batch of one over-committed).
TEST(PlacementSweep, AutoBatchTrialsOnOneWorkerSplitItsMemoryBetweenItsSlots) {
  const double share = std::floor(0.5 * (auto_trial_peak_mb(2) + auto_trial_peak_mb(4)));
  ASSERT_LT(auto_trial_peak_mb(4), 2 * share);  // the whole memory would hold a micro-batch of 4
  const json spec = auto_batch_spec("shared", {0.001, 0.002});
  PlacementSweep sweep(spec);
  const std::string memory = std::to_string(static_cast<long long>(2 * share)) + "M";
  ASSERT_EQ(sweep.run({{"box", {"--memory", memory, "--slots", "2"}}}), 0) << sweep.logs();

  auto store = schema::Store::open_reader(sweep.db);
  const auto experiment = store.find_experiment("shared");
  ASSERT_TRUE(experiment);
  const auto trials = store.trials(experiment->id);
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& trial : trials) {
    ASSERT_EQ(trial.status, schema::TrialStatus::Completed) << trial.error << sweep.logs();
    const auto result = store.result(trial.id);
    ASSERT_TRUE(result);
    const json& m = result->metrics;
    EXPECT_EQ(m["micro_batch_size"], 2) << m.dump();
    EXPECT_EQ(m["grad_accumulation_steps"], 4) << m.dump();
  }
}

TEST(PlacementSweep, BadResourceOptionsAreOneLineErrors) {
  const auto memory = run_lorafarm({"worker", "--connect", "tcp://127.0.0.1:1", "--memory", "lots"});
  EXPECT_EQ(memory.exit_code, 1);
  EXPECT_THAT(memory.err, HasSubstr("--memory: memory size 'lots' is not valid"));
  const auto gpus = run_lorafarm({"worker", "--connect", "tcp://127.0.0.1:1", "--gpus", "0,0"});
  EXPECT_EQ(gpus.exit_code, 1);
  EXPECT_THAT(gpus.err, HasSubstr("--gpus: device list '0,0' names device 0 twice"));
}

}  // namespace
}  // namespace lorafarm::testing
