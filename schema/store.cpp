// Store: prepared statements, prepared once per connection and reused.
#include "schema/store.h"

#include <chrono>

#include "schema/migrations.h"
#include "schema/trial_metric.h"

namespace lorafarm::schema {

using nlohmann::json;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Store::Statements {
  explicit Statements(Database& db)
      : begin(db.prepare("BEGIN IMMEDIATE")),
        commit(db.prepare("COMMIT")),
        insert_trial(db.prepare("INSERT INTO trials (experiment_id, number, params_json, seed, status, attempt, worker, created_at, "
                                "started_at, finished_at, objective, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")),
        update_trial(db.prepare("UPDATE trials SET status = ?2, attempt = ?3, worker = ?4, started_at = ?5, finished_at = ?6, "
                                "objective = ?7, error = ?8 WHERE id = ?1")),
        insert_attempt(db.prepare("INSERT INTO attempts (trial_id, attempt, worker, status, cause, started_at, finished_at, resources_json) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")),
        finish_attempt(db.prepare("UPDATE attempts SET status = ?3, cause = ?4, finished_at = ?5 WHERE trial_id = ?1 AND attempt = ?2")),
        insert_metric(db.prepare("INSERT INTO metrics (trial_id, attempt, step, name, value) VALUES (?1, ?2, ?3, ?4, ?5)")),
        insert_result(db.prepare("INSERT INTO results (trial_id, attempt, val_loss, val_ppl, test_loss, test_ppl, peak_rss_mb, "
                                 "tokens_per_second, trainable_params, wall_seconds, metrics_json) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")),
        insert_artifact(db.prepare("INSERT INTO artifacts (trial_id, attempt, worker, path, sha256, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")),
        insert_event(db.prepare("INSERT INTO events (experiment_id, trial_id, attempt, time, kind, detail_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")) {}
  Statement begin, commit, insert_trial, update_trial, insert_attempt, finish_attempt, insert_metric, insert_result, insert_artifact, insert_event;
};

Store::Store(std::unique_ptr<Database> db, bool writer) : db_(std::move(db)) {
  if (writer) s_ = std::make_unique<Statements>(*db_);
}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() {
  if (db_ && in_transaction_) {
    try {
      db_->exec("ROLLBACK");
    } catch (...) {
    }
  }
}

Store Store::open_writer(const std::filesystem::path& path, Durability durability) {
  auto db = std::make_unique<Database>(path, Database::Mode::ReadWrite);
  db->exec("PRAGMA journal_mode = WAL");
  db->exec(durability == Durability::Full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  db->exec("PRAGMA foreign_keys = ON");
  migrate(*db);
  return Store(std::move(db), true);
}

Store Store::open_reader(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw StoreError(path.string() + ": no such database (run `lorafarm sweep` first, or pass --db)");
  auto db = std::make_unique<Database>(path, Database::Mode::ReadOnly);
  const int version = db->user_version();
  if (version != latest_schema_version()) {
    throw StoreError(path.string() + ": schema version " + std::to_string(version) + ", this lorafarm reads version " +
                     std::to_string(latest_schema_version()) + (version < latest_schema_version() ? " (resume a sweep on it to upgrade)" : ""));
  }
  return Store(std::move(db), false);
}

int Store::schema_version() { return db_->user_version(); }

void Store::begin() {
  if (in_transaction_) return;
  s_->begin.run();
  in_transaction_ = true;
}

void Store::commit() {
  if (!in_transaction_) return;
  s_->commit.run();
  in_transaction_ = false;
}

std::int64_t Store::insert_experiment(const ExperimentRecord& e) {
  auto s = db_->prepare(
      "INSERT INTO experiments (name, spec_json, spec_hash, seed, lorafarm_version, git_commit, host, threads, status, max_trials, "
      "created_at, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  s.bind(1, e.name).bind(2, e.spec_json).bind(3, e.spec_hash).bind(4, static_cast<std::int64_t>(e.seed)).bind(5, e.lorafarm_version);
  s.bind(6, e.git_commit).bind(7, e.host).bind(8, e.threads).bind(9, e.status).bind(10, e.max_trials).bind(11, e.created_at).bind(12, e.finished_at);
  s.run();
  return db_->last_insert_id();
}

void Store::update_experiment_status(std::int64_t id, std::string_view status, std::optional<double> finished_at) {
  db_->prepare("UPDATE experiments SET status = ?2, finished_at = ?3 WHERE id = ?1").bind(1, id).bind(2, status).bind(3, finished_at).run();
}

void Store::update_experiment_max_trials(std::int64_t id, std::int64_t max_trials) {
  db_->prepare("UPDATE experiments SET max_trials = ?2 WHERE id = ?1").bind(1, id).bind(2, max_trials).run();
}

namespace {
ExperimentRecord read_experiment(const Statement& s) {
  ExperimentRecord e;
  e.id = s.int64(0);
  e.name = s.text(1);
  e.spec_json = s.text(2);
  e.spec_hash = s.text(3);
  e.seed = static_cast<std::uint64_t>(s.int64(4));
  e.lorafarm_version = s.text(5);
  e.git_commit = s.text(6);
  e.host = s.text(7);
  e.threads = static_cast<int>(s.int64(8));
  e.status = s.text(9);
  e.max_trials = s.int64(10);
  e.created_at = s.real(11);
  e.finished_at = s.optional_real(12);
  return e;
}
constexpr std::string_view kExperimentColumns =
    "SELECT id, name, spec_json, spec_hash, seed, lorafarm_version, git_commit, host, threads, status, max_trials, created_at, "
    "finished_at FROM experiments";
}  // namespace

std::optional<ExperimentRecord> Store::find_experiment(std::string_view name) {
  auto s = db_->prepare(std::string(kExperimentColumns) + " WHERE name = ?1");
  s.bind(1, name);
  if (!s.step()) return std::nullopt;
  return read_experiment(s);
}

std::vector<ExperimentRecord> Store::experiments() {
  auto s = db_->prepare(std::string(kExperimentColumns) + " ORDER BY id");
  std::vector<ExperimentRecord> out;
  while (s.step()) out.push_back(read_experiment(s));
  return out;
}

std::int64_t Store::insert_trial(const TrialRecord& t) {
  auto& s = s_->insert_trial;
  s.bind(1, t.experiment_id).bind(2, t.number).bind(3, t.params.dump()).bind(4, static_cast<std::int64_t>(t.seed));
  s.bind(5, to_string(t.status)).bind(6, t.attempt);
  if (t.worker.empty()) s.bind_null(7); else s.bind(7, t.worker);
  s.bind(8, t.created_at).bind(9, t.started_at).bind(10, t.finished_at).bind(11, t.objective);
  if (t.error.empty()) s.bind_null(12); else s.bind(12, t.error);
  s.run();
  return db_->last_insert_id();
}

void Store::update_trial(const TrialRecord& t) {
  auto& s = s_->update_trial;
  s.bind(1, t.id).bind(2, to_string(t.status)).bind(3, t.attempt);
  if (t.worker.empty()) s.bind_null(4); else s.bind(4, t.worker);
  s.bind(5, t.started_at).bind(6, t.finished_at).bind(7, t.objective);
  if (t.error.empty()) s.bind_null(8); else s.bind(8, t.error);
  s.run();
}

std::vector<TrialRecord> Store::trials(std::int64_t experiment_id) {
  auto s = db_->prepare(
      "SELECT id, experiment_id, number, params_json, seed, status, attempt, worker, created_at, started_at, finished_at, objective, error "
      "FROM trials WHERE experiment_id = ?1 ORDER BY number");
  s.bind(1, experiment_id);
  std::vector<TrialRecord> out;
  while (s.step()) {
    TrialRecord t;
    t.id = s.int64(0);
    t.experiment_id = s.int64(1);
    t.number = s.int64(2);
    t.params = json::parse(s.text(3));
    t.seed = static_cast<std::uint64_t>(s.int64(4));
    t.status = trial_status_from(s.text(5)).value_or(TrialStatus::Queued);
    t.attempt = static_cast<int>(s.int64(6));
    t.worker = s.text(7);
    t.created_at = s.real(8);
    t.started_at = s.optional_real(9);
    t.finished_at = s.optional_real(10);
    t.objective = s.optional_real(11);
    t.error = s.text(12);
    out.push_back(std::move(t));
  }
  return out;
}

void Store::insert_attempt(const AttemptRecord& a) {
  auto& s = s_->insert_attempt;
  s.bind(1, a.trial_id).bind(2, a.attempt);
  if (a.worker.empty()) s.bind_null(3); else s.bind(3, a.worker);
  s.bind(4, to_string(a.status));
  if (a.cause.empty()) s.bind_null(5); else s.bind(5, a.cause);
  s.bind(6, a.started_at).bind(7, a.finished_at);
  if (a.resources.is_null()) s.bind_null(8); else s.bind(8, a.resources.dump());
  s.run();
}

void Store::finish_attempt(std::int64_t trial_id, int attempt, TrialStatus status, std::string_view cause, double finished_at) {
  auto& s = s_->finish_attempt;
  s.bind(1, trial_id).bind(2, attempt).bind(3, to_string(status));
  if (cause.empty()) s.bind_null(4); else s.bind(4, cause);
  s.bind(5, finished_at);
  s.run();
}

std::vector<AttemptRecord> Store::attempts(std::int64_t experiment_id) {
  auto s = db_->prepare(
      "SELECT a.trial_id, t.number, a.attempt, a.worker, a.status, a.cause, a.started_at, a.finished_at, a.resources_json FROM attempts a "
      "JOIN trials t ON t.id = a.trial_id WHERE t.experiment_id = ?1 ORDER BY t.number, a.attempt");
  s.bind(1, experiment_id);
  std::vector<AttemptRecord> out;
  while (s.step()) {
    AttemptRecord a;
    a.trial_id = s.int64(0);
    a.trial_number = s.int64(1);
    a.attempt = static_cast<int>(s.int64(2));
    a.worker = s.text(3);
    a.status = trial_status_from(s.text(4)).value_or(TrialStatus::Running);
    a.cause = s.text(5);
    a.started_at = s.real(6);
    a.finished_at = s.optional_real(7);
    if (!s.is_null(8)) a.resources = json::parse(s.text(8), nullptr, false);
    out.push_back(std::move(a));
  }
  return out;
}

void Store::insert_metric(std::int64_t trial_id, int attempt, std::int64_t step, std::string_view name, std::optional<double> value) {
  s_->insert_metric.bind(1, trial_id).bind(2, attempt).bind(3, step).bind(4, name).bind(5, value).run();
}

std::vector<MetricRecord> Store::metrics(std::int64_t trial_id) {
  auto s = db_->prepare("SELECT attempt, step, name, value FROM metrics WHERE trial_id = ?1 ORDER BY attempt, step, name");
  s.bind(1, trial_id);
  std::vector<MetricRecord> out;
  while (s.step()) out.push_back({static_cast<int>(s.int64(0)), s.int64(1), s.text(2), s.optional_real(3)});
  return out;
}

void Store::insert_result(const ResultRecord& r) {
  auto number = [&](const char* key) -> std::optional<double> {
    if (r.metrics.contains(key) && r.metrics[key].is_number()) return r.metrics[key].get<double>();
    return std::nullopt;
  };
  auto& s = s_->insert_result;
  s.bind(1, r.trial_id).bind(2, r.attempt).bind(3, number("val_loss")).bind(4, number("val_ppl")).bind(5, number("test_loss"));
  s.bind(6, number("test_ppl")).bind(7, r.peak_rss_mb).bind(8, number("tokens_per_second")).bind(9, number("trainable_params"));
  s.bind(10, r.wall_seconds).bind(11, r.metrics.dump());
  s.run();
}

std::optional<ResultRecord> Store::result(std::int64_t trial_id) {
  auto s = db_->prepare("SELECT trial_id, attempt, metrics_json, peak_rss_mb, wall_seconds FROM results WHERE trial_id = ?1");
  s.bind(1, trial_id);
  if (!s.step()) return std::nullopt;
  return ResultRecord{s.int64(0), static_cast<int>(s.int64(1)), json::parse(s.text(2)), s.optional_real(3), s.optional_real(4)};
}

std::int64_t Store::count_results(std::int64_t experiment_id) {
  auto s = db_->prepare("SELECT COUNT(*) FROM results r JOIN trials t ON t.id = r.trial_id WHERE t.experiment_id = ?1");
  s.bind(1, experiment_id);
  return s.step() ? s.int64(0) : 0;
}

void Store::insert_base_scores(const BaseScoresRecord& b) {
  auto s = db_->prepare(
      "INSERT INTO base_scores (experiment_id, val_loss, val_ppl, test_loss, test_ppl, model_parameters, settings_json, computed_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (experiment_id) DO NOTHING");
  s.bind(1, b.experiment_id).bind(2, b.val_loss).bind(3, b.val_ppl).bind(4, b.test_loss).bind(5, b.test_ppl);
  s.bind(6, b.model_parameters).bind(7, b.settings.dump()).bind(8, b.computed_at);
  s.run();
}

std::optional<BaseScoresRecord> Store::base_scores(std::int64_t experiment_id) {
  auto s = db_->prepare(
      "SELECT val_loss, val_ppl, test_loss, test_ppl, model_parameters, settings_json, computed_at FROM base_scores WHERE experiment_id = ?1");
  s.bind(1, experiment_id);
  if (!s.step()) return std::nullopt;
  BaseScoresRecord b;
  b.experiment_id = experiment_id;
  b.val_loss = s.real(0);
  b.val_ppl = s.real(1);
  b.test_loss = s.optional_real(2);
  b.test_ppl = s.optional_real(3);
  if (!s.is_null(4)) b.model_parameters = s.int64(4);
  b.settings = json::parse(s.text(5), nullptr, false);
  b.computed_at = s.real(6);
  return b;
}

void Store::insert_artifact(const ArtifactRecord& a) {
  s_->insert_artifact.bind(1, a.trial_id).bind(2, a.attempt).bind(3, a.worker).bind(4, a.path).bind(5, a.sha256).bind(6, a.bytes).run();
}

std::vector<ArtifactRecord> Store::artifacts(std::int64_t trial_id) {
  auto s = db_->prepare("SELECT trial_id, attempt, worker, path, sha256, bytes FROM artifacts WHERE trial_id = ?1 ORDER BY id");
  s.bind(1, trial_id);
  std::vector<ArtifactRecord> out;
  while (s.step()) out.push_back({s.int64(0), static_cast<int>(s.int64(1)), s.text(2), s.text(3), s.text(4), s.int64(5)});
  return out;
}

void Store::delete_artifact(std::int64_t trial_id, int attempt, const std::string& path) {
  auto s = db_->prepare("DELETE FROM artifacts WHERE trial_id = ?1 AND attempt = ?2 AND path = ?3");
  s.bind(1, trial_id).bind(2, attempt).bind(3, path).run();
}

void Store::upsert_worker(const WorkerRecord& w) {
  db_->prepare(
         "INSERT INTO workers (id, host, slots, version, capabilities, pid, first_seen, last_seen, status, resources_json) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(id) DO UPDATE SET host = excluded.host, slots = excluded.slots, "
         "version = excluded.version, capabilities = excluded.capabilities, pid = excluded.pid, last_seen = excluded.last_seen, "
         "status = excluded.status, resources_json = excluded.resources_json")
      .bind(1, w.id).bind(2, w.host).bind(3, w.slots).bind(4, w.version).bind(5, w.capabilities.dump()).bind(6, w.pid)
      .bind(7, w.first_seen).bind(8, w.last_seen).bind(9, w.status).bind(10, w.resources.dump())
      .run();
}

void Store::update_worker_status(std::string_view id, std::string_view status, double last_seen) {
  db_->prepare("UPDATE workers SET status = ?2, last_seen = ?3 WHERE id = ?1").bind(1, id).bind(2, status).bind(3, last_seen).run();
}

std::vector<WorkerRecord> Store::workers() {
  auto s = db_->prepare(
      "SELECT id, host, slots, version, capabilities, pid, first_seen, last_seen, status, resources_json FROM workers ORDER BY first_seen");
  std::vector<WorkerRecord> out;
  while (s.step()) {
    out.push_back({s.text(0), s.text(1), static_cast<int>(s.int64(2)), s.text(3), json::parse(s.text(4)), s.int64(5), s.real(6), s.real(7),
                   s.text(8), json::parse(s.text(9), nullptr, false)});
  }
  return out;
}

void Store::insert_event(std::int64_t experiment_id, std::optional<std::int64_t> trial_id, std::optional<int> attempt, std::string_view kind,
                         const json& detail, double time) {
  auto& s = s_->insert_event;
  s.bind(1, experiment_id);
  if (trial_id) s.bind(2, *trial_id); else s.bind_null(2);
  if (attempt) s.bind(3, *attempt); else s.bind_null(3);
  s.bind(4, time).bind(5, kind).bind(6, detail.dump());
  s.run();
}

std::vector<EventRecord> Store::events(std::int64_t experiment_id) {
  auto s = db_->prepare(
      "SELECT e.id, t.number, e.attempt, e.time, e.kind, e.detail_json FROM events e LEFT JOIN trials t ON t.id = e.trial_id "
      "WHERE e.experiment_id = ?1 ORDER BY e.id");
  s.bind(1, experiment_id);
  std::vector<EventRecord> out;
  while (s.step()) {
    EventRecord e;
    e.id = s.int64(0);
    if (!s.is_null(1)) e.trial_number = s.int64(1);
    if (!s.is_null(2)) e.attempt = static_cast<int>(s.int64(2));
    e.time = s.real(3);
    e.kind = s.text(4);
    e.detail = json::parse(s.text(5));
    out.push_back(std::move(e));
  }
  return out;
}

bool Store::integrity_ok() {
  auto s = db_->prepare("PRAGMA integrity_check");
  return s.step() && s.text(0) == "ok";
}

std::optional<std::string> recorded_spec_dir(Store& store, std::int64_t experiment_id) {
  std::optional<std::string> dir;
  for (const auto& e : store.events(experiment_id))
    if ((e.kind == "CREATED" || e.kind == "RESUMED") && e.detail.contains("spec_dir") && e.detail["spec_dir"].is_string())
      dir = e.detail["spec_dir"].get<std::string>();
  return dir;
}

std::optional<double> ResultRecord::metric(const std::string& name) const {
  return resolve_metric(name, metrics, {peak_rss_mb, wall_seconds});
}

}  // namespace lorafarm::schema
