// The experiment store: one SQLite file (WAL) holding experiments, trials,
// attempts, learning curves, results, workers, artifacts and events. The
// coordinator is the only writer; every other command opens it read-only.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "schema/sqlite.h"
#include "schema/trial_status.h"

namespace lorafarm::schema {

struct ExperimentRecord {
  std::int64_t id = 0;
  std::string name;
  std::string spec_json;
  std::string spec_hash;
  std::uint64_t seed = 0;
  std::string lorafarm_version;
  std::string git_commit;
  std::string host;
  int threads = 0;
  std::string status = "RUNNING";
  std::int64_t max_trials = 0;
  double created_at = 0;
  std::optional<double> finished_at;
};

struct TrialRecord {
  std::int64_t id = 0;
  std::int64_t experiment_id = 0;
  std::int64_t number = 0;
  nlohmann::json params = nlohmann::json::object();
  std::uint64_t seed = 0;
  TrialStatus status = TrialStatus::Queued;
  int attempt = 1;
  std::string worker;
  double created_at = 0;
  std::optional<double> started_at;
  std::optional<double> finished_at;
  std::optional<double> objective;
  std::string error;
};

struct AttemptRecord {
  std::int64_t trial_id = 0;
  std::int64_t trial_number = 0;  // filled by reads
  int attempt = 1;
  std::string worker;
  TrialStatus status = TrialStatus::Running;
  std::string cause;
  double started_at = 0;
  std::optional<double> finished_at;
  // What the attempt held of its worker: {"gpus": [...], "memory_mb", "cpus"}
  // (schema::Allocation); null when recorded before placement existed.
  nlohmann::json resources;
};

struct MetricRecord {
  int attempt = 1;
  std::int64_t step = 0;
  std::string name;
  std::optional<double> value;
};

struct ResultRecord {
  std::int64_t trial_id = 0;
  int attempt = 1;
  nlohmann::json metrics = nlohmann::json::object();  // val_loss, val_ppl, test_ppl, ... as reported
  std::optional<double> peak_rss_mb;
  std::optional<double> wall_seconds;

  // The metric `name` by schema::resolve_metric's precedence: the worker's
  // measurement for "peak_rss_mb" and "wall_seconds", else a number of `metrics`.
  std::optional<double> metric(const std::string& name) const;
};

// The untrained base model scored as each trial's final evaluation scores its
// model (whole validation split, test_batches of the test split, the spec's
// batch size, sequence cut, EOS and prompt masking): the reference row.
struct BaseScoresRecord {
  std::int64_t experiment_id = 0;
  double val_loss = 0;
  double val_ppl = 0;
  std::optional<double> test_loss;
  std::optional<double> test_ppl;
  std::optional<std::int64_t> model_parameters;
  nlohmann::json settings = nlohmann::json::object();
  double computed_at = 0;
};

struct ArtifactRecord {
  std::int64_t trial_id = 0;
  int attempt = 1;
  std::string worker;
  std::string path;
  std::string sha256;
  std::int64_t bytes = 0;
};

struct WorkerRecord {
  std::string id;
  std::string host;
  int slots = 0;
  std::string version;
  nlohmann::json capabilities = nlohmann::json::array();
  std::int64_t pid = 0;
  double first_seen = 0;
  double last_seen = 0;
  std::string status = "CONNECTED";
  nlohmann::json resources = nlohmann::json::object();  // what it offers (schema::WorkerOffer)
};

struct EventRecord {
  std::int64_t id = 0;
  std::optional<std::int64_t> trial_number;
  std::optional<int> attempt;
  double time = 0;
  std::string kind;
  nlohmann::json detail;
};

class Store {
 public:
  enum class Durability {
    Normal,  // WAL, synchronous=NORMAL: survives a crash of any process (not power loss)
    Full,    // WAL, synchronous=FULL: each commit is fsynced
  };
  // Creates/migrates the file (writer). Throws StoreError.
  static Store open_writer(const std::filesystem::path& path, Durability durability = Durability::Normal);
  // Opens an existing file read-only; fails if it does not exist or needs a migration.
  static Store open_reader(const std::filesystem::path& path);

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  Database& database() { return *db_; }
  int schema_version();

  // Batching: every write between begin() and commit() is one transaction.
  void begin();
  void commit();
  bool in_transaction() const { return in_transaction_; }

  // Experiments.
  std::int64_t insert_experiment(const ExperimentRecord& experiment);
  void update_experiment_status(std::int64_t id, std::string_view status, std::optional<double> finished_at);
  void update_experiment_max_trials(std::int64_t id, std::int64_t max_trials);
  std::optional<ExperimentRecord> find_experiment(std::string_view name);
  std::vector<ExperimentRecord> experiments();

  // Trials and their attempts.
  std::int64_t insert_trial(const TrialRecord& trial);  // returns the row id
  void update_trial(const TrialRecord& trial);
  std::vector<TrialRecord> trials(std::int64_t experiment_id);
  void insert_attempt(const AttemptRecord& attempt);
  void finish_attempt(std::int64_t trial_id, int attempt, TrialStatus status, std::string_view cause, double finished_at);
  std::vector<AttemptRecord> attempts(std::int64_t experiment_id);

  // Learning curves and results.
  void insert_metric(std::int64_t trial_id, int attempt, std::int64_t step, std::string_view name, std::optional<double> value);
  std::vector<MetricRecord> metrics(std::int64_t trial_id);
  // At most one result per trial (a second one is a logic error: StoreError).
  void insert_result(const ResultRecord& result);
  std::optional<ResultRecord> result(std::int64_t trial_id);
  std::int64_t count_results(std::int64_t experiment_id);

  // One base row per experiment; the first one stored wins (later ones are ignored).
  void insert_base_scores(const BaseScoresRecord& scores);
  std::optional<BaseScoresRecord> base_scores(std::int64_t experiment_id);

  void insert_artifact(const ArtifactRecord& artifact);
  std::vector<ArtifactRecord> artifacts(std::int64_t trial_id);
  // Forgets one recorded file of an attempt (a superseded checkpoint's, deleted).
  void delete_artifact(std::int64_t trial_id, int attempt, const std::string& path);

  void upsert_worker(const WorkerRecord& worker);
  void update_worker_status(std::string_view id, std::string_view status, double last_seen);
  std::vector<WorkerRecord> workers();

  void insert_event(std::int64_t experiment_id, std::optional<std::int64_t> trial_id, std::optional<int> attempt, std::string_view kind,
                    const nlohmann::json& detail, double time);
  std::vector<EventRecord> events(std::int64_t experiment_id);

  // PRAGMA integrity_check == "ok".
  bool integrity_ok();

 private:
  struct Statements;
  Store(std::unique_ptr<Database> db, bool writer);
  std::unique_ptr<Database> db_;
  std::unique_ptr<Statements> s_;
  bool in_transaction_ = false;
};

// Seconds since the Unix epoch, as stored in the database.
double unix_now();

// The folder the experiment's spec was read from (its relative paths resolve
// there), as the coordinator records it in the CREATED/RESUMED events; the
// latest wins. Nullopt for databases written before it was recorded.
std::optional<std::string> recorded_spec_dir(Store& store, std::int64_t experiment_id);

}  // namespace lorafarm::schema
