// A scripted worker for protocol tests: a real DEALER socket that sends what
// the test says and hands back what the coordinator replies.
#pragma once

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "schema/messages.h"

namespace lorafarm::testing {

class FakeWorker {
 public:
  FakeWorker(zmq::context_t& context, const std::string& endpoint, const std::string& id) : socket_(context, zmq::socket_type::dealer), id_(id) {
    socket_.set(zmq::sockopt::routing_id, id);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }

  void send(schema::MessageType type, const nlohmann::json& body) {
    const auto frames = schema::encode({type, body});
    send_raw({frames[0], frames[1], frames[2]});
  }
  void send_raw(const std::vector<std::string>& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i)
      socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }

  // The next message other than HEARTBEAT (and CONTINUE unless asked for), or nullopt after `ms`.
  std::optional<schema::Message> receive(int ms = 3000, bool keep_continue = false) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(socket_, std::back_inserter(parts))) continue;
      std::vector<std::string_view> frames;
      for (auto& p : parts) frames.push_back(p.to_string_view());
      auto m = schema::decode(frames);
      if (m.type == schema::MessageType::Heartbeat) continue;
      if (m.type == schema::MessageType::Continue && !keep_continue) continue;
      return m;
    }
    return std::nullopt;
  }

  schema::Message expect(schema::MessageType type, int ms = 3000) {
    auto m = receive(ms, type == schema::MessageType::Continue);
    if (!m) throw std::runtime_error(id_ + ": expected " + std::string(to_string(type)) + ", got nothing");
    if (m->type != type)
      throw std::runtime_error(id_ + ": expected " + std::string(to_string(type)) + ", got " + std::string(to_string(m->type)) + " " + m->body.dump());
    return *m;
  }

  nlohmann::json hello_body(int slots, nlohmann::json running = nlohmann::json::array()) const {
    return {{"worker_id", id_}, {"host", "test"}, {"slots", slots}, {"version", "test"}, {"running", running}};
  }

  const std::string& id() const { return id_; }

 private:
  zmq::socket_t socket_;
  std::string id_;
};

}  // namespace lorafarm::testing
