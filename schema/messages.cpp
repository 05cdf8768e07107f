// Encoding, decoding and per-type validation of wire messages. The validation
// table is the protocol's schema: a field not listed is ignored (forward
// compatibility), a listed field of the wrong type rejects the message.
#include "schema/messages.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <utility>
#include <vector>

#include "schema/worker_resources.h"

namespace lorafarm::schema {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<MessageType, std::string_view>, 21> kTypes{{
    {MessageType::Hello, "HELLO"},
    {MessageType::Welcome, "WELCOME"},
    {MessageType::Reject, "REJECT"},
    {MessageType::Request, "REQUEST"},
    {MessageType::Assign, "ASSIGN"},
    {MessageType::Progress, "PROGRESS"},
    {MessageType::Continue, "CONTINUE"},
    {MessageType::Stop, "STOP"},
    {MessageType::Result, "RESULT"},
    {MessageType::Failed, "FAILED"},
    {MessageType::Ack, "ACK"},
    {MessageType::Heartbeat, "HEARTBEAT"},
    {MessageType::Cancel, "CANCEL"},
    {MessageType::Shutdown, "SHUTDOWN"},
    {MessageType::Fetch, "FETCH"},
    {MessageType::Upload, "UPLOAD"},
    {MessageType::UploadAck, "UPLOAD_ACK"},
    {MessageType::Checkpoint, "CHECKPOINT"},
    {MessageType::Download, "DOWNLOAD"},
    {MessageType::DownloadChunk, "DOWNLOAD_CHUNK"},
    {MessageType::Release, "RELEASE"},
}};

enum class Kind { String, Int, NonNegInt, PositiveInt, Number, Bool, Object, Array, NumberMap, TrialRefs, Artifacts, Sha256, Chunk, FetchFiles, CheckpointFiles, Resume };

struct Field {
  std::string_view name;
  Kind kind;
  bool required = true;
};

[[noreturn]] void reject(MessageType type, std::string_view field, const std::string& what) {
  throw ProtocolError(std::string(to_string(type)) + "." + std::string(field) + ": " + what);
}

bool is_trial_ref(const json& v) {
  return v.is_object() && v.contains("trial") && v["trial"].is_number_integer() && v["trial"].get<std::int64_t>() >= 0 &&
         v.contains("attempt") && v["attempt"].is_number_integer() && v["attempt"].get<std::int64_t>() >= 1;
}

bool is_sha256(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_fetch_file(const json& f) {
  return f.is_object() && f.contains("sha256") && is_sha256(f["sha256"]) && f.contains("bytes") && f["bytes"].is_number_integer() &&
         f["bytes"].get<std::int64_t>() >= 0 && f.contains("path") && f["path"].is_string() && f["path"].get_ref<const std::string&>().size() <= 4096;
}

// A file's name inside a checkpoint folder: relative, without "." or ".." parts.
bool is_checkpoint_name(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > 1024 || s.front() == '/') return false;
  for (std::size_t start = 0; start <= s.size();) {
    const auto end = std::min(s.find('/', start), s.size());
    const auto part = std::string_view(s).substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool is_checkpoint_file(const json& f, bool with_path) {
  return f.is_object() && f.contains("name") && is_checkpoint_name(f["name"]) && f.contains("sha256") && is_sha256(f["sha256"]) &&
         f.contains("bytes") && f["bytes"].is_number_integer() && f["bytes"].get<std::int64_t>() >= 0 &&
         (!with_path || (f.contains("path") && f["path"].is_string() && f["path"].get_ref<const std::string&>().size() <= 4096));
}

bool is_checkpoint_files(const json& v, bool with_path) {
  return v.is_array() && v.size() <= 1000 && std::all_of(v.begin(), v.end(), [with_path](const json& f) { return is_checkpoint_file(f, with_path); });
}

bool is_resume(const json& v) {
  return v.is_object() && v.contains("step") && v["step"].is_number_integer() && v["step"].get<std::int64_t>() >= 0 &&
         v.contains("attempt") && v["attempt"].is_number_integer() && v["attempt"].get<std::int64_t>() >= 1 && v.contains("files") &&
         is_checkpoint_files(v["files"], false);
}

bool matches(Kind kind, const json& v) {
  switch (kind) {
    case Kind::String: return v.is_string() && v.get_ref<const std::string&>().size() <= 4096;
    case Kind::Int: return v.is_number_integer();
    case Kind::NonNegInt: return v.is_number_integer() && (v.is_number_unsigned() || v.get<std::int64_t>() >= 0);
    case Kind::PositiveInt:
      return v.is_number_integer() && (v.is_number_unsigned() ? v.get<std::uint64_t>() >= 1 : v.get<std::int64_t>() >= 1);
    case Kind::Number: return v.is_number() && std::isfinite(v.get<double>());
    case Kind::Bool: return v.is_boolean();
    case Kind::Object: return v.is_object();
    case Kind::Array: return v.is_array();
    case Kind::NumberMap:
      return v.is_object() && std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number() || x.is_null(); });
    case Kind::TrialRefs: return v.is_array() && std::all_of(v.begin(), v.end(), is_trial_ref);
    case Kind::Artifacts:
      return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& a) {
               return a.is_object() && a.contains("path") && a["path"].is_string() && a.contains("sha256") && is_sha256(a["sha256"]) &&
                      a.contains("bytes") && a["bytes"].is_number_integer() && a["bytes"].get<std::int64_t>() >= 0;
             });
    case Kind::Sha256: return is_sha256(v);
    case Kind::Chunk: return v.is_string() && v.get_ref<const std::string&>().size() <= (kMaxChunkBytes + 2) / 3 * 4;
    case Kind::FetchFiles: return v.is_array() && v.size() <= 1000 && std::all_of(v.begin(), v.end(), is_fetch_file);
    case Kind::CheckpointFiles: return is_checkpoint_files(v, true);
    case Kind::Resume: return is_resume(v);
  }
  return false;
}

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::String: return "a string (at most 4096 bytes)";
    case Kind::Int: return "an integer";
    case Kind::NonNegInt: return "an integer >= 0";
    case Kind::PositiveInt: return "an integer >= 1";
    case Kind::Number: return "a finite number";
    case Kind::Bool: return "true or false";
    case Kind::Object: return "an object";
    case Kind::Array: return "an array";
    case Kind::NumberMap: return "an object of numbers";
    case Kind::TrialRefs: return "an array of {\"trial\": int >= 0, \"attempt\": int >= 1}";
    case Kind::Artifacts: return "an array of {\"path\", \"sha256\" (64 hex digits), \"bytes\" >= 0}";
    case Kind::Sha256: return "64 lower-case hex digits";
    case Kind::Chunk: return "base64 of at most 256 KiB";
    case Kind::FetchFiles: return "an array (at most 1000) of {\"sha256\", \"bytes\" >= 0, \"path\"}";
    case Kind::CheckpointFiles: return "an array (at most 1000) of {\"name\" (relative, no ..), \"path\", \"sha256\", \"bytes\" >= 0}";
    case Kind::Resume: return "{\"step\" >= 0, \"attempt\" >= 1, \"files\": [{\"name\", \"sha256\", \"bytes\"}]}";
  }
  return "?";
}

