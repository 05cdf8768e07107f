// Write actions of the dashboard: sweeps and generations run as child
// processes of the real `lorafarm` binary, so the server never trains or
// loads a model itself and a crash there cannot take it down.
#include "dashboard/dashboard_actions.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>

#include "dashboard/dashboard_api.h"
#include "process/run_captured.h"
#include "report/recorded_spec.h"
#include "schema/artifact_dir.h"
#include "schema/artifact_store.h"
#include "schema/store.h"
#include "schema/sweep_spec.h"

namespace lorafarm::dashboard {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool inside(const fs::path& root, const fs::path& path) {
  auto r = root.begin();
  auto p = path.begin();
  for (; r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator
    if (p == path.end() || *r != *p) return false;
  }
  return true;
}

// A name safe to use as a file name: letters, digits, - _ . only.
std::string file_stem(std::string_view name) {
  std::string out;
  for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out.empty() ? "sweep" : out;
}

// A plain file or folder name chosen from a listing (no separators, no dots-only).
void check_plain_name(const std::string& name, const char* field) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw ApiError(400, std::string(field) + " must be a plain name from GET /api/examples, got '" + name + "'");
}

// Relative model/data paths and {spec_dir} in a command resolve against the
// examples folder: the spec is written elsewhere before it runs.
void anchor_paths(json& spec, const fs::path& examples) {
  for (const char* key : {"model", "data"}) {
    if (spec.contains(key) && spec[key].is_string() && fs::path(spec[key].get<std::string>()).is_relative())
      spec[key] = (examples / spec[key].get<std::string>()).lexically_normal().string();
  }
  if (!spec.contains("trial") || !spec["trial"].is_object() || !spec["trial"].contains("command")) return;
  const auto replace = [&](json& s) {
    if (!s.is_string()) return;
    std::string text = s.get<std::string>();
    for (std::size_t at; (at = text.find("{spec_dir}")) != std::string::npos;) text.replace(at, 10, examples.string());
    s = text;
  };
  auto& command = spec["trial"]["command"];
  if (command.is_array())
    for (auto& part : command) replace(part);
  else
    replace(command);
}

}  // namespace

fs::path confined_path(const fs::path& root, const fs::path& candidate) {
  std::error_code ec;
  const fs::path canonical_root = fs::canonical(root, ec);
  if (ec) throw ApiError(404, "folder " + root.string() + " does not exist");
  const fs::path joined = candidate.is_absolute() ? candidate : canonical_root / candidate;
  // Judge the lexical form first so a traversal is refused even when its target is missing.
  const fs::path normal = joined.lexically_normal();
  if (!inside(canonical_root, normal) && !inside(fs::absolute(root).lexically_normal(), normal))
    throw ApiError(403, "path '" + candidate.string() + "' is outside " + canonical_root.string());
  const fs::path resolved = fs::canonical(joined, ec);
  if (ec) throw ApiError(404, "no such file: " + candidate.string());
  if (!inside(canonical_root, resolved))  // a symlink that leads out
    throw ApiError(403, "path '" + candidate.string() + "' is outside " + canonical_root.string());
  return resolved;
}

DashboardActions::DashboardActions(ActionPaths paths) : paths_(std::move(paths)) {}

DashboardActions::~DashboardActions() {
  std::lock_guard lock(mutex_);
  for (auto& c : children_) c.process.signal(SIGTERM);  // the sweep stops its trials and workers itself
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (auto& c : children_)
    if (c.process.running() && !c.process.wait_until(until)) c.process.kill();
}

void DashboardActions::reap() {
  for (auto& c : children_)
    if (!c.exit_code)
      if (const auto status = c.process.poll()) c.exit_code = status->code_or_negative_signal();
}

json DashboardActions::sweeps() {
  std::lock_guard lock(mutex_);
  reap();
  json out = json::array();
  for (const auto& c : children_)
    out.push_back({{"pid", c.process.pid()}, {"experiment", c.experiment}, {"log", c.log}, {"running", !c.exit_code},
                   {"exit_code", c.exit_code ? json(*c.exit_code) : json(nullptr)}});
  return out;
}

json DashboardActions::examples() const {
  json specs = json::array();
  json data = json::array();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(paths_.examples, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".json") specs.push_back(entry.path().filename().string());
  for (const auto& entry : fs::directory_iterator(paths_.examples / "data", ec))
    if (entry.is_directory()) data.push_back(entry.path().filename().string());
  std::sort(specs.begin(), specs.end());
  std::sort(data.begin(), data.end());
  return {{"specs", specs}, {"data", data}};
}

