// `lorafarm report` as a real process: on a store built through the Store API,
// on real engine sweeps (the base-model row, the quick-start report in headless
// Chromium with every plot non-empty), and its failure paths.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "report/report.h"
#include "schema/store.h"
#include "test_support.h"

namespace lorafarm::testing {
// Defined in tests/report/report_test.cpp (the same test binary).
schema::ExperimentRecord report_experiment(const std::string& name, const std::string& spec_json);
void build_report_store(const std::filesystem::path& path);
void build_report_store(const std::filesystem::path& path, const std::string& spec_json, const std::string& spec_hash);
}  // namespace lorafarm::testing

namespace lorafarm::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using namespace lorafarm::testing;

// (id, inner HTML) of each <figure id="..."> of a page (plain search: pages are large for std::regex).
std::vector<std::pair<std::string, std::string>> figures(const std::string& html) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string open = "<figure id=\"";
  for (auto at = html.find(open); at != std::string::npos; at = html.find(open, at + 1)) {
    const auto id_end = html.find('"', at + open.size());
    const auto close = html.find("</figure>", at);
    if (id_end == std::string::npos || close == std::string::npos) break;
    out.emplace_back(html.substr(at + open.size(), id_end - at - open.size()), html.substr(id_end, close - id_end));
  }
  return out;
}

