// SPDX-License-Identifier: GPL-2.0-only
// Finds the purgatory objects that kexec-tools embeds in its own binary (a
// byte array holding an ELF64 ET_REL EM_X86_64 object), by scanning the file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace limbo::plugin::kexec {

// Each candidate is sized by its section header table's end
// (e_shoff + e_shnum * e_shentsize), which is where `ld -r` puts it last.
std::vector<std::span<const uint8_t>> find_embedded_objects(std::span<const uint8_t> binary);

// Reads a whole file; ENOENT etc. are kept in the error.
Result<std::vector<uint8_t>> read_file(const std::string& path);

}  // namespace limbo::plugin::kexec
