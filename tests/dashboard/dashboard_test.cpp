// The dashboard's HTTP API, served in-process on a free port and called with
// httplib::Client: the numbers equal the store's rows, and every bad request
// gets a 4xx with a JSON message naming the problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "cli/background_process.h"
#include "dashboard/dashboard_http.h"
#include "dashboard/dashboard_server.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kToken = "0123456789abcdef0123456789abcdef";

// A store with one experiment: trial 0 running at step 7 of 20, trial 1
// completed with a result and an adapter artifact, trial 2 queued.
struct Fixture {
  ScratchDir dir;
  fs::path db = dir / "runs.db";
  fs::path artifacts = dir / "artifacts";
  fs::path adapter_dir = artifacts / "work" / "trial-1" / "artifacts";

  Fixture() {
    fs::create_directories(adapter_dir);
    write_file(adapter_dir / "adapter_config.json", R"({"rank": 4})");
    auto store = schema::Store::open_writer(db);
    schema::ExperimentRecord e;
    e.name = "demo";
    e.spec_json = json{{"name", "demo"},
                       {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
                       {"search_space", {{"method", {{"type", "categorical"}, {"values", {"lora", "full"}}}}}},
                       {"fixed", {{"steps", 20}}},
                       {"budget", {{"trials", 3}}},
                       {"trial", {{"kind", "command"}, {"command", {"true"}}}},
                       {"model", (dir / "no-model").string()}}
                      .dump();
    e.spec_hash = "h";
    e.max_trials = 3;
    e.created_at = 1.0;
    const auto eid = store.insert_experiment(e);
    for (int n = 0; n < 3; ++n) {
      schema::TrialRecord t;
      t.experiment_id = eid;
      t.number = n;
      t.params = {{"method", n == 1 ? "full" : "lora"}, {"learning_rate", 0.001 * (n + 1)}};
      t.created_at = 2.0;
      t.id = store.insert_trial(t);
      if (n == 2) continue;
      t.status = n == 0 ? schema::TrialStatus::Running : schema::TrialStatus::Completed;
      t.worker = "w" + std::to_string(n);
      t.started_at = 3.0;
      const int last = n == 0 ? 7 : 20;
      for (int step = 1; step <= last; ++step) store.insert_metric(t.id, 1, step, "train_loss", 3.0 - 0.05 * step);
      if (n == 1) {
        t.objective = 1.75;
        t.finished_at = 9.0;
        store.insert_result({t.id, 1, {{"val_loss", 1.75}, {"val_ppl", 5.75}}, 321.0, 6.0});
        store.insert_artifact({t.id, 1, "w1", (adapter_dir / "adapter_config.json").string(), std::string(64, 'a'), 11});
      }
      store.update_trial(t);
    }
  }

  dashboard::DashboardOptions options(bool read_only = false) const {
    dashboard::DashboardOptions o;
    o.db = db;
    o.artifacts = artifacts;
    o.examples = source_dir() / "examples";
    o.binary = lorafarm_binary();
    o.port = 0;
    o.read_only = read_only;
    o.token = kToken;
    return o;
  }
};

struct Server {
  dashboard::DashboardServer server;
  httplib::Client client;
  explicit Server(const dashboard::DashboardOptions& o) : server(o), client(start_and_host(server)) { client.set_read_timeout(60, 0); }
  static std::string start_and_host(dashboard::DashboardServer& s) {
    s.start();
    return "127.0.0.1:" + std::to_string(s.port());
  }
  httplib::Headers auth(const std::string& token = kToken) const { return {{"Authorization", "Bearer " + token}}; }
};

json body_of(const httplib::Result& r) { return json::parse(r->body); }

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string url_encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

TEST(Dashboard, ServesThePageAndTheStoreAsJson) {
  Fixture f;
  Server s(f.options());
  auto page = s.client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("lorafarm dashboard"));
  EXPECT_THAT(page->body, ::testing::Not(HasSubstr("http://")));  // nothing fetched from elsewhere
  EXPECT_THAT(page->body, ::testing::Not(HasSubstr("https://")));

