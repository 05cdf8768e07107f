// Fuzzes the wire-message decoder. The input is the frames of one message
// separated by the byte 0x1e (so the frame count is fuzzed too). A decoded
// message must survive encode -> decode unchanged after the first round.
#include <string_view>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "schema/messages.h"

LORAFARM_FUZZ_TARGET(messages) {
  using namespace lorafarm;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> frames;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = input.find('\x1e', start);
    frames.push_back(input.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  schema::Message message;
  try {
    message = schema::decode(frames);
  } catch (const schema::ProtocolError&) {
    return 0;  // a rejected message is the expected outcome for bad input
  }
  // What the coordinator or a worker sends back out must decode again, and
  // encoding is stable from then on.
  const auto once = schema::encode(message);
  const std::vector<std::string_view> again{once[0], once[1], once[2]};
  const schema::Message decoded = schema::decode(again);
  fuzz::check(decoded.type == message.type);
  fuzz::check(schema::encode(decoded) == once);
  return 0;
}