std::ptrdiff_t count(const std::string& text, const std::string& what) {
  std::ptrdiff_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ReportCli, MarkdownIsTheLibraryTableAndJsonGoesToAFile) {
  ScratchDir dir;
  const auto db = dir / "db.sqlite";
  build_report_store(db);
  const auto md = run_lorafarm({"report", "cmp", "--db", db.string(), "--format", "md", "--no-base"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  {
    auto store = schema::Store::open_reader(db);
    EXPECT_EQ(md.out, report::render_report(store, *store.find_experiment("cmp"), report::ReportFormat::Markdown, {}));
  }
  const auto out = dir / "report.json";
  const auto r = run_lorafarm({"report", "cmp", "--db", db.string(), "--format", "json", "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const json j = json::parse(read_file(out));
  EXPECT_EQ(j["trials"].size(), 9u);
  EXPECT_TRUE(j["base"].is_null());
  EXPECT_THAT(j["note"].get<std::string>(), HasSubstr("not engine trials"));
}

TEST(ReportCli, UnknownExperimentAndBadFormatAreClearErrors) {
  ScratchDir dir;
  const auto db = dir / "db.sqlite";
  build_report_store(db);
  const auto missing = run_lorafarm({"report", "nope", "--db", db.string(), "--format", "md"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no experiment 'nope'"));
  EXPECT_THAT(missing.err, HasSubstr("it has: cmp"));
  const auto format = run_lorafarm({"report", "cmp", "--db", db.string(), "--format", "pdf"});
  EXPECT_EQ(format.exit_code, 2);
  EXPECT_THAT(format.err, HasSubstr("pdf"));
  const auto no_db = run_lorafarm({"report", "cmp", "--db", (dir / "absent.db").string()});
  EXPECT_EQ(no_db.exit_code, 1);
  EXPECT_THAT(no_db.err, HasSubstr("absent.db"));
}

// An engine sweep whose spec uses relative paths (resolved against the spec's
// folder; this hand-built store has no recorded folder, as in old databases).
const char* kEngineSpecRelative = R"({"name": "cmp", "model": "models/stories260K", "data": "data/fortunes",
  "objective": {"metric": "val_loss"}, "budget": {"trials": 1},
  "search_space": {"method": {"type": "categorical", "values": ["lora"]}},
  "fixed": {"iters": 1, "max_seq_length": 64, "test_batches": 1, "threads": 1},
  "trial": {"kind": "engine"}})";

void link_bundled(const fs::path& dir) {
  fs::create_directories(dir / "models");
  fs::create_directories(dir / "data");
  fs::create_directory_symlink(bundled_model(), dir / "models/stories260K");
  fs::create_directory_symlink(bundled_data("fortunes"), dir / "data/fortunes");
}

TEST(ReportCli, RelativeSpecPathsNeedTheSpecFolderAndSayHow) {
  ScratchDir dir;
  link_bundled(dir.path() / "specs");
  const auto db = dir / "db.sqlite";
  build_report_store(db, kEngineSpecRelative, "a-hash-no-spec-file-has");
  const auto lost = run_lorafarm({"report", "cmp", "--db", db.string(), "--format", "json"});
  ASSERT_EQ(lost.exit_code, 0) << lost.err;
  const json a = json::parse(lost.out);
  EXPECT_TRUE(a["base"].is_null());
  EXPECT_THAT(a["note"].get<std::string>(), HasSubstr("--spec-dir"));
  const auto found = run_lorafarm({"report", "cmp", "--db", db.string(), "--format", "json", "--spec-dir", (dir / "specs").string()});
  ASSERT_EQ(found.exit_code, 0) << found.err;
  const json b = json::parse(found.out);
  ASSERT_TRUE(b["base"].is_object()) << found.out;
  EXPECT_GT(b["base"]["val_ppl"].get<double>(), 1.0);
  EXPECT_NEAR(std::log(b["base"]["val_ppl"].get<double>()), b["base"]["val_loss"].get<double>(), 1e-12);
}

// The base row scores the untrained model exactly as a trial's final
// evaluation scores its model: a trial that cannot learn (one step at a
// learning rate of 1e-12) must land on the same perplexities.
TEST(ReportCli, BaseRowEqualsATrialThatDidNotLearn) {
  ScratchDir dir;
  link_bundled(dir.path());
  write_file(dir / "spec.json", R"({"name": "frozen", "seed": 3, "model": "models/stories260K", "data": "data/fortunes",
    "objective": {"metric": "val_loss"}, "budget": {"trials": 1},
    "search_space": {"method": {"type": "categorical", "values": ["lora"]}},
    "fixed": {"iters": 1, "learning_rate": 1e-12, "batch_size": 4, "max_seq_length": 96, "test_batches": 3, "threads": 1},
    "trial": {"kind": "engine", "timeout_seconds": 120}})");
  const auto db = dir / "frozen.db";
  const auto sweep = run_lorafarm({"sweep", (dir / "spec.json").string(), "--db", db.string(), "--workers", "1"});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  // The spec is found next to the database (its hash matches).
  const auto r = run_lorafarm({"report", "frozen", "--db", db.string(), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_TRUE(j["base"].is_object()) << r.out;
  const auto& result = j["trials"][0]["result"]["metrics"];
  EXPECT_NEAR(j["base"]["val_loss"].get<double>(), result["val_loss"].get<double>(), 1e-7);
  EXPECT_NEAR(j["base"]["test_loss"].get<double>(), result["test_loss"].get<double>(), 1e-7);
  const auto info = run_lorafarm({"info", bundled_model().string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(j["model_parameters"], json::parse(info.out)["parameters"]);
  EXPECT_NEAR(j["methods"][0]["trainable_percent"].get<double>(),
              100.0 * result["trainable_params"].get<double>() / j["model_parameters"].get<double>(), 1e-9);
}

// Must-show 2: the quick-start comparison (LoRA, QLoRA, DoRA, full) as a short
// real sweep; its HTML report opens in headless Chromium with every plot
// non-empty, and the Markdown table carries the DB's numbers.
TEST(ReportChromium, QuickStartReportOpensWithEveryPlotNonEmpty) {
  const fs::path chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << "/usr/bin/chromium is missing (Debian package `chromium`; scripts/setup.sh installs it)";
  ScratchDir dir;
  link_bundled(dir.path());
  write_file(dir / "quickstart.json", R"({"name": "quickstart-short", "seed": 42,
    "model": "models/stories260K", "data": "data/fortunes",
    "objective": {"metric": "val_loss", "direction": "minimize"},
    "budget": {"trials": 4, "max_attempts": 2},
    "search": {"algorithm": "grid", "shuffle": false},
    "search_space": {
      "method": {"type": "categorical", "values": ["lora", "qlora", "dora", "full"]},
      "rank": {"type": "categorical", "values": [4], "condition": {"param": "method", "not_in": ["full"]}}},
    "fixed": {"iters": 10, "batch_size": 4, "max_seq_length": 128, "learning_rate": 0.003,
              "lora_parameters": {"scale": 20.0, "dropout": 0.0},
              "quantization": {"bits": 4, "group_size": 64, "mode": "affine"},
              "steps_per_report": 2, "steps_per_eval": 5, "val_batches": 2, "test_batches": 2, "threads": 1},
    "trial": {"kind": "engine", "timeout_seconds": 300}})");
  const auto db = dir / "quickstart.db";
  const auto sweep = run_lorafarm({"sweep", (dir / "quickstart.json").string(), "--db", db.string(), "--workers", "2"});
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;

  const fs::path out_dir = lorafarm_binary().parent_path() / "report-screenshots";
  fs::create_directories(out_dir);
  const auto html = out_dir / "quickstart-report.html";
  const auto r = run_lorafarm({"report", "quickstart-short", "--db", db.string(), "--format", "html", "-o", html.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const std::vector<std::string> common = {chromium.string(), "--headless", "--no-sandbox", "--disable-gpu",
                                           "--disable-background-networking", "--no-first-run", "--window-size=1100,4000"};
  auto with = [&](std::vector<std::string> extra, const std::string& profile) {
    auto argv = common;
    argv.push_back("--user-data-dir=" + (dir / profile).string());
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  const auto dom = run_process(with({"--dump-dom", "file://" + html.string()}, "profile-dom"));
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  // The DOM as the browser built it: seven figures, each an <svg> with data marks.
  std::map<std::string, std::ptrdiff_t> marks;
  for (const auto& [id, body] : figures(dom.out)) {
    ASSERT_THAT(body, HasSubstr("<svg")) << id;
    marks[id] = count(body, "class=\"mark\"");
  }
  ASSERT_EQ(marks.size(), 7u) << dom.out.substr(0, 2000);
  for (const auto& [id, n] : marks) EXPECT_GT(n, 0) << id << " has no data marks";
  EXPECT_GE(marks["perplexity-memory"], 4);     // one dot per completed trial
  EXPECT_GE(marks["learning-curves"], 8);       // val and train per method
  EXPECT_GE(marks["parallel-coordinates"], 4);  // one line per trial

  const auto png = out_dir / "quickstart-report.png";
  fs::remove(png);
  const auto shot = run_process(with({"--screenshot=" + png.string(), "file://" + html.string()}, "profile-shot"));
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 20000u);
  EXPECT_EQ(read_file(png).substr(1, 3), "PNG");

  // The Markdown table's numbers are the best trials' rows in the DB.
  const auto md = run_lorafarm({"report", "quickstart-short", "--db", db.string(), "--format", "md", "--no-base"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  auto store = schema::Store::open_reader(db);
  const auto e = *store.find_experiment("quickstart-short");
  int rows = 0;
  for (const auto& t : store.trials(e.id)) {
    ASSERT_EQ(t.status, schema::TrialStatus::Completed) << t.error;
    const auto result = store.result(t.id);
    ASSERT_TRUE(result);
    const std::string method = t.params["method"].get<std::string>();
    // Each method has one trial here, so it is the best one.
    const std::regex row("\\| " + method + " \\| " + std::to_string(t.number) + " \\| [^|]* \\| ([0-9.]+) \\| ([0-9.]+) \\| ([0-9.]+) \\|");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(md.out, m, row)) << method << "\n" << md.out;
    EXPECT_NEAR(std::stod(m[1]), result->metrics["val_ppl"].get<double>(), result->metrics["val_ppl"].get<double>() * 1e-4);
    EXPECT_NEAR(std::stod(m[2]), result->metrics["test_ppl"].get<double>(), result->metrics["test_ppl"].get<double>() * 1e-4);
    // Peak RSS as the one metric lookup resolves it (schema::ResultRecord::metric).
    const double peak = *result->metric("peak_rss_mb");
    EXPECT_NEAR(std::stod(m[3]), peak, peak * 1e-4);
    ++rows;
  }
  EXPECT_EQ(rows, 4);
}

}  // namespace
}  // namespace lorafarm::cli
