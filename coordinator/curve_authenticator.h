// CURVE authentication for the coordinator's socket: a ZAP handler (RFC 27,
// https://rfc.zeromq.org/spec/27/) that admits only workers whose public key is
// on the allow-list, and a socket monitor that logs the handshakes libzmq
// refuses before ZAP is asked (a worker without CURVE, or one that was given
// the wrong coordinator key). Both run on one thread of their own.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <zmq.hpp>

#include "schema/curve_keys.h"

namespace lorafarm::coordinator {

struct AuthCounters {
  std::atomic<std::int64_t> admitted{0};
  std::atomic<std::int64_t> refused_key{0};        // ZAP: key not on the allow-list
  std::atomic<std::int64_t> refused_handshake{0};  // no CURVE, wrong server key, bad crypto
};

class CurveAuthenticator {
 public:
  // Starts the ZAP handler in `context`; call before any socket of the context binds.
  CurveAuthenticator(zmq::context_t& context, std::set<std::string> allowed_public_keys);
  ~CurveAuthenticator();
  CurveAuthenticator(const CurveAuthenticator&) = delete;
  CurveAuthenticator& operator=(const CurveAuthenticator&) = delete;

  // Makes `server` a CURVE server with `keys` and watches its handshakes.
  // Call before `server` binds.
  void secure(zmq::socket_t& server, const schema::CurveKeyPair& keys);

  const AuthCounters& counters() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lorafarm::coordinator
