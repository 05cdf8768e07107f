// The wire protocol between coordinator (ROUTER) and workers (DEALER): every
// message is three frames — protocol version, type, JSON body — and every body
// is validated against its type before anyone acts on it. docs/protocol.md.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "schema/error.h"

namespace lorafarm::schema {

inline constexpr std::string_view kProtocolVersion = "LORAFARM/1";
// Largest body accepted (the coordinator drops bigger messages unread; the
// socket's ZMQ_MAXMSGSIZE is set a little above this).
inline constexpr std::size_t kMaxBodyBytes = 1 << 20;
// Largest artifact chunk in one UPLOAD (base64 makes it 4/3 as long, well under kMaxBodyBytes).
inline constexpr std::size_t kMaxChunkBytes = 256 * 1024;

enum class MessageType {
  Hello,      // worker -> coordinator: who I am, my slots, trials I am still running
  Welcome,    // coordinator -> worker: accepted; heartbeat settings; trials to drop
  Reject,     // coordinator -> worker: not accepted (or: unknown, say HELLO again)
  Request,    // worker -> coordinator: N more free slots
  Assign,     // coordinator -> worker: run this (trial, attempt)
  Progress,   // worker -> coordinator: an intermediate report of a running trial
  Continue,   // coordinator -> worker: keep going
  Stop,       // coordinator -> worker: prune this trial
  Result,     // worker -> coordinator: the trial finished with its final metrics
  Failed,     // worker -> coordinator: the trial ended without a result, and why
  Ack,        // coordinator -> worker: RESULT/FAILED is durably recorded
  Heartbeat,  // both ways: I am alive (worker's lists its running trials)
  Cancel,     // coordinator -> worker: kill this (trial, attempt)
  Shutdown,   // coordinator -> worker: the sweep is over, exit
  Fetch,      // coordinator -> worker: send me these artifact files
  Upload,     // worker -> coordinator: a chunk of an artifact file (empty: where do you stand?)
  UploadAck,  // coordinator -> worker: the bytes I have of that file (or: done / refused)
  Checkpoint,     // worker -> coordinator: a running trial's checkpoint is complete; these are its files
  Download,       // worker -> coordinator: send me bytes of a checkpoint file from this offset
  DownloadChunk,  // coordinator -> worker: those bytes (or: why not)
  Release,        // coordinator -> worker: this attempt's checkpoints below a step are superseded at home: delete them
};

std::string_view to_string(MessageType type);
std::optional<MessageType> message_type_from(std::string_view name);

struct Message {
  MessageType type;
  nlohmann::json body = nlohmann::json::object();
};

// The three frames of a message (version, type, body).
std::array<std::string, 3> encode(const Message& message);
// Checks frame count, version, type, body size, JSON syntax and the body's
// fields; throws ProtocolError saying which.
Message decode(std::span<const std::string_view> frames);
// Throws ProtocolError unless `body` has the fields `type` requires, with the right types.
void validate_body(MessageType type, const nlohmann::json& body);

// The reasons a FAILED message may give.
inline constexpr std::array<std::string_view, 8> kFailureCauses{
    "exit", "signal", "timeout", "bad_output", "memory", "spawn", "cancelled", "stopped"};

}  // namespace lorafarm::schema
