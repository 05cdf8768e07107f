// One source per fuzz target, built two ways: as a libFuzzer binary
// (LLVMFuzzerTestOneInput) and, in the normal build, as a named function that
// fuzz_corpus_replay runs over the checked-in corpus (so CI catches a
// regression on any seed or saved crash without needing clang).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>

#ifdef LORAFARM_FUZZ_REPLAY
#define LORAFARM_FUZZ_TARGET(name) \
  extern "C" int lorafarm_fuzz_##name(const std::uint8_t* data, std::size_t size)
#else
#define LORAFARM_FUZZ_TARGET(name) \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#endif

namespace lorafarm::fuzz {

// An in-memory file (memfd) reachable by path, for loaders that only take a
// path: rewriting it costs no disk I/O, so a target keeps a high exec rate.
class MemoryFile {
 public:
  explicit MemoryFile(const char* name) : fd_(::memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Replaces the contents with `bytes`; returns the path to open.
  const std::filesystem::path& write(std::span<const std::uint8_t> bytes) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<std::size_t>(n);
    }
    return path_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_;
  std::filesystem::path path_;
};

// Fails the run (a crash to libFuzzer, a failed check to the replay) when an
// invariant of a successfully parsed input does not hold.
inline void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace lorafarm::fuzz
