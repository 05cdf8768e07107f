#include "coordinator/curve_authenticator.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <zmq_addon.hpp>

namespace lorafarm::coordinator {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";  // fixed by RFC 27
constexpr const char* kMonitorEndpoint = "inproc://lorafarm.coordinator.monitor";
constexpr double kLogEverySeconds = 60;  // a refused peer retries every few ms: log it once a minute

double now_seconds() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string handshake_failure_reason(std::uint16_t event, std::uint32_t value) {
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) return "authentication refused (status " + std::to_string(value) + ")";
  switch (value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "the peer does not use CURVE (a worker needs --curve-key and --server-key)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
    case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
      return "the CURVE handshake failed (the worker was given a different coordinator public key)";
    default:
      return "the handshake failed (ZMTP protocol error " + std::to_string(value) + ")";
  }
}

}  // namespace

struct CurveAuthenticator::State {
  zmq::context_t& context;
  std::set<std::string> allowed;
  zmq::socket_t zap{context, zmq::socket_type::rep};
  std::unique_ptr<zmq::socket_t> monitor;          // the thread's own
  std::unique_ptr<zmq::socket_t> pending_monitor;  // handed over by secure()
  std::mutex pending_mutex;
  std::atomic<bool> stopping{false};
  AuthCounters counters;
  std::map<std::string, double> last_logged;  // what -> when (thread-only)
  std::thread thread;

  State(zmq::context_t& c, std::set<std::string> keys) : context(c), allowed(std::move(keys)) {
    zap.set(zmq::sockopt::linger, 0);
    zap.bind(kZapEndpoint);
    thread = std::thread([this] { loop(); });
  }

  ~State() {
    stopping = true;
    if (thread.joinable()) thread.join();
  }

  bool should_log(const std::string& what) {
    const double now = now_seconds();
    auto [it, fresh] = last_logged.try_emplace(what, now);
    if (fresh) return true;
    if (now - it->second < kLogEverySeconds) return false;
    it->second = now;
    return true;
  }

  // One ZAP request: version, request id, domain, address, identity, mechanism, credentials.
  void answer_zap() {
    std::vector<zmq::message_t> request;
    if (!zmq::recv_multipart(zap, std::back_inserter(request), zmq::recv_flags::dontwait)) return;
    if (request.size() < 6) return;  // not a ZAP request; REP must still answer, but libzmq never sends these
    const std::string version = request[0].to_string();
    const std::string mechanism = request[5].to_string();
    const std::string address = request[3].to_string();
    std::string status = "400", text = "not allowed";
    std::string key;
    if (mechanism == "CURVE" && request.size() == 7 && request[6].size() == 32) {
      key = schema::z85_encode_key(request[6].to_string_view());
      if (allowed.count(key)) {
        status = "200";
        text = "OK";
      }
    }
    if (status == "200") {
      ++counters.admitted;
      spdlog::debug("admitted worker key {} from {}", key, address);
    } else {
      ++counters.refused_key;
      if (should_log("key " + key))
        spdlog::warn("refused a worker from {}: {} (add its .pub to the allow-list to admit it)", address,
                     key.empty() ? "no CURVE key" : "public key " + key + " is not on the allow-list");
    }
    std::array<zmq::const_buffer, 6> reply{zmq::buffer(version), zmq::buffer(request[1].data(), request[1].size()), zmq::buffer(status),
                                           zmq::buffer(text),   zmq::str_buffer(""),                            zmq::str_buffer("")};
    zmq::send_multipart(zap, reply);
  }

  // One monitor event: [uint16 event, uint32 value], endpoint.
  void read_monitor_event() {
    std::vector<zmq::message_t> event;
    if (!zmq::recv_multipart(*monitor, std::back_inserter(event), zmq::recv_flags::dontwait)) return;
    if (event.size() != 2 || event[0].size() != 6) return;
    std::uint16_t id = 0;
    std::uint32_t value = 0;
    std::memcpy(&id, event[0].data(), 2);
    std::memcpy(&value, static_cast<const char*>(event[0].data()) + 2, 4);
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) return;  // already logged by the ZAP handler
    ++counters.refused_handshake;
    const std::string reason = handshake_failure_reason(id, value);
    if (should_log(reason)) spdlog::warn("refused a connection on {}: {}", event[1].to_string(), reason);
  }

  void loop() {
    while (!stopping) {
      {
        std::lock_guard lock(pending_mutex);
        if (pending_monitor) monitor = std::move(pending_monitor);
      }
      std::vector<zmq::pollitem_t> items{{zap.handle(), 0, ZMQ_POLLIN, 0}};
      if (monitor) items.push_back({monitor->handle(), 0, ZMQ_POLLIN, 0});
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(50));
        if (items[0].revents & ZMQ_POLLIN) answer_zap();
        if (items.size() > 1 && (items[1].revents & ZMQ_POLLIN)) read_monitor_event();
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) return;
        spdlog::warn("authenticator: {}", e.what());
      }
    }
  }
};

CurveAuthenticator::CurveAuthenticator(zmq::context_t& context, std::set<std::string> allowed_public_keys)
    : state_(std::make_unique<State>(context, std::move(allowed_public_keys))) {}

CurveAuthenticator::~CurveAuthenticator() = default;

void CurveAuthenticator::secure(zmq::socket_t& server, const schema::CurveKeyPair& keys) {
  server.set(zmq::sockopt::curve_server, 1);
  server.set(zmq::sockopt::curve_secretkey, keys.secret_key);
  if (zmq_socket_monitor(server.handle(), kMonitorEndpoint, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                                                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
    throw zmq::error_t();
  auto monitor = std::make_unique<zmq::socket_t>(state_->context, zmq::socket_type::pair);
  monitor->set(zmq::sockopt::linger, 0);
  monitor->connect(kMonitorEndpoint);
  std::lock_guard lock(state_->pending_mutex);
  state_->pending_monitor = std::move(monitor);
}

const AuthCounters& CurveAuthenticator::counters() const { return state_->counters; }

}  // namespace lorafarm::coordinator
