// SPDX-License-Identifier: GPL-2.0-only
// The environment between limbo-kexec and the plugin it preloads into kexec,
// in one place: every LIMBO_* variable either side reads or sets
// (kexec-plugin/README.md describes them for users).
#pragma once

#include <string>

namespace limbo::plugin::env {

// Set by limbo-kexec for the plugin (a bare `LD_PRELOAD=... kexec` may set
// them too).
inline constexpr char kPurgatory[] = "LIMBO_PURGATORY";        // path of purgatory.ro
inline constexpr char kStatusFd[] = "LIMBO_STATUS_FD";         // the status pipe's write end
inline constexpr char kOnCorruption[] = "LIMBO_ON_CORRUPTION";  // halt | reboot
inline constexpr char kOnFault[] = "LIMBO_ON_FAULT";           // reboot | halt
inline constexpr char kDryRun[] = "LIMBO_DRY_RUN";             // 1: decode and build, no kexec_load
inline constexpr char kFallback[] = "LIMBO_FALLBACK";          // stock | none
inline constexpr char kVerbose[] = "LIMBO_VERBOSE";            // 1: --verbose
inline constexpr char kSha256[] = "LIMBO_SHA256";              // portable: no SHA-NI on the host

// PCIe quiesce (pcie/settings.h reads and writes them).
inline constexpr char kPcieMode[] = "LIMBO_PCIE";                                  // reset | off
inline constexpr char kPcieOrder[] = "LIMBO_PCIE_ORDER";                           // serial | overlap
inline constexpr char kPcieExclude[] = "LIMBO_PCIE_EXCLUDE";                       // SSSS:BB:DD.F|VVVV:DDDD|class:CC..[,...]
inline constexpr char kPcieInclude[] = "LIMBO_PCIE_INCLUDE";                       // the same syntax
inline constexpr char kPcieIncludeDisplay[] = "LIMBO_PCIE_INCLUDE_DISPLAY";        // 1 | 0
inline constexpr char kPcieSettleMs[] = "LIMBO_PCIE_SETTLE_MS";
inline constexpr char kPcieReadyTimeoutMs[] = "LIMBO_PCIE_READY_TIMEOUT_MS";

// TEST-ONLY knobs: what the host tests and the QEMU scenarios set to put the
// plugin on a fake system or to damage a load on purpose. Nothing in a
// production load sets them.
inline constexpr char kTestCorruptDigest[] = "LIMBO_TEST_CORRUPT_DIGEST";  // 1: --test-corrupt-digest
inline constexpr char kTestDamageSegment[] = "LIMBO_TEST_DAMAGE_SEGMENT";  // --test-damage-segment's value
inline constexpr char kTestFullHash[] = "LIMBO_TEST_FULL_HASH";            // 1: no per-segment checks
inline constexpr char kTestFadt[] = "LIMBO_TEST_FADT";                     // instead of /sys/firmware/acpi/tables/FACP
inline constexpr char kTestMcfg[] = "LIMBO_TEST_MCFG";                     // instead of /sys/firmware/acpi/tables/MCFG
inline constexpr char kTestIomem[] = "LIMBO_TEST_IOMEM";                   // instead of /proc/iomem
inline constexpr char kTestSysfs[] = "LIMBO_TEST_SYSFS";                   // instead of /sys
inline constexpr char kTestProc[] = "LIMBO_TEST_PROC";                     // instead of /proc
inline constexpr char kTestRunDir[] = "LIMBO_TEST_RUN_DIR";                // instead of /run/limbo

}  // namespace limbo::plugin::env

namespace limbo::plugin {

// TEST-ONLY: the knobs that damage a load on purpose, as the plugin reads
// them (LIMBO_TEST_*) and limbo-kexec takes them (--test-*). The path
// overrides (LIMBO_TEST_MCFG and the like) stay with the paths they replace
// (pcie::SystemPaths, StatePaths, Settings).
struct TestKnobs {
  bool corrupt_digest = false;  // LIMBO_TEST_CORRUPT_DIGEST=1, --test-corrupt-digest: flip one bit of Limbo's digest
  bool full_hash = false;       // LIMBO_TEST_FULL_HASH=1: no per-segment checks
  std::string damage_segment;   // LIMBO_TEST_DAMAGE_SEGMENT, --test-damage-segment=ROLE[:OFFSET]
};

}  // namespace limbo::plugin
