// SPDX-License-Identifier: GPL-2.0-only
// limbo-kexec's command line: its own options, picked out from among kexec's,
// and what kexec will be asked to do. Pure parsing, testable on the host.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/kexec_options.h"
#include "common/environment.h"
#include "common/result.h"
#include "pcie/settings.h"

namespace limbo::plugin::cli {

// Exit codes scripts can rely on (also in --help).
inline constexpr int kExitOk = 0;          // loaded through Limbo, or a passed-through unload
inline constexpr int kExitFailed = 1;      // kexec or Limbo failed
inline constexpr int kExitUsage = 2;       // bad command line
inline constexpr int kExitNotFound = 3;    // kexec, the plugin or purgatory.ro not found
// --report only: Limbo's report showed a problem (verify not ok, a failed
// PCIe reset) is kExitFailed; no report at all, or one that cannot be read:
inline constexpr int kExitNoReport = 4;
// This kernel refuses kexec_load (lockdown, kernel.kexec_load_disabled,
// Secure Boot): refused before kexec runs; the message names the stock
// command that works (kexec -s ...).
inline constexpr int kExitKexecLoadUnavailable = 5;
// --status: 0 loaded through Limbo, and
inline constexpr int kExitStatusStock = 6;       // loaded stock, after a refusal (the reason is printed)
inline constexpr int kExitStatusNotLoaded = 7;   // no crash kernel loaded
inline constexpr int kExitStatusUnknown = 8;     // loaded, but no record of that load (a kexec without the plugin)

struct Arguments {
  std::string purgatory;          // --purgatory=FILE (empty: compiled-in default)
  std::string kexec;              // --kexec=PATH (empty: /sbin/kexec, then /usr/sbin/kexec)
  bool dry_run = false;           // --dry-run
  bool verbose = false;           // --verbose
  bool plan = false;              // --plan: print the PCIe reset plan of this system, load nothing
  pcie::PcieOptions pcie;         // --pcie=, --pcie-exclude=, --pcie-include-display, --pcie-*-ms=
  bool help = false;
  bool version = false;
  std::vector<std::string> kexec_args;  // everything else, in order, for kexec
  // What kexec's main() will do with kexec_args (cli/kexec_options.h), and
  // its `load` alone: only a load must go through Limbo.
  KexecCommand kexec_command;
  bool expects_load = true;
  // --fallback=stock|none: what the plugin does with a load it refuses
  // (LIMBO_FALLBACK; limbo-kexec's default none: nothing loaded, exit 1).
  std::string fallback;
  bool status = false;            // --status: what the crash kernel slot holds, and through what
  // Verification.
  std::string on_fault;           // --on-fault=reboot|halt (empty: the plugin's default, reboot)
  std::string on_corruption;      // --on-corruption=halt|reboot (empty: the plugin's default, halt)
  TestKnobs test;                 // --test-corrupt-digest, --test-damage-segment=ROLE[:OFFSET] (TEST-ONLY)
  // --report: read Limbo's report from /proc/cmdline (--report=FILE: from
  // FILE; --cmdline=STRING: from STRING), print it in words, load nothing.
  bool report = false;
  std::string report_file;        // --report=FILE
  std::optional<std::string> report_cmdline;  // --cmdline=STRING (implies --report)
  // The purgatory's log node, from /sys/kernel/boot_params (or
  // --log=FILE, a saved copy of its data), beside the command-line report.
  bool report_json = false;       // --json: one JSON object instead of words
  std::string report_log;         // --log=FILE
};

// A usage error (exit kExitUsage) is the first of: an option of limbo-kexec's
// own with a bad value, what kexec's getopt would refuse (read_arguments);
// then a command line that reads well but that limbo-kexec refuses:
// kexec_file_load, a load that would reboot into the kernel at once, options
// that do not go together (check_arguments). parse_arguments does both.
Result<Arguments> read_arguments(const std::vector<std::string>& argv);
Status check_arguments(const Arguments& args);
Result<Arguments> parse_arguments(const std::vector<std::string>& argv);

std::string usage_text();

}  // namespace limbo::plugin::cli
