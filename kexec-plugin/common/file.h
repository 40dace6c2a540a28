// SPDX-License-Identifier: GPL-2.0-only
// Whole-file reads for the plugin: the kexec binary it inspects and the
// purgatory it loads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace limbo::plugin {

// An open descriptor, closed when it goes out of scope: on a return and on
// an exception alike (the allocation-failure sweep found descriptors left
// open when a read's buffer could not grow).
class UniqueFd {
 public:
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const noexcept { return fd_; }
  bool ok() const noexcept { return fd_ >= 0; }

 private:
  int fd_;
};

// Reads `fd` from its current offset to end of file. `path` only names the
// file in an error. Does not close `fd`: the caller opened it and closes it.
Result<std::vector<uint8_t>> read_to_end(int fd, const std::string& path);

}  // namespace limbo::plugin
