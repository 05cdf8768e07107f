// A local sweep keeps its trials' adapters in a folder beside its database, so
// the best adapter of the night is still there, byte for byte, after the sweep
// and its temporary files are gone, and fresh processes can use it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "dashboard/dashboard_http.h"
#include "dashboard/dashboard_server.h"
#include "schema/artifact_dir.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json small_lora_sweep() {
  return {{"name", "overnight"},
          {"seed", 5},
          {"model", bundled_model().string()},
          {"data", bundled_data("fortunes").string()},
          {"objective", {{"metric", "val_loss"}, {"direction", "minimize"}}},
          {"budget", {{"trials", 2}}},
          {"search", {{"algorithm", "grid"}, {"shuffle", false}}},
          {"search_space", {{"learning_rate", {{"type", "categorical"}, {"values", {0.001, 0.01}}}}}},
          {"fixed",
           {{"method", "lora"}, {"rank", 4}, {"iters", 12}, {"batch_size", 4}, {"max_seq_length", 96}, {"steps_per_eval", 100},
            {"test", false}, {"threads", 1}}},
          {"trial", {{"kind", "engine"}, {"timeout_seconds", 300}}}};
}

// sha256sum, an implementation independent of lorafarm's own.
std::string coreutils_sha256(const fs::path& file) {
  const auto r = run_process({"/usr/bin/sha256sum", file.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, 64);
}

// The environment variable is set for the processes this test starts.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST(ArtifactDir, IsNamedAfterTheDatabaseBesideIt) {
  EXPECT_EQ(schema::default_artifact_dir("/data/runs/quickstart.db"), fs::path("/data/runs/quickstart-artifacts"));
  EXPECT_EQ(schema::default_artifact_dir("/x/lorafarm.db"), fs::path("/x/lorafarm-artifacts"));
  EXPECT_TRUE(schema::default_artifact_dir("rel/a.db").is_absolute());
}

TEST(SweepArtifacts, TheBestAdapterOutlivesTheSweepAndLoadsInAFreshProcess) {
  ScratchDir dir;
  const auto db = dir / "night.db";
  write_file(dir / "spec.json", small_lora_sweep().dump(2));
  std::string sweep_output;
  {
    // Everything temporary the sweep makes goes here; removing it afterwards
    // stands for the reboot that empties /tmp.
    fs::create_directories(dir / "tmp");
    ScopedEnv tmpdir("TMPDIR", (dir / "tmp").string());
    const auto sweep = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db.string(), "--workers", "2"});
    ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
    sweep_output = sweep.out;
  }
  fs::remove_all(dir / "tmp");

  auto store = schema::Store::open_reader(db.string());
  const auto experiment = store.find_experiment("overnight");
  ASSERT_TRUE(experiment);
  std::optional<schema::TrialRecord> best;
  for (const auto& t : store.trials(experiment->id))
    if (t.objective && (!best || *t.objective < *best->objective)) best = t;
  ASSERT_TRUE(best);

  const auto artifact_root = dir / "night-artifacts";
  std::optional<fs::path> adapter;
  for (const auto& a : store.artifacts(best->id)) {
    const fs::path path = a.path;
    ASSERT_EQ(path.string().rfind(artifact_root.string(), 0), 0u) << path << " is not beside the database";
    ASSERT_TRUE(fs::exists(path)) << path;
    EXPECT_EQ(coreutils_sha256(path), a.sha256) << path;
    EXPECT_EQ(static_cast<std::int64_t>(fs::file_size(path)), a.bytes) << path;
    if (path.filename() == "adapter_config.json") adapter = path.parent_path();
  }
  ASSERT_TRUE(adapter) << "the best trial recorded no adapter";
  // The sweep's summary names it.
  EXPECT_NE(sweep_output.find("best adapter: " + adapter->string() + "\n"), std::string::npos) << sweep_output;

  // The recorded final validation loss comes back from the adapter alone.
  const auto eval = run_lorafarm({"eval", "--model", bundled_model().string(), "--data", bundled_data("fortunes").string(), "--split", "valid",
                                  "--adapter", adapter->string(), "--max-seq-length", "96", "--batch-size", "4", "--add-eos", "--json"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const double recorded = store.result(best->id)->metrics.at("val_loss").get<double>();
  EXPECT_NEAR(json::parse(eval.out)["loss"].get<double>(), recorded, 1e-5 * recorded);

  const auto fused = run_lorafarm({"fuse", "--model", bundled_model().string(), "--adapter", adapter->string(), "-o", (dir / "fused").string()});
  ASSERT_EQ(fused.exit_code, 0) << fused.err;
  EXPECT_TRUE(fs::exists(dir / "fused" / "config.json"));

  const auto rerun = run_lorafarm({"rerun", "overnight", std::to_string(best->number), "--db", db.string(), "--json", "--quiet"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  EXPECT_EQ(json::parse(rerun.out)["reproduced"], true);

  // The dashboard's try-an-adapter, with its default artifact folder.
  dashboard::DashboardOptions options;
  options.db = db;
  options.binary = lorafarm_binary();
  options.examples = source_dir() / "examples";
  options.port = 0;
  options.token = "0123456789abcdef0123456789abcdef";
  dashboard::DashboardServer server(options);
  server.start();
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(60, 0);
  const auto generated = client.Post("/api/generate", {{"Authorization", "Bearer " + options.token}},
                                     json{{"experiment", "overnight"}, {"trial", best->number}, {"prompt", "Once upon a time"}, {"max_tokens", 6}}.dump(),
                                     "application/json");
  ASSERT_TRUE(generated);
  ASSERT_EQ(generated->status, 200) << generated->body;
  EXPECT_EQ(json::parse(generated->body)["text"].get<std::string>().rfind("Once upon a time", 0), 0u) << generated->body;
  server.stop();
}

}  // namespace
}  // namespace lorafarm::testing
