// SPDX-License-Identifier: GPL-2.0-only
// The user's PCIe quiesce settings (limbo-kexec --pcie*, or the LIMBO_PCIE*
// environment the plugin reads), their validation, and the fill of the
// configuration block's PcieSettings from them and the system's topology.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "abi/limbo_abi.h"
#include "common/result.h"
#include "lib/pcie/registers.h"

namespace limbo::plugin::pcie {

// The bounds of --pcie-settle-ms and --pcie-ready-timeout-ms, from the core's
// spec timings (lib/pcie/registers.h). The settle time defaults to the
// spec's 100 ms after a reset (PCIe r6.0 §6.6.1), which is also its minimum:
// less would break the spec. Linux's longest reset wait
// (PCIE_RESET_READY_POLL_MS, 60 s) caps both waits, so that the switch
// window stays bounded whatever the user types; a device silent after
// Linux's PCI_RESET_WAIT (1 s) is given up on by default.
inline constexpr uint32_t kDefaultSettleMs = limbo::pcie::kResetToConfigRequestMs;
inline constexpr uint32_t kMinSettleMs = limbo::pcie::kResetToConfigRequestMs;
inline constexpr uint32_t kMaxSettleMs = limbo::pcie::kLinuxResetReadyPollMaxMs;
inline constexpr uint32_t kDefaultReadyTimeoutMs = limbo::pcie::kLinuxResetWaitMs;
inline constexpr uint32_t kMinReadyTimeoutMs = 1;  // a device must get some time to answer
inline constexpr uint32_t kMaxReadyTimeoutMs = limbo::pcie::kLinuxResetReadyPollMaxMs;

struct PcieOptions {
  abi::PcieMode mode = abi::PcieMode::kReset;
  // Verify then reset (serial, the default), or reset first and
  // verify during the settle time (overlap).
  abi::PcieOrder order = abi::PcieOrder::kSerial;
  bool include_display = false;
  uint32_t settle_ms = kDefaultSettleMs;
  uint32_t ready_timeout_ms = kDefaultReadyTimeoutMs;
  std::vector<abi::PciAddress> excluded;  // sorted, no duplicates, at most abi::kMaxExcludedFunctions
  // Exclusions by Vendor/Device ID or class, and every include, in
  // the order given (exclusions first); at most abi::kMaxPcieRules.
  std::vector<abi::PcieRule> rules;
};

// What one --pcie-exclude or --pcie-include list says: for exclusions,
// addresses go to `addresses` (PcieSettings::excluded) and the rest to
// `rules`; for includes, everything is a rule.
struct Selection {
  std::vector<abi::PciAddress> addresses;
  std::vector<abi::PcieRule> rules;
};

// Each parser checks one value; the message names the rule, not the option,
// so that limbo-kexec and the plugin can each prefix their own name.
Result<abi::PcieMode> parse_mode(std::string_view text);                    // "reset" | "off"
Result<abi::PcieOrder> parse_order(std::string_view text);                  // "serial" | "overlap"
const char* order_name(abi::PcieOrder order);                               // "serial" | "overlap"
Result<std::vector<abi::PciAddress>> parse_excluded(std::string_view text);  // "SSSS:BB:DD.F[,...]"
// Items "SSSS:BB:DD.F" (or "BB:DD.F"), "VVVV:DDDD", "VVVV:*", "class:CC",
// "class:CCSS", "class:CCSSPP", comma-separated.
Result<Selection> parse_selection(std::string_view text, abi::PcieRuleAction action);
// Adds `more` to `options` (duplicates collapse), within the block's room.
Result<bool> add_selection(PcieOptions& options, const Selection& more);
// A rule as the user writes it: "8086:10d3", "8086:*", "class:0108", "0000:01:00.0".
std::string format_rule(const abi::PcieRule& rule);
Result<uint32_t> parse_settle_ms(std::string_view text);                    // decimal, 100..60000
Result<uint32_t> parse_ready_timeout_ms(std::string_view text);             // decimal, 1..60000

// The LIMBO_PCIE* variables of common/environment.h. Unset or empty variables
// keep the defaults; a bad value fails with
// "LIMBO_PCIE_SETTLE_MS=5: ...". `lookup` is getenv in the plugin.
using EnvLookup = std::function<const char*(const char*)>;
Result<PcieOptions> options_from_environment(const EnvLookup& lookup);

// The variables that carry `options` to the plugin (every one, explicitly, so
// that nothing inherited from the caller's environment leaks in).
std::vector<std::pair<std::string, std::string>> options_to_environment(const PcieOptions& options);

// The ECAM windows the running system describes, and where they were read.
struct EcamWindows {
  std::vector<abi::EcamWindow> windows;  // at least one
  std::string source;                    // "MCFG" or the /proc/iomem path
};

// What the running system says about PCIe (pcie/system.h reads it): each
// part, or why there is none (each source's error).
struct Topology {
  Result<EcamWindows> ecam = fail("not read");
  Result<std::vector<abi::PciAddress>> root_buses = fail("not read");  // from sysfs, sorted, at least one
};

struct FilledSettings {
  abi::PcieSettings settings{};
  abi::PcieRules rules{};             // the configuration block's pcie_rules
  std::vector<std::string> warnings;  // one line each, for stderr, without "limbo: "
  bool quiesce_disabled = false;      // mode reset was asked for, but nothing can be reset
};

// The configuration block's PCIe part. Mode off: all zero ("not provided").
// Mode reset with no ECAM window: all zero too, quiesce_disabled set and a
// warning, so that the capture kernel still loads (a kdump that loads without
// the reset is better than none). Root buses outside every window are dropped
// with a warning; with no root bus from sysfs, each window's start bus is used;
// more than abi::kMaxRootBuses are cut with a warning.
FilledSettings fill_settings(const PcieOptions& options, const Topology& topology);

// What the plan view runs the policy with: fill_settings' result as if
// windows were known (with none, every root bus from sysfs is kept, since the
// plan reads sysfs, not ECAM), and with mode off the settings kept but the
// mode off, so that the tree shows what the purgatory would skip.
FilledSettings plan_settings(const PcieOptions& options, const Topology& topology);

// One line per fact of `settings`, for --verbose: windows, root buses, times,
// exclusions.
std::vector<std::string> describe_settings(const abi::PcieSettings& settings, const abi::PcieRules* rules = nullptr);

}  // namespace limbo::plugin::pcie
