// SPDX-License-Identifier: GPL-2.0-only
// Reads the kexec binary (or any file) whole; the purgatory objects it embeds
// are found by elf/embedded_objects.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace limbo::plugin::kexec {

// Reads a whole file; ENOENT etc. are kept in the error.
Result<std::vector<uint8_t>> read_file(const std::string& path);

}  // namespace limbo::plugin::kexec
