// SPDX-License-Identifier: GPL-2.0-only
// PCIe quiesce from end to end, what the purgatory's flow calls once: discover,
// decide, reset (ports, then functions), then one console line per function
// naming the method and the reason, and the totals, as the console shows them
// (the core prints each line from "pcie"; the console owns the "limbo: "):
//   limbo: pcie 0000:01:00.0 8086:10d3 class 020000 reset ok ready 101 ms by bus reset (port 0000:00:02.0)
//   limbo: pcie 0000:00:03.0 1b36:0010 class 010802 reset ok ready 101 ms by flr (root complex integrated endpoint, no port)
//   limbo: pcie 0000:00:04.0 8086:10d3 class 020000 stop by bus master off (root complex integrated endpoint, no port)
//   limbo: pcie 0000:00:01.0 1234:1111 class 030000 skip display device
//   limbo: pcie reset 3 stop 1 skip 5 fail 0 ports 1 in 205 ms
// and the plan view's tree (the same decisions, no reset). Output goes to any
// sink with put(char) (lib/format.h).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <type_traits>

#include "abi/limbo_abi.h"
#include "lib/format.h"
#include "lib/pcie/clock.h"
#include "lib/pcie/config_space.h"
#include "lib/pcie/discovery.h"
#include "lib/pcie/function_reset.h"
#include "lib/pcie/policy.h"
#include "lib/pcie/registers.h"
#include "lib/pcie/reset.h"

