#include "schema/curve_keys.h"

#include <sys/stat.h>
#include <zmq.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace lorafarm::schema {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kPublicTag = "public-key";
constexpr std::string_view kSecretTag = "secret-key";

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n\"");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n\"");
  return std::string(s.substr(first, last - first + 1));
}

// `tag = "KEY"` lines, or bare keys (tag empty).
struct KeyLine {
  std::string tag;
  std::string key;
};

std::vector<KeyLine> read_key_lines(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read key file " + file.string());
  std::vector<KeyLine> lines;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string text = trim(line);
    KeyLine parsed;
    // Z85 has '#' and '=' in its alphabet, so a bare key is recognised first.
    if (is_z85_key(text)) {
      parsed.key = text;
      lines.push_back(std::move(parsed));
      continue;
    }
    if (text.empty() || text[0] == '#') continue;
    if (const auto eq = text.find('='); eq != std::string::npos) {
      parsed.tag = trim(std::string_view(text).substr(0, eq));
      parsed.key = trim(std::string_view(text).substr(eq + 1));
    } else {
      parsed.key = text;
    }
    if (!is_z85_key(parsed.key))
      throw std::runtime_error(file.string() + ":" + std::to_string(number) + ": not a CURVE key (expected 40 Z85 characters, as `lorafarm keygen` writes)");
    lines.push_back(std::move(parsed));
  }
  return lines;
}

void write_file(const fs::path& path, const std::string& text, mode_t mode) {
  const std::string tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    ::chmod(tmp.c_str(), mode);  // before the secret is written
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, path);
}

}  // namespace

bool is_z85_key(std::string_view text) {
  if (text.size() != kZ85KeyLength) return false;
  std::array<std::uint8_t, 32> binary{};
  const std::string copy(text);
  return zmq_z85_decode(binary.data(), copy.c_str()) != nullptr;
}

std::string z85_encode_key(std::string_view binary32) {
  if (binary32.size() != 32) throw std::invalid_argument("a CURVE key is 32 bytes, got " + std::to_string(binary32.size()));
  char text[kZ85KeyLength + 1] = {};
  zmq_z85_encode(text, reinterpret_cast<const std::uint8_t*>(binary32.data()), binary32.size());
  return text;
}

CurveKeyPair generate_curve_key_pair() {
  if (!zmq_has("curve")) throw std::runtime_error("this libzmq was built without CURVE support");
  char pub[kZ85KeyLength + 1] = {};
  char sec[kZ85KeyLength + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0) throw std::runtime_error(std::string("cannot make a CURVE key pair: ") + zmq_strerror(zmq_errno()));
  return {pub, sec};
}

void write_curve_key_pair(const fs::path& stem, const CurveKeyPair& keys, bool overwrite) {
  const fs::path secret_file = fs::path(stem.string() + ".key");
  const fs::path public_file = fs::path(stem.string() + ".pub");
  for (const auto& f : {secret_file, public_file})
    if (!overwrite && fs::exists(f)) throw std::runtime_error(f.string() + " exists; pass --force to replace it");
  if (stem.has_parent_path()) fs::create_directories(stem.parent_path());
  write_file(secret_file,
             "# lorafarm CURVE key pair (ZeroMQ Z85). Keep this file private; share " + public_file.filename().string() + ".\n" +
                 std::string(kPublicTag) + " = \"" + keys.public_key + "\"\n" + std::string(kSecretTag) + " = \"" + keys.secret_key + "\"\n",
             0600);
  write_file(public_file, "# lorafarm CURVE public key (ZeroMQ Z85)\n" + std::string(kPublicTag) + " = \"" + keys.public_key + "\"\n", 0644);
}

CurveKeyPair load_curve_key_pair(const fs::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) throw std::runtime_error("cannot read key file " + file.string() + " (make one with `lorafarm keygen`)");
  if (info.st_mode & (S_IRWXG | S_IRWXO)) {
    std::ostringstream mode;
    mode << std::oct << (info.st_mode & 0777);
    throw std::runtime_error(file.string() + " holds a secret key but has mode " + mode.str() + "; run `chmod 600 " + file.string() + "`");
  }
  CurveKeyPair keys;
  for (const auto& line : read_key_lines(file)) {
    if (line.tag == kPublicTag) keys.public_key = line.key;
    else if (line.tag == kSecretTag) keys.secret_key = line.key;
  }
  if (keys.public_key.empty() || keys.secret_key.empty())
    throw std::runtime_error(file.string() + " is not a key pair (needs public-key and secret-key lines; the .key file of `lorafarm keygen`)");
  // The public key must belong to the secret one, or peers would be told a key we cannot prove.
  char derived[kZ85KeyLength + 1] = {};
  if (zmq_curve_public(derived, keys.secret_key.c_str()) != 0 || keys.public_key != derived)
    throw std::runtime_error(file.string() + ": the public key does not match the secret key");
  return keys;
}

std::string load_curve_public_key(std::string_view key_or_file) {
  if (is_z85_key(key_or_file) && !fs::exists(fs::path(key_or_file))) return std::string(key_or_file);
  const fs::path file{std::string(key_or_file)};
  for (const auto& line : read_key_lines(file))
    if (line.tag.empty() || line.tag == kPublicTag) return line.key;
  throw std::runtime_error(file.string() + " holds no public key");
}

std::set<std::string> load_curve_allow_list(const fs::path& folder_or_file) {
  std::set<std::string> keys;
  auto add_file = [&](const fs::path& file) {
    for (const auto& line : read_key_lines(file))
      if (line.tag.empty() || line.tag == kPublicTag) keys.insert(line.key);
  };
  if (fs::is_directory(folder_or_file)) {
    for (const auto& entry : fs::directory_iterator(folder_or_file))
      if (entry.is_regular_file() && entry.path().extension() == ".pub") add_file(entry.path());
  } else if (fs::exists(folder_or_file)) {
    add_file(folder_or_file);
  } else {
    throw std::runtime_error("worker allow-list " + folder_or_file.string() + " does not exist (a folder of .pub files or a file of keys)");
  }
  if (keys.empty()) throw std::runtime_error("worker allow-list " + folder_or_file.string() + " holds no public key (.pub files of `lorafarm keygen`)");
  return keys;
}

}  // namespace lorafarm::schema
