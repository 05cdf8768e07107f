// Schema history. Never edit a released migration; append a new one.
#include "schema/migrations.h"

#include <array>
#include <string>

namespace lorafarm::schema {
namespace {

constexpr std::string_view kV1 = R"sql(
CREATE TABLE experiments (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  spec_json        TEXT NOT NULL,
  spec_hash        TEXT NOT NULL,
  seed             INTEGER NOT NULL,
  lorafarm_version TEXT NOT NULL,
  git_commit       TEXT NOT NULL,
  host             TEXT NOT NULL,
  threads          INTEGER NOT NULL,
  status           TEXT NOT NULL,          -- RUNNING, FINISHED, INTERRUPTED
  max_trials       INTEGER NOT NULL,
  created_at       REAL NOT NULL,          -- unix seconds
  finished_at      REAL
);
CREATE TABLE trials (
  id            INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  number        INTEGER NOT NULL,          -- 0, 1, 2 ... within the experiment
  params_json   TEXT NOT NULL,
  seed          INTEGER NOT NULL,
  status        TEXT NOT NULL,             -- see schema/trial_status.h
  attempt       INTEGER NOT NULL,          -- current (or last) attempt, from 1
  worker        TEXT,
  created_at    REAL NOT NULL,
  started_at    REAL,
  finished_at   REAL,
  objective     REAL,                      -- the objective metric as reported
  error         TEXT,
  UNIQUE (experiment_id, number)
);
CREATE INDEX trials_by_status ON trials (experiment_id, status);
CREATE INDEX trials_by_objective ON trials (experiment_id, objective);
CREATE TABLE metrics (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  attempt  INTEGER NOT NULL,
  step     INTEGER NOT NULL,
  name     TEXT NOT NULL,
  value    REAL
);
CREATE INDEX metrics_by_trial ON metrics (trial_id, name, step);
CREATE TABLE results (
  trial_id          INTEGER PRIMARY KEY REFERENCES trials(id),  -- one counted result per trial
  attempt           INTEGER NOT NULL,
  val_loss          REAL,
  val_ppl           REAL,
  test_loss         REAL,
  test_ppl          REAL,
  peak_rss_mb       REAL,
  tokens_per_second REAL,
  trainable_params  REAL,
  wall_seconds      REAL,
  metrics_json      TEXT NOT NULL          -- every final metric the trial reported
);
CREATE TABLE workers (
  id           TEXT PRIMARY KEY,
  host         TEXT NOT NULL,
  slots        INTEGER NOT NULL,
  version      TEXT NOT NULL,
  capabilities TEXT NOT NULL,
  pid          INTEGER,
  first_seen   REAL NOT NULL,
  last_seen    REAL NOT NULL,
  status       TEXT NOT NULL              -- CONNECTED, LOST, GONE
);
CREATE TABLE artifacts (
  id       INTEGER PRIMARY KEY,
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  attempt  INTEGER NOT NULL,
  worker   TEXT,
  path     TEXT NOT NULL,
  sha256   TEXT NOT NULL,
  bytes    INTEGER NOT NULL
);
CREATE INDEX artifacts_by_trial ON artifacts (trial_id);
CREATE TABLE events (
  id            INTEGER PRIMARY KEY,
  experiment_id INTEGER REFERENCES experiments(id),
  trial_id      INTEGER REFERENCES trials(id),
  attempt       INTEGER,
  time          REAL NOT NULL,
  kind          TEXT NOT NULL,             -- e.g. STALE_RESULT, DUPLICATE_RESULT, LEASE_EXPIRED, RESUMED
  detail_json   TEXT NOT NULL
);
CREATE INDEX events_by_experiment ON events (experiment_id, kind);
)sql";

// Version 2: every attempt of a trial gets its own row (lineage: which worker
// ran which attempt, how it ended), backfilled from the trials table.
constexpr std::string_view kV2 = R"sql(
CREATE TABLE attempts (
  trial_id    INTEGER NOT NULL REFERENCES trials(id),
  attempt     INTEGER NOT NULL,
  worker      TEXT,
  status      TEXT NOT NULL,
  cause       TEXT,
  started_at  REAL NOT NULL,
  finished_at REAL,
  PRIMARY KEY (trial_id, attempt)
);
INSERT INTO attempts (trial_id, attempt, worker, status, cause, started_at, finished_at)
  SELECT id, attempt, worker, status, error, COALESCE(started_at, created_at), finished_at
  FROM trials WHERE status <> 'QUEUED';
CREATE INDEX attempts_by_worker ON attempts (worker);
)sql";

// Version 3: the untrained base model scored once per experiment, the way a
// trial's final evaluation scores its model: the report's and the dashboard's
// reference row, so neither re-evaluates the model each time it is drawn.
constexpr std::string_view kV3 = R"sql(
CREATE TABLE base_scores (
  experiment_id    INTEGER PRIMARY KEY REFERENCES experiments(id),
  val_loss         REAL NOT NULL,
  val_ppl          REAL NOT NULL,
  test_loss        REAL,
  test_ppl         REAL,
  model_parameters INTEGER,              -- total parameters of the base model
  settings_json    TEXT NOT NULL,        -- how it was scored: batches, batch size, sequence cut, EOS, prompt masking
  computed_at      REAL NOT NULL
);
)sql";

// Version 4: placement. What each worker offers (devices, memory, cores) and
// what each attempt held of it (the devices it got), as JSON objects.
constexpr std::string_view kV4 = R"sql(
ALTER TABLE workers ADD COLUMN resources_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE attempts ADD COLUMN resources_json TEXT;
)sql";

constexpr std::array<Migration, 4> kMigrations{{
    {1, "experiments, trials, metrics, results, workers, artifacts, events", kV1},
    {2, "attempts: one row per attempt (lineage)", kV2},
    {3, "base_scores: the base model's reference row, once per experiment", kV3},
    {4, "workers.resources_json, attempts.resources_json: placement", kV4},
}};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

void migrate(Database& db, int target) {
  if (target < 0) target = latest_schema_version();
  const int current = db.user_version();
  if (current > latest_schema_version()) {
    throw StoreError(db.path().string() + ": schema version " + std::to_string(current) + " is newer than this lorafarm (" +
                     std::to_string(latest_schema_version()) + "); upgrade lorafarm");
  }
  for (const auto& m : kMigrations) {
    if (m.version <= current || m.version > target) continue;
    Transaction tx(db);
    db.exec(m.sql);
    db.exec("PRAGMA user_version = " + std::to_string(m.version));
    tx.commit();
  }
}

}  // namespace lorafarm::schema
