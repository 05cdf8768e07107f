// Base64 (RFC 4648, standard alphabet, padded), for file chunks inside a JSON
// message body (docs/protocol.md, UPLOAD).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lorafarm::schema {

std::string base64_encode(std::string_view bytes);
// The decoded bytes, or nullopt when `text` is not padded standard base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace lorafarm::schema