const std::vector<Field>& fields_of(MessageType type) {
  static const std::vector<Field> trial_ref{{"trial", Kind::NonNegInt}, {"attempt", Kind::PositiveInt}};
  auto with_ref = [](std::initializer_list<Field> extra) {
    std::vector<Field> f{{"trial", Kind::NonNegInt}, {"attempt", Kind::PositiveInt}};
    f.insert(f.end(), extra);
    return f;
  };
  static const std::vector<Field> hello{{"worker_id", Kind::String}, {"host", Kind::String},          {"slots", Kind::PositiveInt},
                                        {"version", Kind::String},   {"capabilities", Kind::Array, false}, {"running", Kind::TrialRefs, false},
                                        {"pid", Kind::Int, false},   {"resources", Kind::Object, false}};
  static const std::vector<Field> welcome{{"experiment", Kind::String}, {"heartbeat_ms", Kind::PositiveInt}, {"liveness", Kind::PositiveInt},
                                          {"cancel", Kind::TrialRefs, false}};
  static const std::vector<Field> reject{{"reason", Kind::String}, {"rehello", Kind::Bool, false}};
  static const std::vector<Field> request{{"slots", Kind::PositiveInt}};
  static const std::vector<Field> assign = with_ref({{"experiment", Kind::String}, {"seed", Kind::NonNegInt}, {"params", Kind::Object},
                                                     {"kind", Kind::String}, {"command", Kind::Array, false}, {"shell", Kind::Bool, false},
                                                     {"timeout_seconds", Kind::Number, false}, {"env", Kind::Object, false},
                                                     {"config", Kind::Object, false}, {"spec_dir", Kind::String, false},
                                                     {"objective", Kind::String}, {"memory_limit_mb", Kind::Number, false},
                                                     {"metrics", Kind::Object, false}, {"resources", Kind::Object, false},
                                                     {"preset", Kind::Object, false}, {"stop_grace_seconds", Kind::Number, false},
                                                     {"resume", Kind::Resume, false}});
  static const std::vector<Field> progress = with_ref({{"step", Kind::Int}, {"metrics", Kind::NumberMap}});
  static const std::vector<Field> result = with_ref({{"metrics", Kind::NumberMap}, {"peak_rss_mb", Kind::Number, false},
                                                     {"wall_seconds", Kind::Number, false}, {"artifacts", Kind::Artifacts, false}});
  static const std::vector<Field> failed = with_ref({{"cause", Kind::String}, {"message", Kind::String, false}, {"exit_code", Kind::Int, false},
                                                     {"signal", Kind::Int, false}, {"stderr_tail", Kind::String, false},
                                                     {"peak_rss_mb", Kind::Number, false}, {"wall_seconds", Kind::Number, false}});
  static const std::vector<Field> heartbeat{{"running", Kind::TrialRefs, false}};
  static const std::vector<Field> cancel = with_ref({{"reason", Kind::String, false}});
  static const std::vector<Field> shutdown{{"reason", Kind::String, false}};
  static const std::vector<Field> fetch = with_ref({{"files", Kind::FetchFiles}});
  static const std::vector<Field> upload{{"sha256", Kind::Sha256}, {"offset", Kind::NonNegInt}, {"data", Kind::Chunk},
                                         {"error", Kind::String, false}};
  static const std::vector<Field> upload_ack{{"sha256", Kind::Sha256}, {"offset", Kind::NonNegInt}, {"complete", Kind::Bool, false},
                                             {"error", Kind::String, false}};
  static const std::vector<Field> checkpoint = with_ref({{"step", Kind::NonNegInt}, {"files", Kind::CheckpointFiles}});
  static const std::vector<Field> download{{"sha256", Kind::Sha256}, {"offset", Kind::NonNegInt}};
  static const std::vector<Field> release = with_ref({{"below_step", Kind::NonNegInt}});
  static const std::vector<Field> ack = with_ref({{"ended", Kind::Bool, false}});
  static const std::vector<Field> download_chunk{{"sha256", Kind::Sha256}, {"offset", Kind::NonNegInt}, {"data", Kind::Chunk},
                                                 {"bytes", Kind::NonNegInt, false}, {"error", Kind::String, false}};
  switch (type) {
    case MessageType::Hello: return hello;
    case MessageType::Welcome: return welcome;
    case MessageType::Reject: return reject;
    case MessageType::Request: return request;
    case MessageType::Assign: return assign;
    case MessageType::Progress: return progress;
    case MessageType::Continue:
    case MessageType::Stop: return trial_ref;
    case MessageType::Ack: return ack;
    case MessageType::Result: return result;
    case MessageType::Failed: return failed;
    case MessageType::Heartbeat: return heartbeat;
    case MessageType::Cancel: return cancel;
    case MessageType::Shutdown: return shutdown;
    case MessageType::Fetch: return fetch;
    case MessageType::Upload: return upload;
    case MessageType::UploadAck: return upload_ack;
    case MessageType::Checkpoint: return checkpoint;
    case MessageType::Download: return download;
    case MessageType::DownloadChunk: return download_chunk;
    case MessageType::Release: return release;
  }
  return shutdown;
}

}  // namespace

