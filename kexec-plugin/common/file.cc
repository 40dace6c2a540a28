// SPDX-License-Identifier: GPL-2.0-only
#include "common/file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace limbo::plugin {

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

Result<std::vector<uint8_t>> read_to_end(int fd, const std::string& path) {
  std::vector<uint8_t> bytes;
  uint8_t chunk[65536];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      return fail(format("%s: %s", path.c_str(), std::strerror(error)), error);
    }
    if (n == 0) return bytes;
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
}

}  // namespace limbo::plugin