  auto list = s.client.Get("/api/experiments");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200);
  const json experiments = body_of(list);
  ASSERT_EQ(experiments.size(), 1u);
  EXPECT_EQ(experiments[0]["name"], "demo");
  EXPECT_EQ(experiments[0]["counts"]["RUNNING"], 1);
  EXPECT_EQ(experiments[0]["counts"]["COMPLETED"], 1);
  EXPECT_EQ(experiments[0]["counts"]["QUEUED"], 1);
  EXPECT_DOUBLE_EQ(experiments[0]["best"]["objective"].get<double>(), 1.75);

  const json trials = body_of(s.client.Get("/api/experiments/demo/trials"));
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[0]["status"], "RUNNING");
  EXPECT_EQ(trials[0]["step"], 7);
  EXPECT_EQ(trials[0]["total_steps"], 20);
  EXPECT_EQ(trials[1]["status"], "COMPLETED");
  EXPECT_EQ(trials[1]["step"], 20);
  EXPECT_DOUBLE_EQ(trials[1]["objective"].get<double>(), 1.75);
  EXPECT_DOUBLE_EQ(trials[1]["result"]["peak_rss_mb"].get<double>(), 321.0);
  EXPECT_TRUE(trials[2]["step"].is_null());

  const json metrics = body_of(s.client.Get("/api/experiments/demo/trials/0/metrics"));
  ASSERT_EQ(metrics["train_loss"].size(), 7u);
  EXPECT_DOUBLE_EQ(metrics["train_loss"][6][1].get<double>(), 3.0 - 0.05 * 7);

  const json curves = body_of(s.client.Get("/api/experiments/demo/curves?metric=train_loss"));
  ASSERT_EQ(curves["curves"].size(), 2u);
  EXPECT_EQ(curves["curves"][1]["trial"], 1);
  EXPECT_EQ(curves["curves"][1]["points"].size(), 20u);

  const json summary = body_of(s.client.Get("/api/experiments/demo/summary"));
  EXPECT_EQ(summary["experiment"], "demo");
  EXPECT_EQ(summary["trials"], 3);

  const json artifacts = body_of(s.client.Get("/api/experiments/demo/trials/1/artifacts"));
  ASSERT_EQ(artifacts.size(), 1u);
  auto file = s.client.Get("/api/artifacts/file?path=" + url_encode(artifacts[0]["path"].get<std::string>()));
  ASSERT_TRUE(file);
  EXPECT_EQ(file->status, 200);
  EXPECT_EQ(file->body, R"({"rank": 4})");
}

TEST(Dashboard, AMissingDatabaseIsAnEmptyListNotAnError) {
  ScratchDir dir;
  dashboard::DashboardOptions o;
  o.db = dir / "later.db";
  o.port = 0;
  Server s(o);
  auto r = s.client.Get("/api/experiments");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_of(r), json::array());
  auto e = s.client.Get("/api/experiments/demo");
  EXPECT_EQ(e->status, 404);
  // A file a sweep has just created, before its schema is written: still "nothing yet".
  { schema::Database(dir / "later.db", schema::Database::Mode::ReadWrite).exec("PRAGMA journal_mode=WAL"); }
  r = s.client.Get("/api/experiments");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_of(r), json::array());
  EXPECT_EQ(s.client.Get("/api/experiments/demo/trials")->status, 404);
}

TEST(Dashboard, UnknownExperimentTrialOrEndpointIs404WithAMessage) {
  Fixture f;
  Server s(f.options());
  auto r = s.client.Get("/api/experiments/nope/trials");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(body_of(r)["error"], "unknown experiment 'nope'");
  r = s.client.Get("/api/experiments/demo/trials/99/metrics");
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("no trial 99"));
  r = s.client.Get("/api/experiments/demo/trials/x/metrics");
  EXPECT_EQ(r->status, 400);
  r = s.client.Get("/api/nothing-here");
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("no such endpoint"));
}

