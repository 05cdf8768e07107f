// The dashboard's HTTP routes: the page, the read-only API and the two write
// actions, with one JSON error shape ({"error": "..."}) for every 4xx/5xx.
#include "dashboard/dashboard_server.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "dashboard/dashboard_actions.h"
#include "dashboard/dashboard_api.h"
#include "dashboard/dashboard_http.h"
#include "report/report.h"
#include "schema/artifact_dir.h"
#include "schema/store.h"

namespace lorafarm::dashboard {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string random_token() {
  std::random_device device;
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) out += hex[device() % 16];
  return out;
}

// Equal-time comparison: how much of a guess is right does not show in timing.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void send_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(), "application/json");
}

const char* reason(int status) {
  switch (status) {
    case 404: return "not found";
    case 405: return "method not allowed";
    case 413: return "request body too large";
    default: return "bad request";
  }
}

std::int64_t trial_number(const std::string& text) {
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    throw ApiError(400, "trial number '" + text + "' is not a number");
  }
}

schema::ExperimentRecord find_experiment_or_404(schema::Store& store, const std::string& name) {
  auto experiment = store.find_experiment(name);
  if (!experiment) throw ApiError(404, "unknown experiment '" + name + "'");
  return *experiment;
}

report::ReportFormat report_format_or_400(const std::string& name) {
  try {
    return report::report_format_from(name);
  } catch (const std::exception& e) {
    throw ApiError(400, e.what());
  }
}

}  // namespace

struct DashboardServer::Impl {
  DashboardOptions options;
  httplib::Server server;
  std::unique_ptr<DashboardActions> actions;
  std::thread thread;
  int port = 0;

  // The store, opened read-only for this request; nullopt before any sweep created it.
  std::optional<schema::Store> open_store() const {
    if (!fs::exists(options.db)) return std::nullopt;
    // A sweep that just created the file has not written the schema yet.
    if (schema::Database(options.db, schema::Database::Mode::ReadOnly).user_version() == 0) return std::nullopt;
    return schema::Store::open_reader(options.db);
  }
  schema::Store store_or_404(const std::string& experiment) const {
    auto store = open_store();
    if (!store) throw ApiError(404, "unknown experiment '" + experiment + "' (database " + options.db.string() + " does not exist yet)");
    return std::move(*store);
  }

  void require_write(const httplib::Request& req) const {
    if (options.read_only) throw ApiError(403, "this dashboard is read-only (started with --read-only or by lorafarm sweep --dashboard)");
    std::string given;
    const auto auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
    if (given.empty()) given = req.get_header_value("X-Lorafarm-Token");
    if (given.empty())
      throw ApiError(401, "this action needs the token printed when the server started: send 'Authorization: Bearer TOKEN' or 'X-Lorafarm-Token: TOKEN'");
    if (!same_secret(given, options.token)) throw ApiError(403, "wrong token");
  }

