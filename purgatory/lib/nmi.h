// SPDX-License-Identifier: GPL-2.0-only
// What the flow learns of the NMIs the purgatory received and returned from
// (arch/x86_64: entry.S's limbo_exception_nmi and main.cc's limbo_nmi count
// them; the flow prints the tally before its report).
#pragma once

#include <stdint.h>

namespace limbo::flow {

struct NmiRecord {
  uint32_t count = 0;          // saturates at UINT32_MAX
  uint64_t first_rip = 0;      // where the first one interrupted
  bool first_printed = false;  // the handler printed its own line then
};

}  // namespace limbo::flow
