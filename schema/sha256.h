// SHA-256 (FIPS 180-4), for spec hashes and artifact checksums.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace lorafarm::schema {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  // Lower-case hex digest; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  void block(const unsigned char* p);
  std::uint32_t h_[8];
  unsigned char buffer_[64];
  std::size_t buffered_ = 0;
  std::uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view bytes);
// Hashes a file in chunks; throws std::runtime_error naming the file if unreadable.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace lorafarm::schema