namespace {

// The spec a request names: an example file, or an uploaded object or text.
json requested_spec(const json& request, const fs::path& examples) {
  json spec;
  if (request.contains("example")) {
    if (!request["example"].is_string()) throw ApiError(400, "'example' must be a spec file name");
    const std::string name = request["example"].get<std::string>();
    check_plain_name(name, "example");
    const auto path = confined_path(examples, name);
    std::ifstream in(path);
    spec = json::parse(in, nullptr, false, true);
    if (spec.is_discarded()) throw ApiError(400, "example '" + name + "' is not valid JSON");
  } else if (request.contains("spec")) {
    spec = request["spec"];
    if (spec.is_string()) {  // an uploaded file's text; comments allowed
      spec = json::parse(request["spec"].get<std::string>(), nullptr, false, true);
      if (spec.is_discarded()) throw ApiError(400, "'spec' is not valid JSON");
    }
  } else {
    throw ApiError(400, "give 'example' (a spec file name from GET /api/examples) or 'spec' (a sweep spec object or text)");
  }
  if (!spec.is_object()) throw ApiError(400, "the sweep spec must be a JSON object");
  return spec;
}

// The request's "name" and "data" replace the spec's.
void apply_overrides(const json& request, json& spec, const fs::path& examples) {
  if (request.contains("name")) {
    if (!request["name"].is_string() || request["name"].get<std::string>().empty()) throw ApiError(400, "'name' must be a non-empty string");
    spec["name"] = request["name"];
  }
  if (request.contains("data")) {
    if (!request["data"].is_string()) throw ApiError(400, "'data' must be a data set name");
    const std::string name = request["data"].get<std::string>();
    check_plain_name(name, "data");
    spec["data"] = confined_path(examples / "data", name).string();
  }
}

int requested_workers(const json& request) {
  if (!request.contains("workers")) return 2;
  if (!request["workers"].is_number_integer() || request["workers"].get<int>() < 1 || request["workers"].get<int>() > 64)
    throw ApiError(400, "'workers' must be an integer from 1 to 64");
  return request["workers"].get<int>();
}

// A sweep may resume its own experiment, never overwrite another spec's or a finished one.
void check_resumable(const fs::path& db, const schema::SweepSpec& parsed) {
  if (!fs::exists(db)) return;
  auto store = schema::Store::open_reader(db);
  const auto existing = store.find_experiment(parsed.name);
  if (!existing) return;
  if (existing->spec_hash != parsed.hash())
    throw ApiError(409, "experiment '" + parsed.name + "' already exists with a different spec; give another 'name'");
  if (existing->status == "FINISHED") throw ApiError(409, "experiment '" + parsed.name + "' already finished; give another 'name'");
}

}  // namespace

json DashboardActions::start_sweep(const json& request) {
  if (!request.is_object()) throw ApiError(400, "the request body must be a JSON object");
  json spec = requested_spec(request, paths_.examples);
  apply_overrides(request, spec, paths_.examples);
  const int workers = requested_workers(request);
  anchor_paths(spec, fs::absolute(paths_.examples).lexically_normal());
  schema::SweepSpec parsed;
  try {
    parsed = schema::parse_sweep_spec(spec.dump(), paths_.examples, "spec");
  } catch (const std::exception& e) {
    throw ApiError(400, e.what());
  }
  check_resumable(paths_.db, parsed);

  std::lock_guard lock(mutex_);
  reap();
  for (const auto& c : children_)
    if (!c.exit_code && c.experiment == parsed.name) throw ApiError(409, "experiment '" + parsed.name + "' is already running here");

  const auto stamp = std::to_string(static_cast<long long>(schema::unix_now() * 1000));
  const auto stem = file_stem(parsed.name) + "-" + stamp;
  fs::create_directories(paths_.artifacts / "specs");
  fs::create_directories(paths_.artifacts / "logs");
  const auto spec_path = paths_.artifacts / "specs" / (stem + ".json");
  const auto log_path = paths_.artifacts / "logs" / (stem + ".log");
  std::ofstream(spec_path) << spec.dump(2) << "\n";

  std::vector<std::string> argv{paths_.binary.string(), "sweep",       spec_path.string(), "--db",
                                paths_.db.string(),     "--workdir",   schema::trial_workdir(paths_.artifacts).string(),
                                "--workers",            std::to_string(workers), "--json"};
  process::Child started = spawn_logged(std::move(argv), log_path);
  const pid_t pid = started.pid();
  children_.push_back({std::move(started), parsed.name, log_path.string(), std::nullopt});
  return {{"experiment", parsed.name}, {"pid", pid}, {"spec", spec_path.string()}, {"log", log_path.string()}};
}

// The sweep as a child in its own process group, stdout and stderr to `log_path`.
process::Child DashboardActions::spawn_logged(std::vector<std::string> argv, const fs::path& log_path) {
  process::ChildSpec child;
  child.argv = std::move(argv);
  child.die_with_parent = false;  // its own group too: a Ctrl-C of the server does not stop it mid-trial
  child.exec_failure = "lorafarm serve: cannot start the sweep";
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) throw std::runtime_error("cannot write " + log_path.string());
  child.stdout_fd = log;
  child.stderr_fd = log;
  process::Child started;
  try {
    started = process::Child(child);
  } catch (...) {
    ::close(log);
    throw;
  }
  ::close(log);
  return started;
}

