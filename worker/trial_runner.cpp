// A trial as a child process: its pipes, timeout, memory limit and outcome (the process itself is a process::Child).
#include "worker/trial_runner.h"

#include "worker/engine_trial_config.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "schema/sha256.h"
#include "schema/trial_metric.h"
#include "schema/worker_resources.h"
#include "schema/trial_preset.h"
#include "worker/checkpoint_snapshot.h"
#include "worker/command_template.h"

extern char** environ;

namespace lorafarm::worker {

using nlohmann::json;

namespace {
constexpr std::size_t kStderrTail = 4096;
constexpr std::size_t kMaxLine = 1 << 20;

// Resident set size of a live process, from /proc (MB).
std::optional<double> current_rss_mb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  long pages_total = 0, pages_resident = 0;
  if (!(in >> pages_total >> pages_resident)) return std::nullopt;
  return static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}
}  // namespace

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

TrialLaunch TrialLaunch::from_assign(const json& body) {
  TrialLaunch l;
  l.experiment = body["experiment"].get<std::string>();
  l.trial = body["trial"].get<std::int64_t>();
  l.attempt = body["attempt"].get<int>();
  l.seed = body["seed"].get<std::uint64_t>();
  l.params = body["params"];
  l.engine = body["kind"] == "engine";
  if (body.contains("command"))
    for (const auto& c : body["command"]) l.command.push_back(c.is_string() ? c.get<std::string>() : c.dump());
  l.shell = body.value("shell", false);
  l.timeout_seconds = body.value("timeout_seconds", 0.0);
  if (body.contains("env"))
    for (const auto& [k, v] : body["env"].items()) l.env[k] = v.is_string() ? v.get<std::string>() : v.dump();
  l.config = body.value("config", json::object());
  l.fixed = body.value("fixed", json::object());
  l.spec_dir = body.value("spec_dir", std::string());
  l.objective = body["objective"].get<std::string>();
  if (body.contains("memory_limit_mb")) l.memory_limit_mb = body["memory_limit_mb"].get<double>();
  l.metrics = body.value("metrics", json());
  if (body.contains("resources")) {
    const auto allocation = schema::Allocation::from_json(body["resources"]);
    l.devices = allocation.gpus;
    l.cpus = allocation.cpus;
    l.held_memory_mb = allocation.memory_mb;
  }
  l.preset = body.value("preset", json());
  l.stop_grace_seconds = body.value("stop_grace_seconds", l.stop_grace_seconds);
  l.resume = body.value("resume", json());
  return l;
}

std::filesystem::path trial_folder(const std::filesystem::path& workdir, const TrialLaunch& launch) {
  return workdir / launch.experiment / ("trial-" + std::to_string(launch.trial) + "-a" + std::to_string(launch.attempt));
}

std::filesystem::path checkpoint_folder(const std::filesystem::path& trial_folder) { return trial_folder / "checkpoint"; }

TrialProcess::TrialProcess(TrialLaunch launch, const std::filesystem::path& workdir, const std::filesystem::path& self_exe)
    : launch_(std::move(launch)), started_(monotonic_seconds()) {
  trial_dir_ = trial_folder(workdir, launch_);
  try {
    std::filesystem::create_directories(trial_dir_ / "artifacts");
    std::filesystem::create_directories(checkpoint_folder(trial_dir_));
    std::optional<schema::MetricsSpec> metrics;
    if (!launch_.metrics.is_null()) metrics = schema::parse_metrics_spec("ASSIGN", launch_.metrics, "metrics", nullptr);
    collection_ = MetricCollection(std::move(metrics), trial_dir_, launch_.objective);
    spawn(self_exe);
  } catch (const std::exception& e) {
    fail_now("spawn", e.what());
  }
}

TrialProcess::~TrialProcess() {
  // child_ kills the group and reaps a trial still running.
  close_fd(out_fd_);
  close_fd(err_fd_);
}

// The values a command template's {placeholders} name.
std::map<std::string, std::string> TrialProcess::placeholder_values() const {
  std::map<std::string, std::string> values;
  for (const auto& [k, v] : launch_.fixed.items())
    if (!v.is_object() && !v.is_array()) values[k] = placeholder_text(v);
  for (const auto& [k, v] : launch_.params.items()) values[k] = placeholder_text(v);
  values["trial"] = std::to_string(launch_.trial);
  values["attempt"] = std::to_string(launch_.attempt);
  values["seed"] = std::to_string(launch_.seed);
  values["trial_dir"] = trial_dir_.string();
  values["spec_dir"] = launch_.spec_dir;
  return values;
}

