// A trial's metric collectors at work: JSON lines, PCRE2 patterns over each
// output line, watched JSON/JSONL files; reports with a step and final values.
#include "worker/metric_collection.h"

#include <glob.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

#include "schema/trial_metric.h"

namespace lorafarm::worker {

using nlohmann::json;
using schema::CollectorSource;

namespace {

// A captured number ("2.345", "+1.0e-05", " 7"); nullopt for anything else or a non-finite value.
std::optional<double> number_in(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty() || !std::isfinite(value)) return std::nullopt;
  return value;
}

// A step: an integral number (a JSON 10 or 10.0, a captured "10").
std::optional<std::int64_t> step_in(std::optional<double> value) {
  if (!value || *value != std::floor(*value) || std::fabs(*value) > 9e15) return std::nullopt;
  return static_cast<std::int64_t>(*value);
}

std::optional<std::int64_t> step_of_json(const json& v) { return v.is_number() ? step_in(std::optional<double>(v.get<double>())) : std::nullopt; }

// `text` with glob(3)'s special characters escaped, so a folder name is matched literally.
std::string glob_escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '{' || c == '}' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

MetricCollection::MetricCollection(std::optional<schema::MetricsSpec> spec, std::filesystem::path trial_dir, std::string objective)
    : spec_(std::move(spec)), trial_dir_(std::move(trial_dir)), objective_(std::move(objective)) {
  if (spec_)
    for (const auto& c : spec_->collectors) collectors_.push_back({c, {}, 0});
}

bool MetricCollection::watches_files() const {
  for (const auto& c : collectors_)
    if (c.spec.source == CollectorSource::File) return true;
  return false;
}

std::vector<StepReport> MetricCollection::take_reports() { return std::exchange(reports_, {}); }

void MetricCollection::line(Stream stream, std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return;
  ++lines_[static_cast<int>(stream)];
  bool json_lines = !spec_ && stream == Stream::Stdout;
  for (const auto& c : collectors_) json_lines |= stream == Stream::Stdout && c.spec.source == CollectorSource::JsonLines;
  if (json_lines) json_line(text);
  if (spec_) regex_line(stream, text);
  flush_line();
}

// lorafarm's protocol: {"step": N, ...} reports, {"final": true, ...} the result.
void MetricCollection::json_line(std::string_view text) {
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    ++garbage_lines_;
    last_garbage_ = std::string(text.substr(0, 200));
    return;
  }
  const bool is_final = value.contains("final") && value["final"] == true;
  const auto step = is_final ? std::nullopt : step_of_json(value.value("step", json()));
  if (!spec_) {  // without trial.metrics the final line alone is the result
    if (is_final) final_line_ = value;
    else if (!step && value.contains(objective_)) candidate_final_ = value;
  }
  if (is_final && !spec_) return;
  for (const auto& [key, v] : value.items())
    if (key != "step" && v.is_number()) collect(step, key, v.get<double>());
}

// Every pattern of this stream once; steps first, so that a value on the
// same line as a step pattern's match takes that step.
void MetricCollection::regex_line(Stream stream, std::string_view text) {
  const auto wanted = stream == Stream::Stdout ? CollectorSource::Stdout : CollectorSource::Stderr;
  std::vector<std::pair<const schema::CollectorSpec*, schema::RegexPattern::Captures>> matched;
  auto& current = current_step_[static_cast<int>(stream)];
  for (const auto& c : collectors_) {
    if (c.spec.source != wanted) continue;
    auto captures = c.spec.pattern->match(text);
    if (!captures) continue;
    if (c.spec.step_group > 0 && (*captures)[c.spec.step_group])
      if (const auto step = step_in(number_in(*(*captures)[c.spec.step_group]))) current = step;
    matched.emplace_back(&c.spec, std::move(*captures));
  }
  for (const auto& [spec, captures] : matched)
    for (const auto& [group, metric] : spec->metric_groups)
      if (captures[group])
        if (const auto value = number_in(*captures[group])) collect(current, metric, *value);
}

void MetricCollection::collect(std::optional<std::int64_t> step, const std::string& metric, double value) {
  if (!std::isfinite(value)) return;
  observe(metric, value);
  if (!step) return;
  auto it = std::find_if(line_reports_.begin(), line_reports_.end(), [&](const StepReport& r) { return r.step == *step; });
  if (it == line_reports_.end()) it = line_reports_.insert(line_reports_.end(), StepReport{*step, json::object()});
  it->metrics[schema::stored_metric_name(metric)] = value;
}

void MetricCollection::flush_line() {
  for (auto& r : line_reports_) reports_.push_back(std::move(r));
  line_reports_.clear();
}

void MetricCollection::observe(const std::string& metric, double value) {
  auto& f = finals_[metric];
  const auto rule = spec_ ? spec_->rule(metric) : schema::FinalRule::Last;
  const bool better = rule == schema::FinalRule::Last || (rule == schema::FinalRule::Min && value < f.value) ||
                      (rule == schema::FinalRule::Max && value > f.value);
  if (!f.seen || better) f.value = value;
  f.seen = true;
}

json MetricCollection::final_metrics() const {
  json metrics = json::object();
  if (!spec_) {
    const auto& final = final_line_ ? final_line_ : candidate_final_;
    if (final)
      for (const auto& [k, v] : final->items())
        if (v.is_number() && k != "step") metrics[schema::stored_metric_name(k)] = v;
    return metrics;
  }
  for (const auto& [metric, f] : finals_)
    if (f.seen) metrics[schema::stored_metric_name(metric)] = f.value;
  return metrics;
}