namespace {

// The model folder of the experiment's spec, parsed by schema::parse_sweep_spec
// against the folder recorded with it (the examples folder for databases
// that predate the record).
fs::path experiment_model(schema::Store& store, const std::string& name, const fs::path& examples) {
  const auto e = store.find_experiment(name);
  if (!e) throw ApiError(404, "unknown experiment '" + name + "'");
  report::RecordedSpec recorded;
  try {
    recorded = report::read_recorded_spec(store, *e, schema::recorded_spec_dir(store, e->id) ? fs::path() : examples);
  } catch (const schema::SpecError& error) {
    throw ApiError(422, error.what());
  }
  if (recorded.spec.model.empty()) throw ApiError(400, "experiment '" + name + "' has no model in its spec");
  const fs::path model = recorded.spec.model;
  if (!fs::is_directory(model)) throw ApiError(404, "the experiment's model folder " + model.string() + " does not exist here");
  return model;
}

}  // namespace

json DashboardActions::generate(const json& request, double timeout_seconds) {
  if (!request.is_object()) throw ApiError(400, "the request body must be a JSON object");
  if (!request.contains("experiment") || !request["experiment"].is_string()) throw ApiError(400, "'experiment' (a name) is required");
  if (!request.contains("trial") || !request["trial"].is_number_integer()) throw ApiError(400, "'trial' (a trial number) is required");
  if (!request.contains("prompt") || !request["prompt"].is_string()) throw ApiError(400, "'prompt' (text) is required");
  const std::string prompt = request["prompt"].get<std::string>();
  if (prompt.size() > kMaxPromptBytes)
    throw ApiError(413, "'prompt' is " + std::to_string(prompt.size()) + " bytes; at most " + std::to_string(kMaxPromptBytes) + " allowed");
  int max_tokens = 40;
  if (request.contains("max_tokens")) {
    if (!request["max_tokens"].is_number_integer() || request["max_tokens"].get<int>() < 1 || request["max_tokens"].get<int>() > kMaxGenerateTokens)
      throw ApiError(400, "'max_tokens' must be an integer from 1 to " + std::to_string(kMaxGenerateTokens));
    max_tokens = request["max_tokens"].get<int>();
  }
  const std::string experiment = request["experiment"].get<std::string>();
  const std::int64_t number = request["trial"].get<std::int64_t>();
  if (!fs::exists(paths_.db)) throw ApiError(404, "unknown experiment '" + experiment + "' (no database yet)");
  auto store = schema::Store::open_reader(paths_.db);
  artifacts_json(store, experiment, number);  // 404s for unknown names
  const auto e = *store.find_experiment(experiment);
  const auto t = store.trials(e.id).at(static_cast<std::size_t>(number));
  const auto adapter = schema::attempt_adapter(store, e.name, t.id, t.number, t.attempt);
  if (!adapter) throw ApiError(404, "trial " + std::to_string(number) + " of '" + experiment + "' has no adapter artifact");
  if (adapter->folder.empty())
    throw ApiError(404, "trial " + std::to_string(number) + "'s adapter is not on this machine (" + adapter->recorded_folder.string() +
                            ") nor in the artifact store yet");
  // The home copy in the store; a sweep whose --workdir is the served folder
  // has its local workers' own copy there too.
  fs::path adapter_dir;
  try {
    adapter_dir = confined_path(paths_.artifacts, adapter->folder);
  } catch (const ApiError&) {
    if (adapter->folder == adapter->recorded_folder || !fs::is_regular_file(adapter->recorded_folder / "adapter_config.json")) throw;
    adapter_dir = confined_path(paths_.artifacts, adapter->recorded_folder);
  }

  const fs::path model = experiment_model(store, experiment, paths_.examples);

  const auto out = process::run_captured({paths_.binary.string(), "generate", "--model", model.string(), "--adapter", adapter_dir.string(), "--prompt", prompt,
                              "--max-tokens", std::to_string(max_tokens)},
                             timeout_seconds);
  if (out.timed_out) throw ApiError(504, "generation took longer than " + std::to_string(static_cast<int>(timeout_seconds)) + " s");
  if (out.status.code() != 0) {
    std::string message = out.err.empty() ? "lorafarm generate " + out.status.describe() : out.err;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw ApiError(422, message);
  }
  std::string text = out.out;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return {{"experiment", experiment}, {"trial", number}, {"adapter", adapter_dir.string()}, {"model", model.string()}, {"text", text}};
}

}  // namespace lorafarm::dashboard