// An engine trial is `lorafarm train` on its written config; a command trial
// is its template, substituted (through /bin/sh for a shell command).
std::vector<std::string> TrialProcess::trial_argv(const std::filesystem::path& self_exe,
                                                  const std::map<std::string, std::string>& values) const {
  if (launch_.engine) {
    json config = engine_trial_config(launch_.config, launch_.params);
    config["seed"] = launch_.seed;
    config["adapter_path"] = (trial_dir_ / "artifacts").string();
    config["checkpoint_dir"] = checkpoint_folder(trial_dir_).string();
    if (!launch_.resume.is_null()) config["resume_checkpoint"] = checkpoint_folder(trial_dir_).string();
    const auto path = trial_dir_ / "trial.json";
    std::ofstream(path) << config.dump(2) << "\n";
    return {self_exe.string(), "train", "--config", path.string(), "--json"};
  }
  if (!launch_.preset.is_null()) return preset_argv(values);
  if (launch_.shell) return {"/bin/sh", "-c", substitute_shell(launch_.command.at(0), values)};
  std::vector<std::string> argv;
  for (const auto& arg : launch_.command) argv.push_back(substitute(arg, values));
  return argv;
}

// A preset trial: its files written into the trial folder, its command line.
std::vector<std::string> TrialProcess::preset_argv(const std::map<std::string, std::string>& values) const {
  json typed = launch_.fixed;
  for (const auto& [k, v] : launch_.params.items()) typed[k] = v;
  if (!typed.contains("seed")) typed["seed"] = launch_.seed;
  typed["trial_dir"] = trial_dir_.string();
  const auto run = schema::expand_preset(schema::TrialPreset::from_json(launch_.preset), typed,
                                         [&values](std::string_view text) { return substitute(text, values); });
  for (const auto& file : run.files) {
    std::ofstream out(trial_dir_ / file.name, std::ios::binary);
    out << file.text;
    if (!out.flush()) throw std::runtime_error("cannot write " + (trial_dir_ / file.name).string());
  }
  return run.argv;
}

// The worker's environment (minus stale LORAFARM_PARAM_*), the spec's env,
// the parameters and the LORAFARM_* names of docs/sweep-spec.md.
std::vector<std::string> TrialProcess::trial_environment() const {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos && kv.rfind("LORAFARM_PARAM_", 0) != 0) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  if (launch_.cpus > 0) env["OMP_NUM_THREADS"] = std::to_string(launch_.cpus);  // the spec's env may still say otherwise
  for (const auto& [k, v] : launch_.env) env[k] = v;
  add_device_environment(env);
  for (const auto& [k, v] : launch_.params.items()) env[param_env_name(k)] = placeholder_text(v);
  env["LORAFARM_EXPERIMENT"] = launch_.experiment;
  env["LORAFARM_TRIAL"] = std::to_string(launch_.trial);
  env["LORAFARM_ATTEMPT"] = std::to_string(launch_.attempt);
  env["LORAFARM_SEED"] = std::to_string(launch_.seed);
  env["LORAFARM_TRIAL_DIR"] = trial_dir_.string();
  env["LORAFARM_ARTIFACT_DIR"] = (trial_dir_ / "artifacts").string();
  env["LORAFARM_OBJECTIVE"] = launch_.objective;
  env["LORAFARM_CHECKPOINT_DIR"] = checkpoint_folder(trial_dir_).string();
  if (!launch_.resume.is_null()) env["LORAFARM_RESUME_STEP"] = std::to_string(launch_.resume["step"].get<std::int64_t>());
  // Several trials usually share the cores: OpenMP threads that spin while
  // waiting then steal them from each other (measured: 20x slower training
  // on 2 busy cores). Sleeping waits cost little when a core is free.
  if (launch_.engine && !env.count("OMP_WAIT_POLICY")) env["OMP_WAIT_POLICY"] = "PASSIVE";
  if (launch_.engine && launch_.offered_memory_mb) {
    env["LORAFARM_WORKER_MEMORY_MB"] = std::to_string(static_cast<long long>(*launch_.offered_memory_mb));
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// The devices placement gave the trial, for CUDA and ROCm alike; they win
// over the spec's env (two trials must not share a device).
void TrialProcess::add_device_environment(std::map<std::string, std::string>& env) const {
  if (!launch_.devices) return;
  std::string list;
  for (const auto& id : *launch_.devices) list += (list.empty() ? "" : ",") + id;
  env["CUDA_VISIBLE_DEVICES"] = list;
  env["HIP_VISIBLE_DEVICES"] = list;
}

void TrialProcess::spawn(const std::filesystem::path& self_exe) {
  // Everything the child needs is built before it starts: in the child only
  // async-signal-safe calls are made.
  process::ChildSpec child;
  child.argv = trial_argv(self_exe, placeholder_values());
  child.env = trial_environment();
  child.dir = trial_dir_.string();
  child.exec_failure = "lorafarm worker: cannot execute the trial command";
  start_with_pipes(child, launch_.params.dump() + "\n");
}

// Starts the child with pipes for its stdin (given `input`, the parameters),
// stdout and stderr; our ends are non-blocking.
void TrialProcess::start_with_pipes(process::ChildSpec& child, const std::string& input) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  // A child that exits without reading stdin must not kill us with SIGPIPE
  // when we write its parameters: the write just fails with EPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  child.stdin_fd = in_pipe[0];
  child.stdout_fd = out_pipe[1];
  child.stderr_fd = err_pipe[1];
  try {
    child_ = process::Child(child);
  } catch (...) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    throw;
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  [[maybe_unused]] auto written = ::write(in_pipe[1], input.data(), input.size());  // parameters fit in the pipe buffer
  ::close(in_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

void TrialProcess::close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::vector<json> TrialProcess::read_available(int fd) {
  char buffer[65536];
  while (fd >= 0) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0 || errno != EAGAIN) {  // end of the stream: its last line may lack a newline
        const bool out = fd == out_fd_;
        auto& rest = out ? out_buffer_ : err_buffer_;
        if (!rest.empty()) collection_.line(out ? Stream::Stdout : Stream::Stderr, rest);
        rest.clear();
        close_fd(out ? out_fd_ : err_fd_);
      }
      break;
    }
    const std::string_view data(buffer, static_cast<std::size_t>(n));
    if (fd == err_fd_) {
      err_tail_.append(data);
      if (err_tail_.size() > 2 * kStderrTail) err_tail_.erase(0, err_tail_.size() - kStderrTail);
      split_lines(Stream::Stderr, err_buffer_, data);
    } else {
      split_lines(Stream::Stdout, out_buffer_, data);
    }
  }
  return progress_bodies();
}