std::string_view to_string(MessageType type) {
  for (const auto& [t, name] : kTypes)
    if (t == type) return name;
  return "UNKNOWN";
}

std::optional<MessageType> message_type_from(std::string_view name) {
  for (const auto& [t, n] : kTypes)
    if (n == name) return t;
  return std::nullopt;
}

void validate_body(MessageType type, const json& body) {
  if (!body.is_object()) throw ProtocolError(std::string(to_string(type)) + ": the body must be a JSON object");
  for (const auto& field : fields_of(type)) {
    const auto it = body.find(field.name);
    if (it == body.end()) {
      if (field.required) reject(type, field.name, "missing (" + std::string(kind_name(field.kind)) + ")");
      continue;
    }
    if (!matches(field.kind, *it)) {
      auto shown = it->dump();
      if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
      reject(type, field.name, "must be " + std::string(kind_name(field.kind)) + ", got " + shown);
    }
  }
  if (type == MessageType::Failed) {
    const auto& cause = body["cause"].get_ref<const std::string&>();
    if (std::find(kFailureCauses.begin(), kFailureCauses.end(), cause) == kFailureCauses.end())
      reject(type, "cause", "'" + cause + "' is not a known cause");
  }
  if (type == MessageType::Hello && body.contains("resources"))
    if (const auto problem = offer_problem(body["resources"])) reject(type, "resources", *problem);
  if (type == MessageType::Assign && body.contains("resources"))
    if (const auto problem = allocation_problem(body["resources"])) reject(type, "resources", *problem);
  if (type == MessageType::Assign) {
    const auto& kind = body["kind"].get_ref<const std::string&>();
    if (kind != "command" && kind != "engine") reject(type, "kind", "must be command or engine");
    if (kind == "command" && !body.contains("command")) reject(type, "command", "missing for a command trial");
  }
}

