// ZeroMQ CURVE key pairs and the files that hold them (docs/security.md).
// Keys are Z85 text, 40 characters, as libzmq prints them. A key-pair file
// (`NAME.key`, mode 0600) holds both keys; a public-key file (`NAME.pub`) holds
// one. Every reader accepts either file, or a bare 40-character key.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace lorafarm::schema {

inline constexpr std::size_t kZ85KeyLength = 40;

struct CurveKeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
};

CurveKeyPair generate_curve_key_pair();

// Writes `<stem>.key` (both keys, mode 0600) and `<stem>.pub`. Refuses to
// overwrite unless `overwrite`.
void write_curve_key_pair(const std::filesystem::path& stem, const CurveKeyPair& keys, bool overwrite = false);

// Reads a key-pair file written by write_curve_key_pair (`lorafarm keygen`).
// Refuses a secret key file others can read.
CurveKeyPair load_curve_key_pair(const std::filesystem::path& file);

// A public key: a bare Z85 key, or a `.pub` / `.key` file holding one.
std::string load_curve_public_key(std::string_view key_or_file);

// An allow-list: a folder of `*.pub` files, or one file with a key per line
// (`#` comments and blank lines ignored). Throws when it yields no key.
std::set<std::string> load_curve_allow_list(const std::filesystem::path& folder_or_file);

// The Z85 text of a 32-byte binary key (as a ZAP request carries it).
std::string z85_encode_key(std::string_view binary32);

bool is_z85_key(std::string_view text);

}  // namespace lorafarm::schema
