// Whole-file reads for the plugin: the kexec binary it inspects and the
// purgatory it loads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace limbo::plugin {

// Reads `fd` from its current offset to end of file. `path` only names the
// file in an error. Does not close `fd`: the caller opened it and closes it.
Result<std::vector<uint8_t>> read_to_end(int fd, const std::string& path);

}  // namespace limbo::plugin
