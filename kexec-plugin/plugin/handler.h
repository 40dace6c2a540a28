// SPDX-License-Identifier: GPL-2.0-only
// What the preloaded library does with one kexec_load call: everything but
// the system call itself, which comes in as a function so that host tests can
// drive the whole path with a recording fake instead of the kernel.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include <linux/kexec.h>

#include "common/environment.h"
#include "common/result.h"
#include "pcie/settings.h"

namespace limbo::plugin {

// What happens to a load Limbo refuses. No allocation: read on
// the exception boundary's path too.
struct FallbackPolicy {
  bool stock = false;       // LIMBO_FALLBACK=stock: the load goes to the kernel unchanged (stock purgatory)
  bool bad_value = false;   // neither stock nor none: every load refused, and falls back to stock
  char value[32] = "";
  char run_dir[256] = "/run/limbo";             // LIMBO_TEST_RUN_DIR (TEST ONLY)
  char record_file[300] = "/run/limbo/crash-kernel";  // plugin/load_state.h

  static FallbackPolicy from_environment() noexcept;
};

// The environment interface fixed with the rest of Limbo (see kexec-plugin/README.md).
struct Settings {
  std::string purgatory_path;          // LIMBO_PURGATORY, default LIMBO_PURGATORY_PATH
  bool dry_run = false;                // LIMBO_DRY_RUN=1
  bool verbose = false;                // LIMBO_VERBOSE=1
  int status_fd = -1;                  // LIMBO_STATUS_FD
  std::string iomem_path = "/proc/iomem";   // LIMBO_TEST_IOMEM (TEST-ONLY)
  std::string kexec_binary = "/proc/self/exe";  // where the stock purgatory is embedded
  uint32_t on_corruption = 0;          // LIMBO_ON_CORRUPTION=halt|reboot (abi::OnCorruption)
  uint32_t on_fault = 0;               // LIMBO_ON_FAULT=reboot|halt (abi::OnFault; default reboot)
  Status verify = Ok{};                // a bad LIMBO_ON_CORRUPTION or LIMBO_ON_FAULT: every load is refused with it
  std::string fadt_path = "/sys/firmware/acpi/tables/FACP";  // LIMBO_TEST_FADT (TEST-ONLY)
  // LIMBO_PCIE, LIMBO_PCIE_EXCLUDE, ... (pcie/settings.h); a bad value: every load is refused with it.
  Result<pcie::PcieOptions> pcie = pcie::PcieOptions{};
  std::string mcfg_path = "/sys/firmware/acpi/tables/MCFG";  // LIMBO_TEST_MCFG (TEST-ONLY)
  std::string sysfs_root = "/sys";     // LIMBO_TEST_SYSFS (TEST-ONLY)
  FallbackPolicy fallback;             // LIMBO_FALLBACK=stock|none (default none), the load record
  TestKnobs test;                      // LIMBO_TEST_CORRUPT_DIGEST, LIMBO_TEST_FULL_HASH, LIMBO_TEST_DAMAGE_SEGMENT

  static Settings from_environment();
};

using KexecLoad = long (*)(unsigned long entry, unsigned long nr_segments, const kexec_segment* segments,
                           unsigned long flags);

// Returns what syscall() returns: 0, or -1 with errno set. Never throws.
// A refused load prints one line on `log`: with fallback none
// `limbo: error: <cause>` and, unless the kernel itself refused Limbo's
// segments, `load` is never called (a crash kernel already loaded stays);
// with fallback stock `limbo: FALLBACK: Limbo NOT loaded (<cause>); ...`
// and `load` gets kexec-tools' own arguments unchanged. A crash load the
// kernel accepted is recorded (plugin/load_state.h).
long handle_kexec_load(const Settings& settings, unsigned long entry, unsigned long nr_segments,
                       const kexec_segment* segments, unsigned long flags, KexecLoad load, FILE* log) noexcept;

// The refusal or the stock fallback, on its own (the interposer uses it when
// it fails before the handler runs). `kernel_freed_crash_kernel`: the kernel
// already saw Limbo's segments for a crash load.
long refuse_or_fall_back(const FallbackPolicy& policy, bool dry_run, int status_fd, const char* reason, int error,
                         bool kernel_freed_crash_kernel, unsigned long entry, unsigned long nr_segments,
                         const kexec_segment* segments, unsigned long flags, KexecLoad load, FILE* log) noexcept;

}  // namespace limbo::plugin