// Hands the complete lines of `buffer` + `data` to the collectors; a line
// ends at \n or \r (progress bars redraw with \r).
void TrialProcess::split_lines(Stream stream, std::string& buffer, std::string_view data) {
  buffer.append(data);
  std::size_t start = 0;
  for (std::size_t end; (end = buffer.find_first_of("\r\n", start)) != std::string::npos; start = end + 1) {
    const auto line = std::string_view(buffer).substr(start, end - start);
    const auto checkpoint = stream == Stream::Stdout ? checkpoint_step_of(line) : std::nullopt;
    if (checkpoint) checkpoint_steps_.push_back(*checkpoint);
    else collection_.line(stream, line);
  }
  buffer.erase(0, start);
  if (buffer.size() > kMaxLine) {  // a line without end: treat as garbage
    collection_.line(stream, std::string_view(buffer).substr(0, 200));
    buffer.clear();
  }
}

std::vector<json> TrialProcess::progress_bodies() {
  std::vector<json> bodies;
  for (auto& r : collection_.take_reports())
    bodies.push_back({{"trial", launch_.trial}, {"attempt", launch_.attempt}, {"step", r.step}, {"metrics", std::move(r.metrics)}});
  return bodies;
}

std::vector<json> TrialProcess::take_checkpoints() {
  for (const auto step : std::exchange(checkpoint_steps_, {})) {
    auto into = trial_dir_ / "checkpoints" / ("step-" + std::to_string(step));  // remove_frozen_below reads these names
    if (auto names = freeze_checkpoint(checkpoint_folder(trial_dir_), into))
      hashing_.emplace_back(step, std::async(std::launch::async, [into, names = std::move(*names)] { return describe_frozen(into, names); }));
  }
  std::vector<json> bodies;
  for (auto it = hashing_.begin(); it != hashing_.end();) {
    if (it->second.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      ++it;
      continue;
    }
    if (auto files = it->second.get())
      bodies.push_back({{"trial", launch_.trial}, {"attempt", launch_.attempt}, {"step", it->first}, {"files", std::move(*files)}});
    it = hashing_.erase(it);
  }
  return bodies;
}

std::size_t TrialProcess::release_checkpoints_below(std::int64_t step, const std::vector<std::filesystem::path>& sending) {
  const auto frozen = trial_dir_ / "checkpoints";
  std::set<std::int64_t> busy(checkpoint_steps_.begin(), checkpoint_steps_.end());
  for (const auto& [hashed_step, future] : hashing_) busy.insert(hashed_step);
  for (const auto& path : sending)
    if (const auto sent_step = frozen_step_of(frozen, path)) busy.insert(*sent_step);
  return remove_frozen_below(frozen, step, busy).size();
}

std::vector<json> TrialProcess::read_files(double now) {
  if (finished_) return {};
  collection_.read_files(now);
  return progress_bodies();
}

void TrialProcess::kill(const std::string& cause, double now) {
  if (finished_ || !child_.started() || !kill_cause_.empty()) return;
  kill_cause_ = cause;
  kill_sent_ = now;
  child_.signal_group(SIGTERM);
}

