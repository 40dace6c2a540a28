// SPDX-License-Identifier: GPL-2.0-only
// The plan view: the purgatory's own discovery and policy
// (purgatory/lib/pcie/discovery.h, policy.h, compiled for the host) run over
// the live system's config space through sysfs, printed as a tree like
// `lspci -tv` with every function's decision and reason. Reads only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "abi/limbo_abi.h"
#include "pcie/settings.h"
#include "pcie/system.h"

namespace limbo::plugin::pcie {

struct PlanSummary {
  std::string text;                 // the tree and the totals, lines without a prefix
  std::vector<std::string> notes;   // what makes the plan less than certain, one line each
  uint32_t ports = 0;               // ports whose secondary bus would be reset
  uint32_t endpoints = 0;           // endpoints those resets reach
  uint32_t function_resets = 0;     // functions reset by FLR or their class's reset
  uint32_t stopped = 0;             // functions only stopped (Bus Master and MSI off)
  uint32_t skipped = 0;             // functions deliberately left alone
  uint32_t functions = 0;           // functions discovered
  uint32_t config_reads = 0;        // reads discovery issued
  size_t truncated_config = 0;      // functions sysfs showed only 64 bytes of (not root)
  bool discovery_truncated = false; // more functions than the core's table holds
};

// Discovery from `settings.root_buses` (or each window's first bus), policy
// with `settings`, over the config files under `sysfs_root`/bus/pci/devices.
// `settings` with no ECAM window: every bus counts as reachable.
// `rules`: the configuration block's rules by identity, or none.
PlanSummary make_plan(const std::string& sysfs_root, const abi::PcieSettings& settings,
                      const abi::PcieRules* rules = nullptr);

}  // namespace limbo::plugin::pcie