namespace limbo::pcie {

// Everything the quiesce needs that does not fit a 16 KiB stack: the caller
// owns one (a global in the purgatory, about 32 KiB).
struct Workspace {
  Topology topology;
  Plan plan;
  ResetWork reset;
  FunctionWork functions;
  abi::PciAddress roots[abi::kMaxRootBuses > abi::kMaxEcamWindows ? abi::kMaxRootBuses : abi::kMaxEcamWindows];
  bool truncated;  // discovery's table was full (begin_quiesce to finish_quiesce)
  // begin_quiesce started the resets and finish_quiesce has not
  // begun: the devices are in reset (or stopped) and nothing is restored.
  // Read by the exception handler to say so when a fault ends the run there.
  bool begun;
};
// Plain data: a global Workspace is all zero and may be placed in a NOBITS
// section (`[[gnu::section(".bss.<name>")]] pcie::Workspace w;`), so the
// object file does not carry 35 KiB of zeros.
static_assert(std::is_trivial_v<Workspace>);

// The report's counters (lib/report.h): endpoints reset and restored,
// functions deliberately skipped, endpoints that failed.
struct Totals {
  uint32_t reset = 0;        // methods 1-3
  uint32_t stop = 0;         // method 4 only
  uint32_t skip = 0;
  uint32_t fail = 0;
  uint32_t ports = 0;
  uint32_t functions = 0;
  uint32_t vfs_cleared = 0;  // VFs of PFs reset by a bus reset or FLR
  uint64_t elapsed_us = 0;   // first function method (or first assert) to the end of the last restore
  bool enabled = false;
  bool truncated = false;    // discovery table full
};

// The root buses to walk: the block's list, or when it gives none, the first
// bus of each ECAM window.
[[nodiscard]] inline size_t root_buses(const abi::PcieSettings& s, abi::PciAddress* out) {
  size_t n = 0;
  if (s.root_bus_count != 0) {
    const size_t count = s.root_bus_count > abi::kMaxRootBuses ? abi::kMaxRootBuses : s.root_bus_count;
    for (; n < count; ++n) out[n] = s.root_buses[n];
    return n;
  }
  const size_t windows = s.ecam_count > abi::kMaxEcamWindows ? abi::kMaxEcamWindows : s.ecam_count;
  for (size_t i = 0; i < windows; ++i) out[n++] = abi::PciAddress{s.ecam[i].segment, s.ecam[i].start_bus, 0};
  return n;
}

// How far below a port discovery reads: every device in the serial order;
// under overlap only device 0 (Linux's default scan: a PCIe link below a
// root or downstream port has one device), which is what the decision and
// the restore need before the resets. The purgatory and --plan both ask here.
[[nodiscard]] inline ScanBelowPorts scan_below_ports(const abi::PcieSettings& s) {
  return s.order == static_cast<uint32_t>(abi::PcieOrder::kOverlap) ? ScanBelowPorts::kDeviceZero
                                                                      : ScanBelowPorts::kEveryDevice;
}

template <class Sink>
void print_address(Sink& sink, abi::PciAddress a) {
  fmt::print(sink, fmt::hex(a.segment, 4), ':', fmt::hex(a.bus, 2), ':', fmt::hex(device_of(a), 2), '.',
             fmt::hex(function_of(a), 1));
}

// "0000:01:00.0 8086:10d3 class 020000"
template <class Sink>
void print_function(Sink& sink, const Function& f) {
  print_address(sink, f.address);
  fmt::print(sink, ' ', fmt::hex(f.vendor_id, 4), ':', fmt::hex(f.device_id, 4), " class ", fmt::hex(f.class_code, 6));
}

// An operator rule as it is written: "--pcie-exclude=8086:10d3",
// "--pcie-include=class:0108", "--pcie-exclude=0000:01:00.0".
template <class Sink>
void print_rule(Sink& sink, const Plan& plan, RuleSource source, uint8_t index) {
  if (source == RuleSource::kExcludedAddress) {
    fmt::print(sink, "--pcie-exclude=");
    print_address(sink, plan.excluded[index]);
    return;
  }
  const abi::PcieRule& r = plan.rules[index];
  fmt::print(sink, r.action == static_cast<uint8_t>(abi::PcieRuleAction::kInclude) ? "--pcie-include=" : "--pcie-exclude=");
  switch (static_cast<abi::PcieRuleKind>(r.kind)) {
    case abi::PcieRuleKind::kAddress:
      print_address(sink, abi::PciAddress{static_cast<uint16_t>(r.value >> 16), static_cast<uint8_t>(r.value >> 8),
                                          static_cast<uint8_t>(r.value)});
      break;
    case abi::PcieRuleKind::kId:
      fmt::print(sink, fmt::hex(r.value & 0xffff, 4), ':');
      if ((r.mask >> 16) == 0) sink.put('*');
      else fmt::print(sink, fmt::hex(r.value >> 16, 4));
      break;
    case abi::PcieRuleKind::kClass:
      fmt::print(sink, "class:", fmt::hex(r.value >> 16, 2));
      if ((r.mask & 0xff00) != 0) fmt::print(sink, fmt::hex((r.value >> 8) & 0xff, 2));
      if ((r.mask & 0xff) != 0) fmt::print(sink, fmt::hex(r.value & 0xff, 2));
      break;
    default:
      fmt::print(sink, "?");
  }
}

// What decided a function beyond its reason: its entry in the
// table of known devices, and the operator rule. Each item follows `open`
// (" (" for the first, then ", "); returns whether one was printed.
template <class Sink>
bool print_rules(Sink& sink, const Plan& plan, const Decision& d, bool open) {
  if (d.known != kNotKnown) {
    fmt::print(sink, open ? ", " : " (", kKnownDevices[d.known].quirk);
    open = true;
  }
  if (d.rule_source != RuleSource::kNone) {
    fmt::print(sink, open ? ", " : " (", "rule ");
    print_rule(sink, plan, d.rule_source, d.rule);
    open = true;
  }
  return open;
}

// " (root complex integrated endpoint, no port)", or the port; then the
// rules.
template <class Sink>
void print_reason(Sink& sink, const Topology& t, const Plan& plan, const Decision& d) {
  fmt::print(sink, " (", to_string(d.reason));
  if (d.related != kNoFunction) {
    fmt::print(sink, ' ');
    print_address(sink, t.functions[d.related].address);
  }
  print_rules(sink, plan, d, true);
  sink.put(')');
}

// An SR-IOV PF's VFs go with a bus reset or an FLR of the PF (VF Enable
// cleared, PCIe r6.0 §9.3.3.3.1); nothing is restored into them (VF Enable
// is not part of the saved state), so the capture kernel sees the PF only.
// The other methods leave them enabled.
[[nodiscard]] constexpr bool clears_vfs(const Decision& d) {
  return d.action == Action::kReset &&
         (d.method == Method::kBusReset || d.method == Method::kFlr || d.method == Method::kAfFlr);
}

template <class Sink>
void print_decision_core(Sink& sink, const Topology& t, const Plan& plan, const ResetWork* work, uint16_t index,
                         const FunctionWork* functions);

// The decision part of a line: "skip display device", "reset ok ready 101 ms
// by flr (root complex integrated endpoint, no port)"; without `work` and
// `functions` (the plan view) what will be done: "reset by flr (...)"; then,
// for an SR-IOV PF with VFs enabled, what becomes of them.
template <class Sink>
void print_decision(Sink& sink, const Topology& t, const Plan& plan, const ResetWork* work, uint16_t index,
                    const FunctionWork* functions = nullptr) {
  print_decision_core(sink, t, plan, work, index, functions);
  const Function& f = t.functions[index];
  if (f.enabled_vfs == 0) return;
  fmt::print(sink, ", sr-iov pf with ", fmt::dec(f.enabled_vfs), " vfs enabled: ");
  if (clears_vfs(plan.decisions[index])) {
    fmt::print(sink, "cleared by the reset, none restored (the capture kernel sees the pf only)");
  } else {
    fmt::print(sink, "left enabled");
  }
}

template <class Sink>
void print_decision_core(Sink& sink, const Topology& t, const Plan& plan, const ResetWork* work, uint16_t index,
                         const FunctionWork* functions) {
  const Decision& d = plan.decisions[index];
  const Function& f = t.functions[index];
  if (d.action == Action::kReset && f.is_bridge()) {
    fmt::print(sink, "port reset (", to_string(d.reason));
    print_rules(sink, plan, d, true);
    sink.put(')');
    return;
  }
  if (d.action == Action::kReset && d.method == Method::kBusReset) {
    if (work == nullptr) fmt::print(sink, "reset ");
    if (work != nullptr) {
      for (uint16_t e = 0; e < plan.endpoint_count; ++e) {
        if (plan.endpoints[e] != index) continue;
        const EndpointResult& r = work->results[e];
        fmt::print(sink, to_string(r.outcome));
        if (r.outcome != EndpointOutcome::kNeverAnswered) fmt::print(sink, " ready ", fmt::dec(r.ready_ms), " ms");
        sink.put(' ');
        break;
      }
    }
    fmt::print(sink, "by bus reset (port ");
    print_address(sink, t.functions[d.related].address);
    print_rules(sink, plan, d, true);
    sink.put(')');
    return;
  }
  if (d.action == Action::kReset) {
    if (functions != nullptr) {
      for (uint16_t k = 0; k < plan.function_reset_count; ++k) {
        if (plan.function_resets[k] != index) continue;
        const FunctionResult& r = functions->results[k];
        fmt::print(sink, to_string(r.outcome));
        if (r.outcome == FunctionOutcome::kReset) {
          // FLR: the first poll that saw it answer (as after a bus reset);
          // class reset: the first poll that saw it done, which may come
          // after the ports' bus reset (quiesce runs both at once).
          fmt::print(sink, is_flr(d.method) ? " ready " : " within ", fmt::dec(r.ms), " ms");
        } else if (r.outcome == FunctionOutcome::kTimedOut) {
          fmt::print(sink, " after ", fmt::dec(r.ms), " ms, status ", fmt::hex(r.last_status, 8));
        }
        sink.put(' ');
        break;
      }
    } else {
      fmt::print(sink, "reset ");
    }
    fmt::print(sink, "by ", to_string(d.method));
    print_reason(sink, t, plan, d);
    return;
  }
  if (d.action == Action::kStop) {
    fmt::print(sink, "stop by ", to_string(d.method));
    print_reason(sink, t, plan, d);
    if (f.class_reset != ClassReset::kNone && f.mmio_refusal != MmioRefusal::kNone) {
      fmt::print(sink, ", no class reset: ", to_string(f.mmio_refusal));
    }
    return;
  }
  fmt::print(sink, to_string(d.action), ' ', to_string(d.reason));
  bool open = false;
  if (d.related != kNoFunction) {
    fmt::print(sink, " (");
    print_address(sink, t.functions[d.related].address);
    open = true;
  }
  if (print_rules(sink, plan, d, open)) open = true;
  if (open) sink.put(')');
}

// One console line per non-bridge function, then the totals.
template <class Sink>
void print_report(Sink& sink, const Topology& t, const Plan& plan, const ResetWork& work, const Totals& totals,
                  const FunctionWork* functions = nullptr) {
  for (uint16_t i = 0; i < t.count; ++i) {
    if (t.functions[i].is_bridge()) continue;
    fmt::print(sink, "pcie ");
    print_function(sink, t.functions[i]);
    sink.put(' ');
    print_decision(sink, t, plan, &work, i, functions);
    sink.put('\n');
  }
  if (functions != nullptr && functions->totals.mapping_refused) {
    fmt::println(sink, "pcie class resets' registers not mappable uncached: those functions stopped instead");
  }
  // Ports faster than 5 GT/s: how long their link took, which sets the
  // start of their settle time.
  for (uint16_t p = 0; p < plan.port_count; ++p) {
    const PortState& ps = work.ports[p];
    if (!ps.wait_link && !ps.link_reporting_broken) continue;
    fmt::print(sink, "pcie ");
    print_address(sink, t.functions[plan.ports[p]].address);
    if (ps.link_reporting_broken) {
      fmt::println(sink, " port link state not reported (dll link active 0 with its link up): settled from the reset");
    } else if (ps.link_up) {
      fmt::println(sink, " port link up ", fmt::dec((ps.link_up_us - work.timeline.last_clear_us) / 1000),
                   " ms after the reset");
    } else {
      fmt::println(sink, " port link not up within ", fmt::dec(kLinuxLinkActiveTimeoutMs), " ms");
    }
  }
  if (totals.vfs_cleared != 0) {
    fmt::println(sink, "pcie sr-iov ", fmt::dec(totals.vfs_cleared), " vfs cleared with their pfs, none restored");
  }
  if (totals.truncated) fmt::println(sink, "pcie more than ", fmt::dec(kMaxFunctions), " functions: the rest left alone");
  fmt::println(sink, "pcie reset ", fmt::dec(totals.reset), " stop ", fmt::dec(totals.stop), " skip ",
               fmt::dec(totals.skip), " fail ",
               fmt::dec(totals.fail), " ports ", fmt::dec(totals.ports), " in ", fmt::dec((totals.elapsed_us + 999) / 1000),
               " ms");
}

// The plan view's tree under one root bus, like `lspci -tv`: each function
// on `root_bus` and, depth-first, everything below it, one line each with its
// bus:device.function, IDs, class, PCIe type and decision:
//    +-00:02.0 1b36:000c class 060400 root port: port reset (only endpoints below) [bus 01-01]
//    | \-01:00.0 8086:10d3 class 020000 endpoint: reset by bus reset (port 0000:00:02.0)
// Explicit stack, no recursion.
template <class Sink>
void print_tree(Sink& sink, const Topology& t, const Plan& plan, abi::PciAddress root_bus) {
  auto on_root_bus = [&](uint16_t i) {
    const Function& f = t.functions[i];
    return f.parent == kNoFunction && f.address.segment == root_bus.segment && f.address.bus == root_bus.bus;
  };
  auto siblings = [&](uint16_t a, uint16_t b) {
    return t.functions[a].parent == t.functions[b].parent && (t.functions[a].parent != kNoFunction || on_root_bus(b));
  };
  // The last of its siblings (children follow their parent in the table).
  auto last = [&](uint16_t i) {
    for (uint16_t j = i + 1; j < t.count; ++j) {
      if (siblings(i, j)) return false;
    }
    return true;
  };
  uint16_t stack[kMaxFunctions];
  size_t depth_of_stack = 0;
  for (uint16_t j = t.count; j-- > 0;) {
    if (on_root_bus(j)) stack[depth_of_stack++] = j;
  }
  while (depth_of_stack > 0) {
    const uint16_t i = stack[--depth_of_stack];
    const Function& f = t.functions[i];
    uint8_t depth = 0;
    for (uint16_t a = f.parent; a != kNoFunction; a = t.functions[a].parent) ++depth;
    sink.put(' ');
    for (uint8_t level = 0; level < depth; ++level) {  // each ancestor, outermost first
      uint16_t a = i;
      for (uint8_t up = level; up < depth; ++up) a = t.functions[a].parent;
      fmt::print(sink, last(a) ? "  " : "| ");
    }
    fmt::print(sink, last(i) ? "\\-" : "+-", fmt::hex(f.address.bus, 2), ':', fmt::hex(device_of(f.address), 2), '.',
               fmt::hex(function_of(f.address), 1), ' ', fmt::hex(f.vendor_id, 4), ':', fmt::hex(f.device_id, 4),
               " class ", fmt::hex(f.class_code, 6), ' ', to_string(f.type), ": ");
    print_decision(sink, t, plan, nullptr, i);
    if (f.is_bridge()) {
      fmt::print(sink, " [bus ", fmt::hex(f.secondary_bus, 2), '-', fmt::hex(f.subordinate_bus, 2));
      if (f.bus_state != BusState::kScanned) fmt::print(sink, ", ", to_string(f.bus_state));
      sink.put(']');
    }
    sink.put('\n');
    // Push children in reverse table order so they print in table order.
    for (uint16_t j = t.count; j-- > 0;) {
      if (t.functions[j].parent == i && depth_of_stack < kMaxFunctions) stack[depth_of_stack++] = j;
    }
  }
}

// A backend without memory-mapped access: every class reset is refused and
// its function stopped instead.
struct NoMmio {
  uint8_t read8(uint64_t) { return 0xff; }
  uint32_t read32(uint64_t) { return 0xffffffffu; }
  void write8(uint64_t, uint8_t) {}
  void write32(uint64_t, uint32_t) {}
  bool map_uncached(const MmioRange*, size_t) { return false; }
};
static_assert(Mmio<NoMmio>);

// The purgatory's call, in two halves: begin_quiesce discovers,
// decides and starts every method that needs a wait (stop, FLR, class
// resets, then every port's Secondary Bus Reset asserted, held and cleared);
// finish_quiesce waits out what is left of their settle times, polls,
// restores and prints the report. With --pcie-order=serial the caller runs
// them back to back (quiesce() below); with overlap it verifies the image in
// between, calling poll_quiesce now and then. Every deadline of the second
// half counts from the reset itself, so the time in between only shortens
// the waits that are left, never below their minimums. `space` must reach
// every window of `settings` (the caller maps them uncached before); `mmio`
// maps and reaches the class resets' registers.
// `rules`: the configuration block's rules by identity, or none.
// Returns false when PCIe is off (nothing started, the line printed).
template <ConfigSpace Space, Mmio MmioSpace, Clock C, class Sink>
bool begin_quiesce(Space& space, MmioSpace& mmio, C& clock, Sink& sink, const abi::PcieSettings& abi_settings,
                   Workspace& ws, const abi::PcieRules* rules = nullptr) {
  const Settings settings = settings_from_abi(abi_settings, rules);
  ws.reset.asserted = ws.reset.cleared = 0;  // abandon_reset() after a fault before start_ports()
  ws.begun = false;
  if (!settings.enabled) {
    fmt::println(sink, "pcie off");
    return false;
  }
  const size_t roots = root_buses(abi_settings, ws.roots);
  ws.truncated = !discover(space, ws.roots, roots, ws.topology, scan_below_ports(abi_settings));
  decide(ws.topology, settings, ws.plan);
  // The functions' FLRs and class resets start first, so that their waits
  // run during the ports' hold and settle time.
  start_functions(space, mmio, clock, ws.topology, ws.plan, settings, ws.functions);
  start_ports(space, clock, ws.topology, ws.plan, ws.reset);
  ws.begun = true;
  return true;
}

// Between the halves: one round of the fast ports' link polls (their settle
// time starts at link up). Reads the ports only, never a device below.
template <ConfigSpace Space, Clock C>
void poll_quiesce(Space& space, C& clock, Workspace& ws) {
  (void)poll_port_links(space, clock, ws.topology, ws.plan, ws.reset);
}

// When the last device was put in reset or stopped, on the clock: the end
// of the "DMA window". The last Secondary Bus Reset asserted, or
// when there is no port, the functions' methods started; `fallback` when
// nothing was touched.
[[nodiscard]] inline uint64_t devices_stopped_us(const Workspace& ws, uint64_t fallback) {
  const bool any_function = ws.plan.function_reset_count != 0 || ws.plan.stop_count != 0;
  uint64_t at = 0;
  bool any = false;
  if (ws.plan.port_count != 0) {
    at = ws.reset.timeline.last_assert_us;
    any = true;
  }
  if (any_function) {
    // Stops and FLRs precede the ports' asserts; a class reset too.
    if (!any || ws.functions.timeline.started_us > at) at = ws.functions.timeline.started_us;
    any = true;
  }
  return any ? at : fallback;
}

template <ConfigSpace Space, Mmio MmioSpace, Clock C, class Sink>
Totals finish_quiesce(Space& space, MmioSpace& mmio, C& clock, Sink& sink, const abi::PcieSettings& abi_settings,
                      Workspace& ws, const abi::PcieRules* rules = nullptr) {
  Totals totals;
  ws.begun = false;  // from here a fault is the PCIe phase's own (resumed, lib/fault.h)
  const Settings settings = settings_from_abi(abi_settings, rules);
  totals.enabled = settings.enabled;
  if (!settings.enabled) return totals;
  totals.truncated = ws.truncated;
  const ResetTotals r = finish_ports(space, clock, ws.topology, ws.plan, settings, ws.reset);
  const FunctionTotals fr = finish_functions(space, mmio, clock, ws.topology, ws.plan, settings, ws.functions);
  totals.reset = r.endpoints_reset + fr.reset;
  totals.fail = r.endpoints_failed + fr.failed;
  totals.stop = fr.stopped;
  totals.skip = ws.plan.skip_count;
  totals.ports = r.ports_reset;
  totals.functions = ws.topology.count;
  for (uint16_t i = 0; i < ws.topology.count; ++i) {
    if (clears_vfs(ws.plan.decisions[i])) totals.vfs_cleared += ws.topology.functions[i].enabled_vfs;
  }
  const bool any_function = ws.plan.function_reset_count != 0 || ws.plan.stop_count != 0;
  const uint64_t start = any_function ? ws.functions.timeline.start_us : ws.reset.timeline.first_assert_us;
  const uint64_t end = any_function && ws.functions.timeline.end_us > ws.reset.timeline.end_us
                           ? ws.functions.timeline.end_us
                           : ws.reset.timeline.end_us;
  totals.elapsed_us = end > start ? end - start : 0;
  print_report(sink, ws.topology, ws.plan, ws.reset, totals, &ws.functions);
  return totals;
}

// Both halves back to back (--pcie-order=serial, the plan view's tests).
// Prints the report to `sink`.
template <ConfigSpace Space, Mmio MmioSpace, Clock C, class Sink>
Totals quiesce(Space& space, MmioSpace& mmio, C& clock, Sink& sink, const abi::PcieSettings& abi_settings,
               Workspace& ws, const abi::PcieRules* rules = nullptr) {
  if (!begin_quiesce(space, mmio, clock, sink, abi_settings, ws, rules)) return Totals{};
  return finish_quiesce(space, mmio, clock, sink, abi_settings, ws, rules);
}

// Without memory-mapped access (class resets refused).
template <ConfigSpace Space, Clock C, class Sink>
Totals quiesce(Space& space, C& clock, Sink& sink, const abi::PcieSettings& abi_settings, Workspace& ws,
               const abi::PcieRules* rules = nullptr) {
  NoMmio none;
  return quiesce(space, none, clock, sink, abi_settings, ws, rules);
}

}  // namespace limbo::pcie
