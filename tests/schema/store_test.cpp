// The store on a real SQLite file: round trips, WAL, migrations, read-only use.
#include "schema/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schema/migrations.h"
#include "test_support.h"

namespace lorafarm::schema {
namespace {

using ::testing::HasSubstr;

ExperimentRecord sample_experiment() {
  ExperimentRecord e;
  e.name = "exp";
  e.spec_json = "{}";
  e.spec_hash = "abc";
  e.seed = 42;
  e.lorafarm_version = "0.1.0";
  e.git_commit = "deadbeef";
  e.host = "host";
  e.threads = 2;
  e.max_trials = 10;
  e.created_at = 1.0;
  return e;
}

TEST(Store, RoundTripsExperimentsTrialsAttemptsMetricsResults) {
  testing::ScratchDir dir;
  auto store = Store::open_writer(dir / "db.sqlite");
  EXPECT_EQ(store.schema_version(), latest_schema_version());
  store.begin();
  const auto eid = store.insert_experiment(sample_experiment());
  TrialRecord t;
  t.experiment_id = eid;
  t.number = 0;
  t.params = {{"lr", 0.01}, {"method", "lora"}};
  t.seed = 123;
  t.created_at = 2.0;
  t.id = store.insert_trial(t);
  t.status = TrialStatus::Running;
  t.worker = "w1";
  t.started_at = 3.0;
  store.update_trial(t);
  store.insert_attempt({t.id, 0, 1, "w1", TrialStatus::Running, "", 3.0, std::nullopt});
  store.insert_metric(t.id, 1, 10, "val_loss", 2.5);
  store.insert_metric(t.id, 1, 20, "val_loss", 2.0);
  store.finish_attempt(t.id, 1, TrialStatus::Completed, "", 4.0);
  store.insert_result({t.id, 1, {{"val_loss", 2.0}, {"val_ppl", 7.39}}, 512.0, 1.0});
  store.insert_artifact({t.id, 1, "w1", "/a/adapter.safetensors", "ff", 10});
  store.insert_event(eid, t.id, 1, "TEST", {{"x", 1}}, 5.0);
  store.commit();

  const auto e = store.find_experiment("exp");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->seed, 42u);
  EXPECT_EQ(e->git_commit, "deadbeef");
  const auto trials = store.trials(eid);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].params["method"], "lora");
  EXPECT_EQ(trials[0].status, TrialStatus::Running);
  EXPECT_EQ(trials[0].seed, 123u);
  EXPECT_EQ(store.metrics(t.id).size(), 2u);
  const auto attempts = store.attempts(eid);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].status, TrialStatus::Completed);
  const auto r = store.result(t.id);
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(*r->peak_rss_mb, 512.0);
  EXPECT_DOUBLE_EQ(r->metrics["val_ppl"].get<double>(), 7.39);
  EXPECT_EQ(store.artifacts(t.id).at(0).sha256, "ff");
  EXPECT_EQ(store.events(eid).at(0).trial_number, 0);
  EXPECT_TRUE(store.integrity_ok());

  auto journal = store.database().prepare("PRAGMA journal_mode");
  ASSERT_TRUE(journal.step());
  EXPECT_EQ(journal.text(0), "wal");
}

TEST(Store, RefusesASecondResultForTheSameTrial) {
  testing::ScratchDir dir;
  auto store = Store::open_writer(dir / "db.sqlite");
  const auto eid = store.insert_experiment(sample_experiment());
  TrialRecord t;
  t.experiment_id = eid;
  t.id = store.insert_trial(t);
  store.insert_result({t.id, 1, {{"val_loss", 1.0}}, std::nullopt, std::nullopt});
  EXPECT_THROW(store.insert_result({t.id, 2, {{"val_loss", 0.5}}, std::nullopt, std::nullopt}), StoreError);
  EXPECT_EQ(store.count_results(eid), 1);
}

TEST(Store, UpgradesADatabaseCreatedByAnOlderSchema) {
  testing::ScratchDir dir;
  const auto path = dir / "old.sqlite";
  {
    // A version-1 database with a finished trial and a queued one.
    Database db(path, Database::Mode::ReadWrite);
    migrate(db, 1);
    ASSERT_EQ(db.user_version(), 1);
    db.exec(
        "INSERT INTO experiments (name, spec_json, spec_hash, seed, lorafarm_version, git_commit, host, threads, status, max_trials, "
        "created_at) VALUES ('old', '{}', 'h', 1, '0.0.9', '', 'host', 1, 'FINISHED', 2, 1.0)");
    db.exec(
        "INSERT INTO trials (experiment_id, number, params_json, seed, status, attempt, worker, created_at, started_at, finished_at, "
        "objective) VALUES (1, 0, '{\"lr\":0.1}', 5, 'COMPLETED', 2, 'w9', 1.0, 2.0, 3.0, 0.5), "
        "(1, 1, '{\"lr\":0.2}', 6, 'QUEUED', 1, NULL, 1.0, NULL, NULL, NULL)");
  }
  auto store = Store::open_writer(path);
  EXPECT_EQ(store.schema_version(), latest_schema_version());
  const auto e = store.find_experiment("old");
  ASSERT_TRUE(e);
  const auto trials = store.trials(e->id);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].objective, 0.5);
  const auto attempts = store.attempts(e->id);  // backfilled lineage
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].trial_number, 0);
  EXPECT_EQ(attempts[0].attempt, 2);
  EXPECT_EQ(attempts[0].worker, "w9");
  EXPECT_EQ(attempts[0].status, TrialStatus::Completed);
  EXPECT_TRUE(store.integrity_ok());
}

TEST(Store, RefusesADatabaseNewerThanThisBuild) {
  testing::ScratchDir dir;
  {
    Database db(dir / "new.sqlite", Database::Mode::ReadWrite);
    db.exec("PRAGMA user_version = 999");
  }
  try {
    Store::open_writer(dir / "new.sqlite");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("newer than this lorafarm"));
  }
}

TEST(Store, ReaderIsReadOnlyAndNeedsAnExistingCurrentFile) {
  testing::ScratchDir dir;
  EXPECT_THROW(Store::open_reader(dir / "missing.sqlite"), StoreError);
  {
    auto writer = Store::open_writer(dir / "db.sqlite");
    writer.insert_experiment(sample_experiment());
  }
  auto reader = Store::open_reader(dir / "db.sqlite");
  EXPECT_EQ(reader.experiments().size(), 1u);
  EXPECT_THROW(reader.database().exec("DELETE FROM experiments"), StoreError);
}

TEST(Store, UsesIndexesForTheHotQueries) {
  testing::ScratchDir dir;
  auto store = Store::open_writer(dir / "db.sqlite");
  auto plan = [&](const std::string& sql) {
    auto s = store.database().prepare("EXPLAIN QUERY PLAN " + sql);
    std::string text;
    while (s.step()) text += s.text(3) + ";";
    return text;
  };
  EXPECT_THAT(plan("SELECT * FROM trials WHERE experiment_id = 1 AND status = 'RUNNING'"), HasSubstr("USING INDEX"));
  EXPECT_THAT(plan("SELECT * FROM metrics WHERE trial_id = 5 AND name = 'val_loss'"), HasSubstr("USING INDEX"));
}

}  // namespace
}  // namespace lorafarm::schema
