// SPDX-License-Identifier: GPL-2.0-only
#include "kexec/stock_finder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file.h"

namespace limbo::plugin::kexec {

Result<std::vector<uint8_t>> read_file(const std::string& path) {
  const UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) {
    const int error = errno;
    return fail(format("%s: %s", path.c_str(), std::strerror(error)), error);
  }
  return read_to_end(fd.get(), path);
}

}  // namespace limbo::plugin::kexec
