// SPDX-License-Identifier: GPL-2.0-only
// The one reset policy, shared by the purgatory and the plan view: which ports
// get a secondary bus reset, and for every function the decision with its
// reason. Reset the endpoints below root ports and switch downstream ports
// whose secondary bus holds only endpoints; leave a port alone when anything
// below it is a display device (unless asked), conventional PCI, a bridge,
// excluded, or unknown; never reset a switch upstream port (its bus numbers
// and windows would be lost: docs/pcie.md); RCiEPs have no port.
// Every other DMA-capable function gets the strongest method that applies
// (in the order of Linux's pci_reset_function): Function Level
// Reset when advertised, else its class's own reset (NVMe, virtio), else Bus
// Master Enable and MSI/MSI-X cleared ("stop").
// Devices Linux knows must not see a bus reset or an FLR
// (lib/pcie/known_devices.h) keep their port, or their FLR, from being used;
// the operator's rules by address, Vendor/Device ID or class exclude
// functions, or include them past that table; each decision names the rule.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/pcie/config_space.h"
#include "lib/pcie/discovery.h"
#include "lib/pcie/known_devices.h"
#include "lib/pcie/registers.h"

namespace limbo::pcie {

inline constexpr size_t kMaxResetPorts = 128;
inline constexpr size_t kMaxResetEndpoints = 256;
// Functions reset by FLR or a class reset (methods 2 and 3).
inline constexpr size_t kMaxFunctionResets = 256;

// The settings as the core uses them: abi::PcieSettings with defaults for
// "not provided" (0) and Linux's limits applied.
struct Settings {
  bool enabled = false;
  bool include_display = false;
  uint32_t settle_ms = kResetToConfigRequestMs;
  uint32_t ready_timeout_ms = kLinuxResetWaitMs;
  const abi::PciAddress* excluded = nullptr;
  size_t excluded_count = 0;
  const abi::PcieRule* rules = nullptr;  // by identity, and every include
  size_t rule_count = 0;
};

// 0 means the default (PCIe r6.0 §6.6.1's 100 ms; Linux's 1 s); both are
// capped at Linux's longest wait, 60 s, so a corrupt block cannot park the
// CPU for hours.
[[nodiscard]] constexpr Settings settings_from_abi(const abi::PcieSettings& s, const abi::PcieRules* rules = nullptr) {
  Settings out;
  out.enabled = s.mode == static_cast<uint32_t>(abi::PcieMode::kReset);
  out.include_display = (s.flags & abi::kPcieFlagIncludeDisplay) != 0;
  out.settle_ms = s.settle_ms == 0 ? kResetToConfigRequestMs : s.settle_ms;
  if (out.settle_ms > kLinuxResetReadyPollMaxMs) out.settle_ms = kLinuxResetReadyPollMaxMs;
  out.ready_timeout_ms = s.ready_timeout_ms == 0 ? kLinuxResetWaitMs : s.ready_timeout_ms;
  if (out.ready_timeout_ms > kLinuxResetReadyPollMaxMs) out.ready_timeout_ms = kLinuxResetReadyPollMaxMs;
  out.excluded = s.excluded;
  out.excluded_count = s.excluded_count > abi::kMaxExcludedFunctions ? abi::kMaxExcludedFunctions : s.excluded_count;
  if (rules != nullptr) {
    out.rules = rules->rules;
    out.rule_count = rules->count > abi::kMaxPcieRules ? abi::kMaxPcieRules : rules->count;
  }
  return out;
}

enum class Action : uint8_t {
  kReset,  // a port: its secondary bus is reset; a function: reset by method 1, 2 or 3
  kSkip,   // an endpoint (or any non-bridge function) deliberately left alone
  kLeave,  // a port or bridge that is not reset (not counted as a skip)
  kStop,   // a function only stopped (method 4): Bus Master and MSI/MSI-X off
};

// How a function is quiesced, strongest first.
enum class Method : uint8_t {
  kNone,
  kBusReset,     // 1: secondary bus reset of the port above (PCIe r6.0 §6.6.1)
  kFlr,          // 2: Function Level Reset, PCIe Device Control (PCIe r6.0 §6.6.2)
  kAfFlr,        // 2: Function Level Reset, Advanced Features capability
  kNvmeReset,    // 3: NVMe controller reset (NVMe Base r2.0 §3.7.2)
  kVirtioReset,  // 3: virtio device reset (virtio 1.1 §2.1, §4.1.4.3.2)
  kBusMasterOff, // 4: Bus Master Enable, MSI and MSI-X enables cleared
};

enum class Reason : uint8_t {
  // kReset
  kPortSelected,         // port: every function below is an endpoint
  kBelowSelectedPort,    // endpoint: its port is reset
  // kSkip, the function itself
  kModeOff,              // --pcie=off
  kDisplay,              // class 0x03
  kConventional,         // no PCI Express capability
  kExcluded,             // --pcie-exclude
  kRcIntegrated,         // root complex integrated endpoint: no port above
  kNotReady,             // answered Retry Status or an unknown type at discovery
  kNoPort,               // not below a root or switch downstream port
  kSharesPort,           // its port is left alone because of another function
  // kLeave, ports and bridges
  kSwitchUpstreamPort,   // never reset: the switch's bus numbers and windows would be lost
  kNotAPort,             // a bridge that is not a root or downstream port
  kBridgeBelow,
  kDisplayBelow,
  kConventionalBelow,
  kExcludedBelow,
  kNotReadyBelow,
  kEmpty,                // nothing below
  kBusNotScanned,        // the bus below was not (fully) discovered
  kCapacity,             // more ports or endpoints than the reset tables hold
  kBusRangeShared,       // a function of another parent lies on a bus of its secondary..subordinate range
  // kSkip
  kNoDma,                // base class 06h (host, ISA, other bridges): no bus master to stop
  // The function (kSkip until a method applies) or the port
  // itself (kLeave) is in the built-in table as not surviving a bus reset.
  kKnownNoBusReset,
  kKnownNoBusResetBelow, // kLeave: a function below is
};

// Which operator rule decided a function: an excluded address
// (PcieSettings::excluded) or a rule (PcieRules), by index.
enum class RuleSource : uint8_t {
  kNone,
  kExcludedAddress,
  kRule,
};

struct Decision {
  Action action;
  Reason reason;     // for methods 2-4: why no bus reset (no port, shares its port, conventional...)
  uint16_t related;  // endpoint: its port; port: the function that decided it; else kNoFunction
  Method method;     // kNone for kSkip and kLeave
  RuleSource rule_source;  // the exclusion that decided it, or the include that overrode `known`
  uint8_t rule;            // index in its source
  uint8_t known;     // the function's entry in kKnownDevices (kNotKnown: none, or included past it);
                     // a port left for a function below: that function's entry
};

// Plain data, filled by decide().
struct Plan {
  Decision decisions[kMaxFunctions];
  uint16_t ports[kMaxResetPorts];          // table indices of the ports to reset
  uint16_t endpoints[kMaxResetEndpoints];  // table indices of the endpoints they reset
  uint16_t function_resets[kMaxFunctionResets];  // table indices reset by methods 2 and 3
  uint16_t port_count;
  uint16_t endpoint_count;
  uint16_t function_reset_count;
  uint16_t skip_count;                     // functions with Action::kSkip
  uint16_t stop_count;                     // functions with Action::kStop (method 4)
  // The settle times, lengthened for known slow devices.
  uint32_t bus_reset_settle_ms;            // clear of Secondary Bus Reset to the first config request
  uint32_t flr_settle_ms;                  // FLR to the first config request (PCIe r6.0 §6.6.2: 100 ms)
  // The rules decide() ran with, for printing which one decided.
  const abi::PciAddress* excluded;
  const abi::PcieRule* rules;
};

[[nodiscard]] constexpr bool is_resettable_port(PortType t) {
  return t == PortType::kRootPort || t == PortType::kSwitchDownstreamPort;
}
[[nodiscard]] constexpr bool is_endpoint(PortType t) {
  return t == PortType::kEndpoint || t == PortType::kLegacyEndpoint;
}

[[nodiscard]] constexpr uint32_t address_value(abi::PciAddress a) {
  return uint32_t{a.segment} << 16 | uint32_t{a.bus} << 8 | a.devfn;
}

[[nodiscard]] constexpr bool rule_matches(const abi::PcieRule& r, const Function& f) {
  uint32_t value = 0;
  switch (static_cast<abi::PcieRuleKind>(r.kind)) {
    case abi::PcieRuleKind::kAddress: value = address_value(f.address); break;
    case abi::PcieRuleKind::kId: value = uint32_t{f.device_id} << 16 | f.vendor_id; break;
    case abi::PcieRuleKind::kClass: value = f.class_code; break;
    default: return false;  // an unknown kind matches nothing
  }
  return (value & r.mask) == r.value;
}

struct RuleMatch {
  RuleSource source;
  uint8_t index;
  [[nodiscard]] constexpr bool found() const { return source != RuleSource::kNone; }
};

// The first exclusion that matches `f`: its address, then the rules in order.
// A function not yet identified (Retry Status at discovery) matches only by
// address.
[[nodiscard]] inline RuleMatch find_exclusion(const Settings& s, const Function& f) {
  for (size_t i = 0; i < s.excluded_count; ++i) {
    if (s.excluded[i] == f.address) return RuleMatch{RuleSource::kExcludedAddress, static_cast<uint8_t>(i)};
  }
  for (size_t i = 0; i < s.rule_count; ++i) {
    const abi::PcieRule& r = s.rules[i];
    if (r.action != static_cast<uint8_t>(abi::PcieRuleAction::kExclude)) continue;
    if (f.type == PortType::kUnknown && r.kind != static_cast<uint8_t>(abi::PcieRuleKind::kAddress)) continue;
    if (rule_matches(r, f)) return RuleMatch{RuleSource::kRule, static_cast<uint8_t>(i)};
  }
  return RuleMatch{RuleSource::kNone, 0};
}

[[nodiscard]] inline RuleMatch find_inclusion(const Settings& s, const Function& f) {
  for (size_t i = 0; i < s.rule_count; ++i) {
    const abi::PcieRule& r = s.rules[i];
    if (r.action == static_cast<uint8_t>(abi::PcieRuleAction::kInclude) && rule_matches(r, f)) {
      return RuleMatch{RuleSource::kRule, static_cast<uint8_t>(i)};
    }
  }
  return RuleMatch{RuleSource::kNone, 0};
}

[[nodiscard]] inline bool is_excluded(const Settings& s, const Function& f) { return find_exclusion(s, f).found(); }

namespace detail {

// How a function below a port weighs on the port's decision; a higher rank
// wins, so the reported reason is the strongest one.
// `port_included`: an include rule names the port itself, which overrides the
// table for the functions below it too.
[[nodiscard]] inline Reason blocking_reason(const Settings& s, const Function& f, const Decision& own,
                                            bool port_included) {
  if (f.is_bridge()) return Reason::kBridgeBelow;
  if (f.type == PortType::kConventional) return Reason::kConventionalBelow;
  if (f.type == PortType::kUnknown || !is_endpoint(f.type)) return Reason::kNotReadyBelow;
  if (f.base_class() == kBaseClassDisplay && !s.include_display) return Reason::kDisplayBelow;
  if (own.reason == Reason::kKnownNoBusReset && !port_included) return Reason::kKnownNoBusResetBelow;
  if (own.reason == Reason::kExcluded) return Reason::kExcludedBelow;
  return Reason::kPortSelected;
}

[[nodiscard]] constexpr int rank(Reason r) {
  switch (r) {
    case Reason::kBusNotScanned: return 8;
    case Reason::kBridgeBelow: return 7;
    case Reason::kConventionalBelow: return 6;
    case Reason::kNotReadyBelow: return 5;
    case Reason::kKnownNoBusResetBelow: return 4;
    case Reason::kDisplayBelow: return 3;
    case Reason::kExcludedBelow: return 2;
    default: return 0;
  }
}

// The reasons a function is not reset by its port for which another method
// may still apply (the others: excluded, display, not ready, mode off).
[[nodiscard]] constexpr bool method_applies(Reason r) {
  return r == Reason::kRcIntegrated || r == Reason::kConventional || r == Reason::kNoPort ||
         r == Reason::kSharesPort || r == Reason::kKnownNoBusReset;
}

// FLR first; a class reset only where its registers are reachable. A known
// device whose FLR is broken gets the next method; one Linux disables before
// its FLR gets its class reset first.
[[nodiscard]] constexpr Method strongest_method(const Function& f, uint8_t known) {
  const uint8_t flags = known_flags(known);
  const bool class_reset = f.class_reset != ClassReset::kNone && f.mmio_refusal == MmioRefusal::kNone;
  const Method by_class = f.class_reset == ClassReset::kNvme ? Method::kNvmeReset : Method::kVirtioReset;
  if (class_reset && (flags & kKnownClassResetFirst) != 0) return by_class;
  if ((flags & kKnownNoFlr) == 0) {
    if (f.flr) return Method::kFlr;
    if (f.af_capability != 0) return Method::kAfFlr;
  }
  if (class_reset) return by_class;
  return Method::kBusMasterOff;
}

[[nodiscard]] constexpr uint32_t known_settle_ms(uint8_t known) {
  return known == kNotKnown ? 0 : kKnownDevices[known].settle_ms;
}

}  // namespace detail

// Decides every function of `t`. Linear in the functions: one pass over the
// children of each port, no recursion.
inline void decide(const Topology& t, const Settings& s, Plan& plan) {
  plan.port_count = 0;
  plan.endpoint_count = 0;
  plan.function_reset_count = 0;
  plan.skip_count = 0;
  plan.stop_count = 0;
  plan.bus_reset_settle_ms = s.settle_ms;
  plan.flr_settle_ms = kFlrCompletionMs;
  plan.excluded = s.excluded;
  plan.rules = s.rules;
  const uint16_t n = t.count;

  // 1. Each function on its own.
  for (uint16_t i = 0; i < n; ++i) {
    const Function& f = t.functions[i];
    Decision& d = plan.decisions[i];
    d = Decision{Action::kSkip, Reason::kNoPort, kNoFunction, Method::kNone, RuleSource::kNone, 0, kNotKnown};
    // The built-in table, unless an include rule overrides it (a function
    // not identified at discovery is never in it).
    if (f.type != PortType::kUnknown) d.known = find_known_device(f.vendor_id, f.device_id);
    if (d.known != kNotKnown) {
      const RuleMatch include = find_inclusion(s, f);
      if (include.found()) {
        d.known = kNotKnown;
        d.rule_source = include.source;
        d.rule = include.index;
      }
    }
    const RuleMatch exclusion = find_exclusion(s, f);
    if (exclusion.found()) {
      d.rule_source = exclusion.source;
      d.rule = exclusion.index;
    }
    const bool no_bus_reset = (known_flags(d.known) & kKnownNoBusReset) != 0;
    if (f.is_bridge()) {
      d.action = Action::kLeave;
      if (!s.enabled) {
        d.reason = Reason::kModeOff;
      } else if (f.type == PortType::kSwitchUpstreamPort) {
        d.reason = Reason::kSwitchUpstreamPort;
      } else if (!is_resettable_port(f.type)) {
        d.reason = Reason::kNotAPort;
      } else if (exclusion.found()) {
        d.reason = Reason::kExcluded;
      } else if (no_bus_reset) {
        d.reason = Reason::kKnownNoBusReset;  // the port itself (Linux: "bridge itself is broken")
      } else if (f.bus_state != BusState::kScanned) {
        d.reason = Reason::kBusNotScanned;
      } else {
        d.reason = Reason::kEmpty;  // until a child says otherwise
      }
      continue;
    }
    if (!s.enabled) d.reason = Reason::kModeOff;
    else if (exclusion.found()) d.reason = Reason::kExcluded;
    else if (f.type == PortType::kUnknown) d.reason = Reason::kNotReady;
    else if (f.base_class() == kBaseClassDisplay && !s.include_display) d.reason = Reason::kDisplay;
    else if (f.type == PortType::kConventional) d.reason = Reason::kConventional;
    else if (f.type == PortType::kRcIntegratedEndpoint) d.reason = Reason::kRcIntegrated;
    else if (no_bus_reset && f.parent != kNoFunction && is_resettable_port(t.functions[f.parent].type)) {
      d.reason = Reason::kKnownNoBusReset;  // its port stays (step 2); the next method applies (step 5)
    } else d.reason = Reason::kNoPort;  // settled in step 3 when a resettable port is above
  }
  if (!s.enabled) {
    for (uint16_t i = 0; i < n; ++i) plan.skip_count += plan.decisions[i].action == Action::kSkip;
    return;
  }

  // 2. Each candidate port, from its children: the strongest blocking reason.
  for (uint16_t i = 0; i < n; ++i) {
    const Function& child = t.functions[i];
    if (child.parent == kNoFunction) continue;
    Decision& port = plan.decisions[child.parent];
    if (port.reason != Reason::kEmpty && port.reason != Reason::kPortSelected &&
        detail::rank(port.reason) == 0) {
      continue;  // decided by the port itself (not a port, upstream port, excluded)
    }
    const bool port_included = find_inclusion(s, t.functions[child.parent]).found();
    const Reason r = detail::blocking_reason(s, child, plan.decisions[i], port_included);
    if (port_included && plan.decisions[i].reason == Reason::kKnownNoBusReset) {
      // Reset with its port after all: say which rule let it.
      plan.decisions[i].reason = Reason::kNoPort;
      const RuleMatch include = find_inclusion(s, t.functions[child.parent]);
      plan.decisions[i].rule_source = include.source;
      plan.decisions[i].rule = include.index;
      plan.decisions[i].known = kNotKnown;
    }
    if (port.reason == Reason::kEmpty || detail::rank(r) > detail::rank(port.reason)) {
      port.reason = r;
      port.related = r == Reason::kPortSelected ? kNoFunction : i;
      // The port's line names the child's quirk or rule.
      if (r == Reason::kKnownNoBusResetBelow) port.known = plan.decisions[i].known;
      if (r == Reason::kExcludedBelow) {
        port.rule_source = plan.decisions[i].rule_source;
        port.rule = plan.decisions[i].rule;
      }
    }
  }

  // 3. Select ports (in table order) while the reset tables have room.
  for (uint16_t i = 0; i < n; ++i) {
    Decision& d = plan.decisions[i];
    if (d.reason != Reason::kPortSelected) continue;
    // A Secondary Bus Reset reaches every bus of the port's range. When a
    // function reached through another bridge sits on one of them, the bus
    // numbers are inconsistent (firmware or a corrupt fabric): what the reset
    // would hit is unknown, so the port stays (found by tests/fuzz/pcie_policy_fuzz).
    const Function& port = t.functions[i];
    uint16_t shared = kNoFunction;
    for (uint16_t j = 0; j < n && shared == kNoFunction; ++j) {
      const Function& f = t.functions[j];
      if (f.parent != i && f.address.segment == port.address.segment && f.address.bus >= port.secondary_bus &&
          f.address.bus <= port.subordinate_bus) {
        shared = j;
      }
    }
    if (shared != kNoFunction) {
      d.reason = Reason::kBusRangeShared;
      d.related = shared;
      continue;
    }
    uint16_t children = 0;
    for (uint16_t j = 0; j < n; ++j) children += t.functions[j].parent == i;
    if (plan.port_count == kMaxResetPorts || plan.endpoint_count + children > kMaxResetEndpoints) {
      d.reason = Reason::kCapacity;
      continue;
    }
    d.action = Action::kReset;
    d.method = Method::kBusReset;
    plan.ports[plan.port_count++] = i;
    for (uint16_t j = 0; j < n; ++j) {
      if (t.functions[j].parent != i) continue;
      Decision& e = plan.decisions[j];
      e.action = Action::kReset;
      e.reason = Reason::kBelowSelectedPort;
      e.related = i;
      e.method = Method::kBusReset;
      plan.endpoints[plan.endpoint_count++] = j;
      const uint32_t settle = detail::known_settle_ms(e.known);
      if (settle > plan.bus_reset_settle_ms) plan.bus_reset_settle_ms = settle;
    }
  }

  // 4. Endpoints below a port that stays: say why.
  for (uint16_t i = 0; i < n; ++i) {
    Decision& d = plan.decisions[i];
    const Function& f = t.functions[i];
    if (d.action == Action::kSkip && d.reason == Reason::kNoPort && f.parent != kNoFunction &&
        is_resettable_port(t.functions[f.parent].type)) {
      d.reason = Reason::kSharesPort;
      d.related = f.parent;
    }
  }

  // 5. Every function no bus reset reaches and no rule excludes: the
  // strongest method it offers (Linux pci_reset_function's order: FLR, then
  // what the device class defines), else stop it.
  for (uint16_t i = 0; i < n; ++i) {
    Decision& d = plan.decisions[i];
    const Function& f = t.functions[i];
    if (d.action == Action::kSkip && detail::method_applies(d.reason)) {
      if (f.base_class() == kBaseClassBridge) {
        d.reason = Reason::kNoDma;
      } else {
        d.method = detail::strongest_method(f, d.known);
        const bool resets = d.method != Method::kBusMasterOff;
        if (resets && plan.function_reset_count == kMaxFunctionResets) d.method = Method::kBusMasterOff;
        if (d.method == Method::kBusMasterOff) {
          d.action = Action::kStop;
        } else {
          d.action = Action::kReset;
          plan.function_resets[plan.function_reset_count++] = i;
          const uint32_t settle = detail::known_settle_ms(d.known);
          if ((d.method == Method::kFlr || d.method == Method::kAfFlr) && settle > plan.flr_settle_ms) {
            plan.flr_settle_ms = settle;
          }
        }
      }
    }
    plan.skip_count += d.action == Action::kSkip;
    plan.stop_count += d.action == Action::kStop;
  }
}

[[nodiscard]] constexpr const char* to_string(Reason r) {
  switch (r) {
    case Reason::kPortSelected: return "only endpoints below";
    case Reason::kBelowSelectedPort: return "below a reset port";
    case Reason::kModeOff: return "pcie mode off";
    case Reason::kDisplay: return "display device";
    case Reason::kConventional: return "conventional pci";
    case Reason::kExcluded: return "excluded";
    case Reason::kRcIntegrated: return "root complex integrated endpoint, no port";
    case Reason::kNotReady: return "not ready at discovery";
    case Reason::kNoPort: return "no root or downstream port above";
    case Reason::kSharesPort: return "port left alone for another function";
    case Reason::kSwitchUpstreamPort: return "switch upstream port, never reset";
    case Reason::kNotAPort: return "bridge, not a root or downstream port";
    case Reason::kBridgeBelow: return "bridge below";
    case Reason::kDisplayBelow: return "display device below";
    case Reason::kConventionalBelow: return "conventional pci below";
    case Reason::kExcludedBelow: return "excluded function below";
    case Reason::kNotReadyBelow: return "unknown function below";
    case Reason::kEmpty: return "nothing below";
    case Reason::kBusNotScanned: return "bus below not scanned";
    case Reason::kCapacity: return "reset tables full";
    case Reason::kBusRangeShared: return "bus range shared with another bridge";
    case Reason::kNoDma: return "bridge class, no dma";
    case Reason::kKnownNoBusReset: return "known not to survive a secondary bus reset";
    case Reason::kKnownNoBusResetBelow: return "known not to survive a secondary bus reset below";
  }
  return "unknown";
}

[[nodiscard]] constexpr const char* to_string(Method m) {
  switch (m) {
    case Method::kNone: return "none";
    case Method::kBusReset: return "bus reset";
    case Method::kFlr: return "flr";
    case Method::kAfFlr: return "af flr";
    case Method::kNvmeReset: return "nvme reset";
    case Method::kVirtioReset: return "virtio reset";
    case Method::kBusMasterOff: return "bus master off";
  }
  return "unknown";
}

[[nodiscard]] constexpr const char* to_string(MmioRefusal r) {
  switch (r) {
    case MmioRefusal::kNone: return "none";
    case MmioRefusal::kIoBar: return "bar is i/o space";
    case MmioRefusal::kUnassigned: return "bar unassigned";
    case MmioRefusal::kBadBar: return "bad bar index";
    case MmioRefusal::kNoDecode: return "memory decode off";
    case MmioRefusal::kWraps: return "register block wraps";
    case MmioRefusal::kNotMapped: return "bar not mappable";
  }
  return "unknown";
}

[[nodiscard]] constexpr const char* to_string(Action a) {
  switch (a) {
    case Action::kReset: return "reset";
    case Action::kSkip: return "skip";
    case Action::kLeave: return "leave";
    case Action::kStop: return "stop";
  }
  return "unknown";
}

}  // namespace limbo::pcie