std::string MetricCollection::missing() const {
  if (!spec_) {
    const auto& final = final_line_ ? final_line_ : candidate_final_;
    if (final) return "the final result has no number \"" + objective_ + "\": " + final->dump().substr(0, 200);
    std::string message = "no final result on stdout (a JSON line with \"final\": true and \"" + objective_ + "\")";
    if (garbage_lines_ > 0) message += "; " + std::to_string(garbage_lines_) + " line(s) were not JSON objects, the last: " + last_garbage_;
    return message;
  }
  std::string seen;
  for (const auto& [metric, f] : finals_) seen += (seen.empty() ? "" : ", ") + metric;
  return "trial.metrics collected no value of \"" + objective_ + "\" (read " + std::to_string(lines_[0]) + " stdout and " +
         std::to_string(lines_[1]) + " stderr line(s); metrics seen: " + (seen.empty() ? "none" : seen) + ")";
}

// Files a collector's path names: a glob relative to the trial folder, with
// {a,b} alternatives (GLOB_BRACE), in name order within each alternative.
std::vector<std::filesystem::path> MetricCollection::matches(const std::string& pattern) const {
  const std::string full = std::filesystem::path(pattern).is_absolute() ? pattern : glob_escaped(trial_dir_.string()) + "/" + pattern;
  glob_t found{};
  std::vector<std::filesystem::path> out;
  if (::glob(full.c_str(), GLOB_BRACE, nullptr, &found) == 0)
    for (std::size_t i = 0; i < found.gl_pathc; ++i) out.emplace_back(found.gl_pathv[i]);
  ::globfree(&found);
  return out;
}

void MetricCollection::read_files(double now, bool at_exit) {
  if (!at_exit && now - last_file_read_ < kFilePollSeconds) return;
  last_file_read_ = now;
  for (auto& c : collectors_) {
    if (c.spec.source != CollectorSource::File) continue;
    for (const auto& path : matches(c.spec.path)) read_file(c, path, at_exit);
  }
}

// Reads `path` again when its size or time stamp moved (always at exit: a
// last write within the clock's resolution must not be missed).
void MetricCollection::read_file(Collector& c, const std::filesystem::path& path, bool at_exit) {
  std::error_code ec;
  const auto time = std::filesystem::last_write_time(path, ec);
  const auto size = ec ? 0 : std::filesystem::file_size(path, ec);
  if (ec) return;
  auto& state = c.files[path.string()];
  if (!at_exit && state.time == time && state.size == size) return;
  if (c.spec.jsonl) {
    read_json_lines(c, state, path, at_exit);
  } else {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    // A document caught half-written does not parse: left for the next read.
    if (json::parse(text.str(), nullptr, false).is_discarded()) return;
    read_json_document(c, path, text.str());
  }
  state.time = time;
  state.size = size;
}

// One JSON document: its records list grows (trainer_state.json's
// log_history is rewritten whole at each save), so only records past those
// already taken are new; a single object is taken again when it changed.
void MetricCollection::read_json_document(Collector& c, const std::filesystem::path& path, const std::string& text) {
  const json document = json::parse(text, nullptr, false);
  const json* records = &document;
  json found;
  if (!c.spec.records.empty()) {
    const auto pointer = c.spec.records.front() == '/' ? json::json_pointer(c.spec.records) : json::json_pointer("/" + c.spec.records);
    if (!document.contains(pointer)) return;
    found = document.at(pointer);
    records = &found;
  }
  if (records->is_array()) {
    for (std::size_t i = c.records_seen; i < records->size(); ++i) record((*records)[i], c.spec);
    c.records_seen = std::max(c.records_seen, records->size());
    return;
  }
  auto& state = c.files[path.string()];
  const auto dumped = records->dump();
  if (dumped == state.last_document) return;
  state.last_document = dumped;
  record(*records, c.spec);
}

// JSON lines appended to a file: complete lines from where the last read
// ended (a file that shrank was replaced: read from its start).
void MetricCollection::read_json_lines(Collector& c, FileState& state, const std::filesystem::path& path, bool at_exit) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  const auto end = static_cast<std::uintmax_t>(std::max<std::streamoff>(0, in.tellg()));
  if (end < state.offset) state.offset = 0;
  in.seekg(static_cast<std::streamoff>(state.offset));
  std::string chunk(end - state.offset, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<std::size_t>(in.gcount()));
  std::size_t start = 0;
  for (std::size_t nl; (nl = chunk.find('\n', start)) != std::string::npos; start = nl + 1) {
    const json value = json::parse(std::string_view(chunk).substr(start, nl - start), nullptr, false);
    if (value.is_object()) record(value, c.spec);
  }
  if (at_exit && start < chunk.size()) {
    const json value = json::parse(std::string_view(chunk).substr(start), nullptr, false);
    if (value.is_object()) record(value, c.spec);
    start = chunk.size();
  }
  state.offset += start;
}

// A record of a file: its step key (if integral) and its other numbers.
void MetricCollection::record(const json& object, const schema::CollectorSpec& file) {
  if (!object.is_object()) return;
  const auto step = object.contains(file.step_key) ? step_of_json(object[file.step_key]) : std::nullopt;
  for (const auto& [key, v] : object.items())
    if (key != file.step_key && v.is_number()) collect(step, file.renamed(key), v.get<double>());
  flush_line();
}

}  // namespace lorafarm::worker