std::array<std::string, 3> encode(const Message& message) {
  return {std::string(kProtocolVersion), std::string(to_string(message.type)), message.body.dump()};
}

Message decode(std::span<const std::string_view> frames) {
  if (frames.size() != 3) throw ProtocolError("expected 3 frames (version, type, body), got " + std::to_string(frames.size()));
  if (frames[0] != kProtocolVersion) {
    auto v = std::string(frames[0].substr(0, 32));
    for (auto& c : v)
      if (c < 32 || c > 126) c = '?';
    throw ProtocolError("protocol version '" + v + "' is not " + std::string(kProtocolVersion));
  }
  const auto type = message_type_from(frames[1]);
  if (!type) throw ProtocolError("unknown message type (" + std::to_string(frames[1].size()) + " bytes)");
  if (frames[2].size() > kMaxBodyBytes)
    throw ProtocolError(std::string(to_string(*type)) + ": body of " + std::to_string(frames[2].size()) + " bytes exceeds the limit of " +
                        std::to_string(kMaxBodyBytes));
  Message message{*type, json::parse(frames[2], nullptr, /*allow_exceptions=*/false)};
  if (message.body.is_discarded()) throw ProtocolError(std::string(to_string(*type)) + ": the body is not valid JSON");
  validate_body(*type, message.body);
  return message;
}

}  // namespace lorafarm::schema
