// SPDX-License-Identifier: GPL-2.0-only
// Reads what the running system says about PCIe: the ECAM windows (MCFG,
// else /proc/iomem) and the root buses (sysfs). Paths are parameters so that
// tests can point them at a fake tree.
#pragma once

#include <string>
#include <vector>

#include "abi/limbo_abi.h"
#include "common/result.h"
#include "pcie/settings.h"

namespace limbo::plugin::pcie {

struct SystemPaths {
  std::string mcfg = "/sys/firmware/acpi/tables/MCFG";  // LIMBO_TEST_MCFG (TEST-ONLY)
  std::string iomem = "/proc/iomem";                    // LIMBO_TEST_IOMEM (TEST-ONLY)
  std::string sysfs = "/sys";                           // LIMBO_TEST_SYSFS (TEST-ONLY)

  // The defaults, each replaced by its TEST-ONLY variable when set.
  static SystemPaths from_environment();
};

// The root buses under `sysfs_root`: every host bridge directory
// devices/pciSSSS:BB, and the bus of every bus/pci/devices/* entry whose
// parent (after resolving the link) is such a directory. Sorted, no
// duplicates, not capped. Fails when neither directory can be read.
Result<std::vector<abi::PciAddress>> find_root_buses(const std::string& sysfs_root);

// MCFG when it reads and parses (root only: the file is mode 0400), else the
// /proc/iomem windows; the problems of both are kept for the warning.
Topology read_topology(const SystemPaths& paths);

}  // namespace limbo::plugin::pcie