bool TrialProcess::poll(double now) {
  if (finished_) return true;
  if (kill_cause_.empty() && launch_.timeout_seconds > 0 && now - started_ > launch_.timeout_seconds) {
    kill_cause_ = "timeout";
    kill_sent_ = now;
    child_.signal_group(SIGKILL);  // a timed-out trial gets no grace
    sigkill_sent_ = true;
  }
  if (kill_cause_.empty() && launch_.memory_limit_mb && now - last_memory_check_ > 0.1) {
    last_memory_check_ = now;
    if (const auto rss = current_rss_mb(child_.pid()); rss && *rss > *launch_.memory_limit_mb) {
      kill_cause_ = "memory";
      kill_sent_ = now;
      child_.signal_group(SIGKILL);
      sigkill_sent_ = true;
    }
  }
  if (!kill_cause_.empty() && !sigkill_sent_ && now - kill_sent_ > launch_.stop_grace_seconds) {
    child_.signal_group(SIGKILL);
    sigkill_sent_ = true;
  }
  const auto status = child_.poll();
  if (!status) return false;
  // Drain what the child wrote before it exited; grandchildren holding the
  // pipes open do not keep the trial alive.
  for (int fd : {out_fd_, err_fd_})
    if (fd >= 0)
      for (auto& report : read_available(fd)) reports_at_exit_.push_back(std::move(report));
  close_fd(out_fd_);
  close_fd(err_fd_);
  // A last line without its newline, when a grandchild kept the pipe open.
  if (!out_buffer_.empty()) collection_.line(Stream::Stdout, std::exchange(out_buffer_, {}));
  if (!err_buffer_.empty()) collection_.line(Stream::Stderr, std::exchange(err_buffer_, {}));
  // The trial's last write to a watched file may be newer than the last read.
  collection_.read_files(now, /*at_exit=*/true);
  for (auto& report : progress_bodies()) reports_at_exit_.push_back(std::move(report));
  if (!kill_cause_.empty()) child_.signal_group(SIGKILL);  // leftovers of the group
  finish(*status);
  return true;
}

void TrialProcess::fail_now(const std::string& cause, const std::string& message) {
  finished_ = true;
  outcome_ = {{"type", "FAILED"},
              {"body", {{"trial", launch_.trial}, {"attempt", launch_.attempt}, {"cause", cause}, {"message", message}, {"wall_seconds", 0.0}}}};
}

void TrialProcess::finish(const process::ExitStatus& status) {
  finished_ = true;
  const double wall = monotonic_seconds() - started_;
  json body{{"trial", launch_.trial}, {"attempt", launch_.attempt}, {"peak_rss_mb", status.peak_rss_mb}, {"wall_seconds", wall}};
  auto failed = [&](const std::string& cause, const std::string& message) {
    body["cause"] = cause;
    body["message"] = message;
    body["stderr_tail"] = err_tail_.size() > kStderrTail ? err_tail_.substr(err_tail_.size() - kStderrTail) : err_tail_;
    if (status.exited()) body["exit_code"] = status.code();
    if (status.signaled()) body["signal"] = status.signal();
    outcome_ = {{"type", "FAILED"}, {"body", body}};
  };
  if (kill_cause_ == "timeout") return failed("timeout", "exceeded the timeout of " + json(launch_.timeout_seconds).dump() + " s");
  if (kill_cause_ == "memory")
    return failed("memory", "resident memory exceeded the limit of " + json(*launch_.memory_limit_mb).dump() + " MB");
  if (!kill_cause_.empty()) return failed(kill_cause_, kill_cause_ == "stopped" ? "stopped by the scheduler" : "cancelled");
  if (status.signaled()) return failed("signal", status.describe());
  if (status.exited() && status.code() != 0) return failed("exit", status.describe());
  if (!status.known) return failed("exit", status.describe());
  // An objective the worker measures itself (peak_rss_mb, wall_seconds) needs
  // no final line: a trial that exits 0 has it (schema/trial_metric.h).
  json metrics = collection_.final_metrics();
  if (!schema::is_worker_measured(launch_.objective) && !schema::reported_metric(launch_.objective, metrics))
    return failed("bad_output", collection_.missing());
  body["metrics"] = metrics;
  body["artifacts"] = artifacts();
  outcome_ = {{"type", "RESULT"}, {"body", body}};
}

std::vector<json> TrialProcess::artifacts() const {
  std::vector<json> out;
  std::error_code ec;
  const auto dir = trial_dir_ / "artifacts";
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    try {
      out.push_back({{"path", it->path().string()}, {"sha256", schema::sha256_file(it->path())},
                     {"bytes", static_cast<std::int64_t>(it->file_size())}});
    } catch (const std::exception&) {
      // A file that vanished while we hashed it is not an artifact.
    }
  }
  return out;
}

}  // namespace lorafarm::worker
