// SPDX-License-Identifier: GPL-2.0-only
// The flow's log steps (lib/log.h): give the log its clock once the
// TSC frequency is known, and, after verification, link the log node into the
// next kernel's setup_data chain. Both optional: a machine without a log
// (`log_clock`, `log_node`) skips them.
#pragma once

#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/format.h"
#include "lib/log.h"

namespace limbo::flow {

template <class M>
concept HasLog = requires(M& machine) { machine.log_node(); };

template <class M>
void set_log_clock(M& machine, uint64_t hz) {
  if constexpr (requires { machine.log_clock(hz); }) machine.log_clock(hz);
}

// "log: linked ..." names the node, what it follows and its room; every line
// up to the jump still goes into it (the capture kernel reads `used`).
template <class M, class Console>
void link_log(M& machine, Console& con, uint64_t boot_params, const abi::Sha256Region* regions) {
  if constexpr (HasLog<M>) {
    abi::LogNode* node = machine.log_node();
    if (node == nullptr) return;
    const uint64_t address = reinterpret_cast<uintptr_t>(node);
    const log::LinkResult r = log::link_node(machine, boot_params, regions, abi::kSha256RegionCount, node->setup, address);
    if (r.status == log::LinkStatus::kLinked) {
      fmt::println(con, "log: setup_data node type 0x", fmt::hex(abi::kSetupDataLimboLog), " at 0x", fmt::hex(address),
                   ", ", fmt::dec(abi::kLogCapacity), " bytes of text, linked after ", fmt::dec(r.nodes),
                   r.nodes == 1 ? " node" : " nodes");
    } else if (r.status == log::LinkStatus::kOutside) {
      fmt::println(con, "log: not linked: ", log::link_status_text(r.status), " (0x", fmt::hex(r.bad_node), ")");
    } else {
      fmt::println(con, "log: not linked: ", log::link_status_text(r.status));
    }
  }
}

}  // namespace limbo::flow