  static json body_json(const httplib::Request& req) {
    if (req.body.empty()) throw ApiError(400, "the request needs a JSON body");
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) throw ApiError(400, "malformed JSON in the request body");
    if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
    return body;
  }

  void routes() {
    route_page();
    route_store_views();
    route_report();
    route_files_and_actions();
    route_errors();
  }

  void route_page() {
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:");
      res.set_content(std::string(dashboard_page()), "text/html; charset=utf-8");
    });
    server.Get("/api/health", [this](const httplib::Request&, httplib::Response& res) {
      send_json(res, {{"ok", true}, {"read_only", options.read_only}, {"db", options.db.string()}, {"artifacts", options.artifacts.string()},
                      {"max_body_bytes", options.max_body_bytes}, {"max_prompt_bytes", kMaxPromptBytes}, {"report", true}});
    });
  }

  // GET /api/experiments/NAME/PART answered by `view(store, NAME)`.
  template <typename View>
  void get_experiment_view(const std::string& part, View view) {
    server.Get("/api/experiments/([^/]+)" + part, [this, view](const httplib::Request& req, httplib::Response& res) {
      auto store = store_or_404(req.matches[1]);
      send_json(res, view(store, req.matches[1].str(), req));
    });
  }

  // The read-only JSON views (dashboard_api.h).
  void route_store_views() {
    server.Get("/api/experiments", [this](const httplib::Request&, httplib::Response& res) {
      auto store = open_store();
      send_json(res, store ? experiments_json(*store) : json::array());
    });
    using Req = const httplib::Request&;
    get_experiment_view("", [](schema::Store& st, const std::string& name, Req) { return experiment_json(st, name); });
    get_experiment_view("/trials", [](schema::Store& st, const std::string& name, Req) { return trials_json(st, name); });
    get_experiment_view("/trials/([^/]+)/metrics",
                        [](schema::Store& st, const std::string& name, Req req) { return trial_metrics_json(st, name, trial_number(req.matches[2])); });
    get_experiment_view("/trials/([^/]+)/artifacts",
                        [](schema::Store& st, const std::string& name, Req req) { return artifacts_json(st, name, trial_number(req.matches[2])); });
    get_experiment_view("/curves", [](schema::Store& st, const std::string& name, Req req) {
      return curves_json(st, name, req.has_param("metric") ? req.get_param_value("metric") : "train_loss");
    });
    get_experiment_view("/summary", [](schema::Store& st, const std::string& name, Req) { return summary_json(st, name); });
  }

  // The method-comparison report (report/report.h) in any of its formats, with
  // the base row `lorafarm sweep` stored, and its plots alone.
  void route_report() {
    server.Get(R"(/api/experiments/([^/]+)/report)", [this](const httplib::Request& req, httplib::Response& res) {
      auto store = store_or_404(req.matches[1]);
      const auto experiment = find_experiment_or_404(store, req.matches[1].str());
      const auto format = report_format_or_400(req.has_param("format") ? req.get_param_value("format") : "html");
      static const std::map<report::ReportFormat, const char*> types{{report::ReportFormat::Html, "text/html; charset=utf-8"},
                                                                     {report::ReportFormat::Markdown, "text/markdown; charset=utf-8"},
                                                                     {report::ReportFormat::Csv, "text/csv; charset=utf-8"},
                                                                     {report::ReportFormat::Json, "application/json"}};
      res.set_header("Cache-Control", "no-store");
      res.set_content(report::render_report(store, experiment, format, report::stored_report_context(store, experiment)), types.at(format));
    });
    get_experiment_view("/plots", [](schema::Store& st, const std::string& name, const httplib::Request&) {
      json plots = json::array();
      for (const auto& p : report::report_plots(report::collect_report(st, find_experiment_or_404(st, name))))
        plots.push_back({{"id", p.id}, {"title", p.title}, {"caption", p.caption}, {"svg", p.svg}, {"empty", p.empty}});
      return json{{"css", report::report_css()}, {"plots", plots}};
    });
  }

  void route_files_and_actions() {
    // One artifact file's bytes; the path must lie inside the artifact folder.
    server.Get("/api/artifacts/file", [this](const httplib::Request& req, httplib::Response& res) {
      if (!req.has_param("path")) throw ApiError(400, "give ?path=FILE (a path from .../trials/N/artifacts)");
      const auto path = confined_path(options.artifacts, req.get_param_value("path"));
      if (!fs::is_regular_file(path)) throw ApiError(400, "'" + req.get_param_value("path") + "' is not a file");
      std::ifstream in(path, std::ios::binary);
      std::ostringstream bytes;
      bytes << in.rdbuf();
      res.set_content(bytes.str(), path.extension() == ".json" ? "application/json" : "application/octet-stream");
    });
    server.Get("/api/examples", [this](const httplib::Request&, httplib::Response& res) { send_json(res, actions->examples()); });
    server.Get("/api/sweeps", [this](const httplib::Request&, httplib::Response& res) { send_json(res, actions->sweeps()); });
    server.Post("/api/sweeps", [this](const httplib::Request& req, httplib::Response& res) {
      require_write(req);
      send_json(res, actions->start_sweep(body_json(req)), 202);
    });
    server.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
      require_write(req);
      send_json(res, actions->generate(body_json(req), options.generate_timeout_seconds));
    });
  }

  // One JSON error shape ({"error": "..."}) for every 4xx/5xx.
  void route_errors() {
    server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const ApiError& e) {
        send_json(res, {{"error", e.what()}}, e.status());
      } catch (const std::exception& e) {
        spdlog::error("dashboard: {} {}: {}", req.method, req.path, e.what());
        send_json(res, {{"error", e.what()}}, 500);
      }
    });
    // Unrouted paths and httplib's own refusals (e.g. 413) get the same JSON shape.
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message = reason(res.status);
      if (res.status == 404) message = "no such endpoint: " + req.method + " " + req.path + " (see docs/dashboard.md)";
      if (res.status == 413) message = "request body too large";
      send_json(res, {{"error", message}}, res.status);
      return httplib::Server::HandlerResponse::Handled;
    }));
    server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      spdlog::debug("dashboard: {} {} -> {}", req.method, req.path, res.status);
    });
  }
};

DashboardServer::DashboardServer(DashboardOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.artifacts.empty()) options.artifacts = schema::default_artifact_dir(options.db);
  if (options.binary.empty()) options.binary = fs::read_symlink("/proc/self/exe");
  if (options.token.empty()) options.token = random_token();
  fs::create_directories(options.artifacts);
  impl_->options = options;
  impl_->actions = std::make_unique<DashboardActions>(ActionPaths{options.db, options.artifacts, options.examples, options.binary});
  impl_->server.set_payload_max_length(options.max_body_bytes);
  impl_->routes();
}

DashboardServer::~DashboardServer() { stop(); }

void DashboardServer::start() {
  auto& o = impl_->options;
  if (o.port == 0) {
    impl_->port = impl_->server.bind_to_any_port(o.bind);
    if (impl_->port < 0) throw std::runtime_error("cannot listen on " + o.bind + " (any port)");
  } else {
    if (!impl_->server.bind_to_port(o.bind, o.port))
      throw std::runtime_error("cannot listen on " + o.bind + ":" + std::to_string(o.port) + " (in use? try --port 0 for any free port)");
    impl_->port = o.port;
  }
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
}

void DashboardServer::stop() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void DashboardServer::wait() {
  if (impl_->thread.joinable()) impl_->thread.join();
}

int DashboardServer::port() const { return impl_->port; }
const std::string& DashboardServer::token() const { return impl_->options.token; }
bool DashboardServer::read_only() const { return impl_->options.read_only; }

std::string DashboardServer::url(bool with_token) const {
  std::string host = impl_->options.bind == "0.0.0.0" ? "127.0.0.1" : impl_->options.bind;
  std::string out = "http://" + host + ":" + std::to_string(impl_->port) + "/";
  if (with_token && !impl_->options.read_only) out += "#token=" + impl_->options.token;
  return out;
}

}  // namespace lorafarm::dashboard
