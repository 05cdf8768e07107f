// The ROUTER socket: binding (with CURVE or on loopback only), sending the
// outbox after commit, receiving a batch of messages, and counting drops.
#include <spdlog/spdlog.h>

#include <zmq_addon.hpp>

#include "coordinator/coordinator_state.h"

namespace lorafarm::coordinator {

using nlohmann::json;

namespace {

bool loopback_endpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  for (const char* prefix : {"tcp://127.", "tcp://localhost:", "tcp://[::1]:"})
    if (endpoint.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

void Coordinator::State::bind() {
  if (options.curve) {
    if (options.allowed_workers.empty())
      throw std::runtime_error("CURVE is on but no worker key is allowed; pass --allow with the workers' .pub files");
    authenticator = std::make_unique<CurveAuthenticator>(context, options.allowed_workers);
    authenticator->secure(socket, *options.curve);
  } else if (!loopback_endpoint(options.bind) && !options.insecure) {
    throw std::runtime_error("refusing to bind " + options.bind +
                             " without authentication: anyone who can reach it could take trials. Make keys with "
                             "`lorafarm keygen` and pass --curve-key and --allow (docs/security.md), or pass --insecure "
                             "on a network you trust");
  }
  // Workers use a fresh routing id per connection (peer_routes.h); handover
  // only serves peers that reuse their worker id as the routing id.
  socket.set(zmq::sockopt::router_handover, 1);
  // libzmq checks the limit per frame; the body is the largest frame.
  socket.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schema::kMaxBodyBytes + 1024));
  socket.set(zmq::sockopt::linger, 1000);
  socket.set(zmq::sockopt::sndhwm, 100000);
  socket.set(zmq::sockopt::rcvhwm, kReceiveQueuePerPeer);
  socket.bind(options.bind);
  endpoint = socket.get(zmq::sockopt::last_endpoint);
  spdlog::info("experiment '{}' ({}): listening on {}", spec.name, resumed ? "resumed" : "new", endpoint);
}

void Coordinator::State::flush() {
  for (const auto& [worker, message] : outbox) {
    const auto frames = schema::encode(message);
    const std::string route = routes.route_of(worker);
    std::array<zmq::const_buffer, 4> parts{zmq::buffer(route), zmq::buffer(frames[0]), zmq::buffer(frames[1]), zmq::buffer(frames[2])};
    try {
      if (!zmq::send_multipart(socket, parts, zmq::send_flags::dontwait)) spdlog::warn("send to {} would block; dropped", worker);
    } catch (const zmq::error_t& e) {
      spdlog::warn("send to {} failed: {}", worker, e.what());
    }
  }
  outbox.clear();
}

void Coordinator::State::drop(const std::string& who, const std::string& why) {
  ++dropped;
  // Log the first few in full, then one line in a thousand, so a flood of
  // garbage cannot fill the disk.
  if (++warnings_logged <= 20 || warnings_logged % 1000 == 0)
    spdlog::warn("dropped a message from {}: {} ({} dropped so far)", who.empty() ? "?" : who, why, dropped);
}

void Coordinator::State::receive_batch(double now) {
  std::vector<zmq::message_t> parts;
  for (int i = 0; i < 4096; ++i) {
    parts.clear();
    std::optional<std::size_t> got;
    try {
      got = zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) return;
      drop("", std::string("receive failed: ") + e.what());
      continue;
    }
    if (!got) return;
    if (parts.empty()) continue;
    const std::string route = parts[0].to_string();
    std::vector<std::string_view> frames;
    for (std::size_t k = 1; k < parts.size(); ++k) frames.push_back(parts[k].to_string_view());
    try {
      const Message m = schema::decode(frames);
      store.begin();
      handle(route, m, now);
    } catch (const schema::ProtocolError& e) {
      drop(route, e.what());
    } catch (const nlohmann::json::exception& e) {
      drop(route, std::string("bad field: ") + e.what());
    }
  }
}

}  // namespace lorafarm::coordinator
