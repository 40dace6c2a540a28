// SPDX-License-Identifier: GPL-2.0-only
// What the machine can load and what it has loaded ("never worse
// than stock"): whether this kernel accepts kexec_load at all (lockdown,
// kernel.kexec_load_disabled, EFI Secure Boot), and the record the plugin
// keeps of the crash kernel it got the kernel to accept, through Limbo or
// stock after a refusal, which `limbo-kexec --status` reads back.
#pragma once

#include <string>

namespace limbo::plugin {

// Where the probes and the record look; tests point them elsewhere.
struct StatePaths {
  std::string sysfs = "/sys";        // LIMBO_TEST_SYSFS
  std::string proc = "/proc";        // LIMBO_TEST_PROC (TEST ONLY)
  std::string run_dir = "/run/limbo";  // LIMBO_TEST_RUN_DIR (TEST ONLY): the record's directory

  static StatePaths from_environment();
  std::string record_file() const { return run_dir + "/crash-kernel"; }
};

// Empty when kexec_load can work here; else why not, in words, e.g.
// "kernel lockdown is 'integrity' (/sys/kernel/security/lockdown)".
// Checked, in order: the lockdown LSM (anything but [none] refuses
// kexec_load: kexec_load_check in kernel/kexec.c), the sysctl
// kernel.kexec_load_disabled, the EFI SecureBoot variable (distribution
// kernels lock down under Secure Boot; read too in case securityfs is not
// mounted).
std::string kexec_load_unavailable(const StatePaths& paths);

// The record of the last crash load the plugin saw the kernel accept.
enum class LoadedThrough { kLimbo, kStock };

// Written after the kernel accepted a crash load (never in a dry run), in
// place (a temporary file renamed over the record). No allocation: called
// on the exception boundary's path. Returns 0 or an errno.
int write_load_record(const char* record_file, const char* run_dir, LoadedThrough through, const char* reason) noexcept;
// After an unload through the plugin, or a crash load the kernel refused
// (the kernel frees the old crash image before it loads a new one).
void remove_load_record(const char* record_file) noexcept;

// --status: the crash kernel slot, from /sys/kernel/kexec_crash_loaded and
// the record (which must be of this boot).
enum class CrashSlot { kLimbo, kStockAfterRefusal, kNotLoaded, kLoadedWithoutRecord };
struct CrashStatus {
  CrashSlot slot = CrashSlot::kNotLoaded;
  std::string reason;  // kStockAfterRefusal: the refusal; kLoadedWithoutRecord: why no record applies
  std::string line;    // the one line limbo-kexec --status prints
};
CrashStatus read_crash_status(const StatePaths& paths);

}  // namespace limbo::plugin
