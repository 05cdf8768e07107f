// Wire messages: round trips and every way a message can be malformed.
#include "schema/messages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lorafarm::schema {
namespace {

using ::testing::HasSubstr;

Message decode_frames(const std::string& version, const std::string& type, const std::string& body) {
  std::array<std::string_view, 3> frames{version, type, body};
  return decode(frames);
}

std::string error_of(const std::string& version, const std::string& type, const std::string& body) {
  try {
    decode_frames(version, type, body);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Messages, RoundTripsEveryType) {
  const Message hello{MessageType::Hello, {{"worker_id", "w1"}, {"host", "h"}, {"slots", 2}, {"version", "0.1"}, {"running", {{{"trial", 3}, {"attempt", 1}}}}}};
  const auto frames = encode(hello);
  const auto back = decode_frames(frames[0], frames[1], frames[2]);
  EXPECT_EQ(back.type, MessageType::Hello);
  EXPECT_EQ(back.body, hello.body);
  for (const auto& [type, name] : std::vector<std::pair<MessageType, std::string>>{{MessageType::Ack, "ACK"}, {MessageType::Stop, "STOP"}}) {
    EXPECT_EQ(to_string(type), name);
    EXPECT_EQ(message_type_from(name), type);
  }
}

TEST(Messages, RejectsWrongFrameCount) {
  std::array<std::string_view, 2> two{kProtocolVersion, "HELLO"};
  EXPECT_THROW(decode(two), ProtocolError);
}

TEST(Messages, RejectsAnotherProtocolVersion) {
  EXPECT_THAT(error_of("LORAFARM/0", "HEARTBEAT", "{}"), HasSubstr("protocol version 'LORAFARM/0'"));
}

TEST(Messages, RejectsAnUnknownType) { EXPECT_THAT(error_of(std::string(kProtocolVersion), "GIMME", "{}"), HasSubstr("unknown message type")); }

TEST(Messages, RejectsAnOversizedBody) {
  const std::string big(kMaxBodyBytes + 1, ' ');
  EXPECT_THAT(error_of(std::string(kProtocolVersion), "HEARTBEAT", big), HasSubstr("exceeds the limit"));
}

TEST(Messages, RejectsABodyThatIsNotJsonOrNotAnObject) {
  EXPECT_THAT(error_of(std::string(kProtocolVersion), "HEARTBEAT", "{nope"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_of(std::string(kProtocolVersion), "HEARTBEAT", "[1,2]"), HasSubstr("must be a JSON object"));
}

TEST(Messages, RejectsMissingAndWrongTypedFields) {
  const std::string v(kProtocolVersion);
  EXPECT_THAT(error_of(v, "REQUEST", "{}"), HasSubstr("REQUEST.slots: missing"));
  EXPECT_THAT(error_of(v, "REQUEST", R"({"slots": "3"})"), HasSubstr("REQUEST.slots: must be an integer >= 1"));
  EXPECT_THAT(error_of(v, "REQUEST", R"({"slots": 0})"), HasSubstr("REQUEST.slots"));
  EXPECT_THAT(error_of(v, "RESULT", R"({"trial": 1, "attempt": 1, "metrics": {"val_loss": "low"}})"), HasSubstr("RESULT.metrics"));
  EXPECT_THAT(error_of(v, "RESULT", R"({"trial": -1, "attempt": 1, "metrics": {}})"), HasSubstr("RESULT.trial"));
  EXPECT_THAT(error_of(v, "PROGRESS", R"({"trial": 1, "attempt": 0, "step": 1, "metrics": {}})"), HasSubstr("PROGRESS.attempt"));
  EXPECT_THAT(error_of(v, "HELLO", R"({"worker_id": "w", "host": "h", "slots": 1, "version": "1", "running": [{"trial": 1}]})"),
              HasSubstr("HELLO.running"));
  EXPECT_THAT(error_of(v, "FAILED", R"({"trial": 1, "attempt": 1, "cause": "gremlins"})"), HasSubstr("FAILED.cause"));
  EXPECT_THAT(error_of(v, "ASSIGN", R"({"trial": 1, "attempt": 1, "experiment": "e", "seed": 1, "params": {}, "kind": "command", "objective": "l"})"),
              HasSubstr("ASSIGN.command"));
}

TEST(Messages, ValidatesTheArtifactTransferMessages) {
  const std::string v(kProtocolVersion);
  const std::string sha(64, 'a');
  const auto upload = decode_frames(v, "UPLOAD", R"({"sha256": ")" + sha + R"(", "offset": 0, "data": "Zm9v"})");
  EXPECT_EQ(upload.type, MessageType::Upload);
  EXPECT_EQ(decode_frames(v, "UPLOAD_ACK", R"({"sha256": ")" + sha + R"(", "offset": 3, "complete": true})").type, MessageType::UploadAck);
  EXPECT_EQ(decode_frames(v, "FETCH", R"({"trial": 0, "attempt": 1, "files": [{"sha256": ")" + sha + R"(", "bytes": 3, "path": "/w/x"}]})").type,
            MessageType::Fetch);
  // A sha256 names a file in the store: nothing but 64 lower-case hex digits passes.
  EXPECT_THAT(error_of(v, "UPLOAD", R"({"sha256": "../../etc/passwd", "offset": 0, "data": ""})"), HasSubstr("UPLOAD.sha256"));
  EXPECT_THAT(error_of(v, "UPLOAD", R"({"sha256": ")" + sha + R"(", "offset": -1, "data": ""})"), HasSubstr("UPLOAD.offset"));
  const std::string too_long(kMaxChunkBytes / 3 * 4 + 8, 'A');
  EXPECT_THAT(error_of(v, "UPLOAD", R"({"sha256": ")" + sha + R"(", "offset": 0, "data": ")" + too_long + R"("})"), HasSubstr("UPLOAD.data"));
  EXPECT_THAT(error_of(v, "FETCH", R"({"trial": 0, "attempt": 1, "files": [{"sha256": "x", "bytes": 3, "path": "/w/x"}]})"), HasSubstr("FETCH.files"));
  EXPECT_THAT(error_of(v, "RESULT", R"({"trial": 1, "attempt": 1, "metrics": {}, "artifacts": [{"path": "p", "sha256": "../x", "bytes": 1}]})"),
              HasSubstr("RESULT.artifacts"));
}

TEST(Messages, ValidatesTheCheckpointMessages) {
  const std::string v(kProtocolVersion);
  const std::string sha(64, 'b');
  const std::string file = R"({"name": "sub/state.bin", "path": "/w/t/checkpoints/step-4/sub/state.bin", "sha256": ")" + sha + R"(", "bytes": 9})";
  EXPECT_EQ(decode_frames(v, "CHECKPOINT", R"({"trial": 2, "attempt": 1, "step": 4, "files": [)" + file + "]}").type, MessageType::Checkpoint);
  EXPECT_EQ(decode_frames(v, "DOWNLOAD", R"({"sha256": ")" + sha + R"(", "offset": 0})").type, MessageType::Download);
  EXPECT_EQ(decode_frames(v, "DOWNLOAD_CHUNK", R"({"sha256": ")" + sha + R"(", "offset": 0, "data": "Zm9v", "bytes": 3})").type,
            MessageType::DownloadChunk);
  EXPECT_EQ(decode_frames(v, "RELEASE", R"({"trial": 2, "attempt": 1, "below_step": 4})").body["below_step"], 4);
  EXPECT_THAT(error_of(v, "RELEASE", R"({"trial": 2, "attempt": 1, "below_step": -1})"), HasSubstr("RELEASE.below_step"));
  EXPECT_THAT(error_of(v, "RELEASE", R"({"trial": 2, "attempt": 1})"), HasSubstr("RELEASE.below_step"));
  const std::string resume = R"({"step": 4, "attempt": 1, "files": [{"name": "state.bin", "sha256": ")" + sha + R"(", "bytes": 9}]})";
  const auto assign = decode_frames(v, "ASSIGN", R"({"trial": 2, "attempt": 2, "experiment": "e", "seed": 1, "params": {}, "kind": "engine",
                                                     "objective": "val_loss", "resume": )" + resume + "}");
  EXPECT_EQ(assign.body["resume"]["step"], 4);
  // A checkpoint file's name becomes a path under the resumed trial's folder: it may not climb out of it.
  for (const std::string name : {"../x", "a/../../x", "/etc/passwd", "", "a//b", "./x"}) {
    const std::string bad = R"({"trial": 2, "attempt": 1, "step": 4, "files": [{"name": ")" + name + R"(", "path": "/p", "sha256": ")" + sha +
                            R"(", "bytes": 1}]})";
    EXPECT_THAT(error_of(v, "CHECKPOINT", bad), HasSubstr("CHECKPOINT.files")) << name;
  }
  EXPECT_THAT(error_of(v, "ASSIGN", R"({"trial": 2, "attempt": 2, "experiment": "e", "seed": 1, "params": {}, "kind": "engine",
                                        "objective": "val_loss", "resume": {"step": 4, "attempt": 1, "files": [{"name": "../x", "sha256": ")" +
                                        sha + R"(", "bytes": 1}]}})"),
              HasSubstr("ASSIGN.resume"));
  EXPECT_THAT(error_of(v, "DOWNLOAD", R"({"sha256": "x", "offset": 0})"), HasSubstr("DOWNLOAD.sha256"));
}

TEST(Messages, AcceptsUnknownExtraFields) {
  const auto m = decode_frames(std::string(kProtocolVersion), "REQUEST", R"({"slots": 2, "future_field": [1]})");
  EXPECT_EQ(m.body["slots"], 2);
}

}  // namespace
}  // namespace lorafarm::schema
