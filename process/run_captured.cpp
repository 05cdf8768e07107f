// run_captured: a child with its stdout and stderr read through pipes until
// they close or the timeout passes.
#include "process/run_captured.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace lorafarm::process {
namespace {

struct Pipe {
  int read = -1;
  int write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_read() {
    if (read >= 0) ::close(read);
    read = -1;
  }
  void close_write() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

// Reads both pipes until they close; false if the deadline came first.
bool drain(Pipe& out, Pipe& err, CapturedRun& run, std::size_t max_output,
           std::chrono::steady_clock::time_point deadline) {
  Pipe* pipes[2] = {&out, &err};
  std::string* sinks[2] = {&run.out, &run.err};
  char buffer[4096];
  while (out.read >= 0 || err.read >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd fds[2] = {{out.read, POLLIN, 0}, {err.read, POLLIN, 0}};  // a negative fd is skipped
    if (::poll(fds, 2, static_cast<int>(std::min<long long>(left, 200))) < 0 && errno != EINTR) return true;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        pipes[i]->close_read();
      } else if (sinks[i]->size() < max_output) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  return true;
}

}  // namespace

CapturedRun run_captured(const std::vector<std::string>& argv, double timeout_seconds, std::size_t max_output) {
  Pipe out, err;
  ChildSpec spec;
  spec.argv = argv;
  spec.stdout_fd = out.write;
  spec.stderr_fd = err.write;
  Child child(spec);
  out.close_write();
  err.close_write();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout_seconds));
  CapturedRun run;
  std::optional<ExitStatus> status;
  if (drain(out, err, run, max_output, deadline)) status = child.wait_until(deadline);
  run.timed_out = !status;
  run.status = status ? *status : child.kill();
  return run;
}

}  // namespace lorafarm::process