TEST(Dashboard, WritesNeedTheTokenAndReadOnlyRefusesThem) {
  Fixture f;
  {
    Server s(f.options());
    auto r = s.client.Post("/api/sweeps", R"({"example": "command_sweep.json"})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("token"));
    r = s.client.Post("/api/generate", s.auth("ffffffffffffffffffffffffffffffff"), R"({})", "application/json");
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(body_of(r)["error"], "wrong token");
    // The other header form is accepted (the request then fails on its content).
    r = s.client.Post("/api/generate", {{"X-Lorafarm-Token", kToken}}, R"({})", "application/json");
    EXPECT_EQ(r->status, 400);
  }
  Server ro(f.options(true));
  auto r = ro.client.Post("/api/sweeps", ro.auth(), R"({"example": "command_sweep.json"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("read-only"));
}

TEST(Dashboard, MalformedJsonIs400) {
  Fixture f;
  Server s(f.options());
  auto r = s.client.Post("/api/sweeps", s.auth(), "{\"example\": ", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(body_of(r)["error"], "malformed JSON in the request body");
  r = s.client.Post("/api/generate", s.auth(), "[1, 2]", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("JSON object"));
  // A spec that parses but is invalid: the spec validator's message, field named.
  r = s.client.Post("/api/sweeps", s.auth(), R"({"spec": {"name": "x", "budget": {"trials": 0}, "search_space": {}, "trial": {"kind": "command", "command": ["true"]}}})",
                    "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("budget.trials"));
}

TEST(Dashboard, OversizedUploadIs413) {
  Fixture f;
  Server s(f.options());
  const std::string big = "{\"spec\": \"" + std::string(2 << 20, 'x') + "\"}";
  auto r = s.client.Post("/api/sweeps", s.auth(), big, "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 413);
  EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("too large"));
  // A prompt over the limit is refused before anything runs.
  r = s.client.Post("/api/generate", s.auth(), json{{"experiment", "demo"}, {"trial", 1}, {"prompt", std::string(5000, 'a')}}.dump(), "application/json");
  EXPECT_EQ(r->status, 413);
  EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("prompt"));
}

TEST(Dashboard, PathsOutsideTheArtifactFolderAreRefused) {
  Fixture f;
  fs::create_symlink("/etc", f.artifacts / "escape");
  Server s(f.options());
  for (const std::string path : {"../runs.db", "../../../../etc/passwd", "/etc/passwd", "work/../../runs.db", "escape/passwd"}) {
    auto r = s.client.Get("/api/artifacts/file?path=" + url_encode(path));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << path;
    EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("outside")) << path;
  }
  auto missing = s.client.Get("/api/artifacts/file?path=work/none.json");
  EXPECT_EQ(missing->status, 404);
  // A choice of example spec or data set is a plain name, not a path.
  auto r = s.client.Post("/api/sweeps", s.auth(), R"({"example": "../CMakeLists.txt"})", "application/json");
  EXPECT_EQ(r->status, 400);
  r = s.client.Post("/api/sweeps", s.auth(), R"({"example": "command_sweep.json", "data": ".."})", "application/json");
  EXPECT_EQ(r->status, 400);
}

TEST(Dashboard, GenerateRefusesAnAdapterOutsideTheArtifactFolder) {
  Fixture f;
  {  // trial 0's recorded adapter lies outside the artifact folder
    auto store = schema::Store::open_writer(f.db);
    const auto e = store.find_experiment("demo");
    store.insert_artifact({store.trials(e->id)[0].id, 1, "w0", (f.dir / "elsewhere" / "adapter_config.json").string(), std::string(64, 'b'), 1});
    fs::create_directories(f.dir / "elsewhere");
    write_file(f.dir / "elsewhere" / "adapter_config.json", "{}");
  }
  Server s(f.options());
  auto r = s.client.Post("/api/generate", s.auth(), json{{"experiment", "demo"}, {"trial", 0}, {"prompt", "hi"}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = s.client.Post("/api/generate", s.auth(), json{{"experiment", "demo"}, {"trial", 2}, {"prompt", "hi"}}.dump(), "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("no adapter"));
  r = s.client.Post("/api/generate", s.auth(), json{{"experiment", "nope"}, {"trial", 0}, {"prompt", "hi"}}.dump(), "application/json");
  EXPECT_EQ(r->status, 404);
  // Trial 1's adapter is inside, but the spec's model folder is missing here: a clear 404.
  r = s.client.Post("/api/generate", s.auth(), json{{"experiment", "demo"}, {"trial", 1}, {"prompt", "hi"}}.dump(), "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(body_of(r)["error"].get<std::string>(), HasSubstr("model folder"));
}

// A sweep started through the API runs as a child `lorafarm sweep` on the
// same database and finishes; its trials show up in the API.
TEST(Dashboard, StartsASweepFromASpecAndItsTrialsAppear) {
  Fixture f;
  Server s(f.options());
  const json spec{{"name", "api-sweep"},
                  {"seed", 1},
                  {"budget", {{"trials", 3}}},
                  {"search", {{"algorithm", "sobol"}}},
                  {"search_space", {{"learning_rate", {{"type", "float"}, {"low", 1e-4}, {"high", 1e-2}, {"log", true}}}}},
                  {"fixed", {{"steps", 5}}},
                  {"trial", {{"kind", "command"}, {"command", {"python3", "{spec_dir}/tiny_trainer.py", "--steps", "{steps}"}}}}};
  auto r = s.client.Post("/api/sweeps", s.auth(), json{{"spec", spec.dump()}, {"workers", 2}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  EXPECT_EQ(body_of(r)["experiment"], "api-sweep");
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  json trials;
  while (std::chrono::steady_clock::now() < until) {
    auto t = s.client.Get("/api/experiments/api-sweep");
    if (t && t->status == 200 && body_of(t)["status"] == "FINISHED") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  trials = body_of(s.client.Get("/api/experiments/api-sweep/trials"));
  ASSERT_EQ(trials.size(), 3u) << read_file(body_of(r)["log"].get<std::string>());
  for (const auto& t : trials) {
    EXPECT_EQ(t["status"], "COMPLETED");
    EXPECT_EQ(t["step"], 5);
  }
  const json sweeps = body_of(s.client.Get("/api/sweeps"));
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0]["experiment"], "api-sweep");
  // The same finished experiment again is a conflict, not a silent no-op.
  r = s.client.Post("/api/sweeps", s.auth(), json{{"spec", spec}}.dump(), "application/json");
  EXPECT_EQ(r->status, 409);
}

// `lorafarm serve` as a process: prints its port and token, serves, stops on SIGTERM.
TEST(DashboardCli, ServePrintsPortAndTokenAndStopsOnSigterm) {
  Fixture f;
  const auto log = f.dir / "serve.log";
  BackgroundProcess serve({lorafarm_binary().string(), "serve", "--db", f.db.string(), "--port", "0", "--json", "--artifacts",
                           f.artifacts.string()},
                          log);
  json line;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    const auto text = read_file(log);
    if (text.find('\n') != std::string::npos) {
      line = json::parse(text.substr(0, text.find('\n')));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(line.contains("port")) << read_file(log);
  EXPECT_EQ(line["token"].get<std::string>().size(), 32u);
  httplib::Client client("127.0.0.1", line["port"].get<int>());
  auto r = client.Get("/api/experiments");
  ASSERT_TRUE(r);
  EXPECT_EQ(body_of(r)[0]["name"], "demo");
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait(10), 0);
}

// `lorafarm sweep --dashboard` serves the same API, read-only, while it runs.
TEST(DashboardCli, SweepDashboardServesWhileTheSweepRuns) {
  ScratchDir dir;
  const int port = free_tcp_port();
  write_file(dir / "spec.json", json{{"name", "live"},
                                     {"budget", {{"trials", 2}}},
                                     {"search_space", {{"x", {{"type", "float"}, {"low", 0}, {"high", 1}}}}},
                                     {"fixed", {{"steps", 6}}},
                                     {"trial",
                                      {{"kind", "command"},
                                       {"command", {"python3", (source_dir() / "examples/tiny_trainer.py").string(), "--steps", "{steps}",
                                                    "--step-seconds", "0.25"}}}}}
                                    .dump());
  BackgroundProcess sweep({lorafarm_binary().string(), "sweep", (dir / "spec.json").string(), "--db", (dir / "s.db").string(), "--workers",
                           "1", "--dashboard", "--dashboard-port", std::to_string(port)},
                          dir / "sweep.log");
  httplib::Client client("127.0.0.1", port);
  json experiments;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until && sweep.running()) {
    auto r = client.Get("/api/experiments");
    if (r && r->status == 200 && !body_of(r).empty()) {
      experiments = body_of(r);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(experiments.empty()) << read_file(dir / "sweep.log");
  EXPECT_EQ(experiments[0]["name"], "live");
  EXPECT_EQ(experiments[0]["status"], "RUNNING");
  auto r = client.Post("/api/sweeps", R"({})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(sweep.wait(30), 0) << read_file(dir / "sweep.log");
}

}  // namespace
}  // namespace lorafarm::testing

namespace lorafarm::testing {
namespace {

// The whole write path with the real engine: a one-trial LoRA sweep of the
// bundled model started through the API, then its adapter tried on a prompt.
TEST(DashboardEngine, GeneratesWithTheAdapterOfASweepStartedFromThePage) {
  Fixture f;
  Server s(f.options());
  const json spec{{"name", "tiny-engine"},
                  {"seed", 3},
                  {"model", "models/stories260K"},
                  {"data", "data/fortunes"},
                  {"budget", {{"trials", 1}}},
                  {"search", {{"algorithm", "grid"}}},
                  {"search_space", {{"method", {{"type", "categorical"}, {"values", {"lora"}}}}}},
                  {"fixed",
                   {{"iters", 4}, {"batch_size", 2}, {"max_seq_length", 64}, {"lora_parameters", {{"rank", 4}, {"scale", 20.0}}}, {"learning_rate", 0.003},
                    {"steps_per_report", 2}, {"steps_per_eval", 4}, {"val_batches", 1}, {"test_batches", 1}, {"threads", 1}}},
                  {"trial", {{"kind", "engine"}, {"timeout_seconds", 120}}}};
  auto r = s.client.Post("/api/sweeps", s.auth(), json{{"spec", spec}, {"workers", 1}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const auto log = body_of(r)["log"].get<std::string>();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < until) {
    auto e = s.client.Get("/api/experiments/tiny-engine");
    if (e && e->status == 200 && body_of(e)["status"] == "FINISHED") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const json trials = body_of(s.client.Get("/api/experiments/tiny-engine/trials"));
  ASSERT_EQ(trials.size(), 1u) << read_file(log);
  ASSERT_EQ(trials[0]["status"], "COMPLETED") << trials.dump() << read_file(log);
  // The adapter landed inside the artifact folder, so it may be served and used.
  const json artifacts = body_of(s.client.Get("/api/experiments/tiny-engine/trials/0/artifacts"));
  ASSERT_FALSE(artifacts.empty());
  for (const auto& a : artifacts) EXPECT_EQ(a["path"].get<std::string>().rfind(fs::canonical(f.artifacts).string(), 0), 0u) << a.dump();

  r = s.client.Post("/api/generate", s.auth(), json{{"experiment", "tiny-engine"}, {"trial", 0}, {"prompt", "Once upon a time"}, {"max_tokens", 8}}.dump(),
                    "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto text = body_of(r)["text"].get<std::string>();
  EXPECT_EQ(text.rfind("Once upon a time", 0), 0u) << text;
  EXPECT_GT(text.size(), std::string("Once upon a time").size());
}


// The base model's reference row is scored once, when `lorafarm sweep` starts
// the experiment, and the dashboard's comparison shows it. Its oracle is
// `lorafarm eval` (the inference model, another code path) on the same split
// with the same sequence cut; `add_eos: false` because eval scores BOS + text.
TEST(DashboardEngine, SummaryHasTheBaseRowASweepStoredEqualToEval) {
  ScratchDir dir;
  const auto spec = dir / "spec.json";
  write_file(spec, json{{"name", "base-row"},
                        {"model", bundled_model().string()},
                        {"data", bundled_data("fortunes").string()},
                        {"budget", {{"trials", 1}}},
                        {"search_space", {{"method", {{"type", "categorical"}, {"values", {"lora"}}}}}},
                        {"fixed", {{"iters", 1}, {"batch_size", 4}, {"max_seq_length", 48}, {"add_eos", false}, {"threads", 1}}},
                        {"trial", {{"kind", "engine"}, {"timeout_seconds", 120}}}}
                       .dump());
  const auto db = dir / "runs.db";
  const auto sweep = run_lorafarm({"sweep", spec.string(), "--db", db.string(), "--workers", "1", "--json"});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;

  dashboard::DashboardOptions o;
  o.db = db;
  o.artifacts = dir / "artifacts";
  o.port = 0;
  o.read_only = true;
  dashboard::DashboardServer server(o);
  server.start();
  httplib::Client client("127.0.0.1", server.port());
  const auto r = client.Get("/api/experiments/base-row/summary");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json base = body_of(r)["base"];
  ASSERT_TRUE(base.is_object()) << r->body;
  EXPECT_EQ(base["settings"]["max_seq_length"], 48);

  for (const std::string split : {"valid", "test"}) {
    const auto eval = run_lorafarm({"eval", "--model", bundled_model().string(), "--data", bundled_data("fortunes").string(), "--split", split,
                                    "--max-seq-length", "48", "--batch-size", "4", "--threads", "1", "--json"});
    ASSERT_EQ(eval.exit_code, 0) << eval.err;
    const double expected = json::parse(eval.out)["loss"].get<double>();
    const char* key = split == "valid" ? "val_loss" : "test_loss";
    EXPECT_NEAR(base[key].get<double>(), expected, 1e-5 * expected) << split;
  }
  // The report drawn by the dashboard carries the same stored row.
  const auto report = client.Get("/api/experiments/base-row/report?format=json");
  ASSERT_TRUE(report);
  EXPECT_EQ(json::parse(report->body)["base"]["val_loss"], base["val_loss"]);
}

}  // namespace
}  // namespace lorafarm::testing
