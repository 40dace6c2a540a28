// SPDX-License-Identifier: GPL-2.0-only
// The secondary bus reset of every selected port, all together so the total
// time does not grow with their number (PCIe r6.0 §6.6.1, §7.5.1.3.13;
// docs/pcie.md): save each endpoint's state, mask hot-plug events,
// assert Secondary Bus Reset on every port, hold, clear, wait for link up on
// fast ports, settle, poll each endpoint until it answers (or its deadline),
// restore (Command last, decode only), clear the port's status, unmask.
// An endpoint that never answers is reported failed and left alone; the
// sequence goes on.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/pcie/clock.h"
#include "lib/pcie/config_space.h"
#include "lib/pcie/discovery.h"
#include "lib/pcie/policy.h"
#include "lib/pcie/registers.h"

namespace limbo::pcie {

// What Linux's pci_save_state covers and a reset clears (docs/pcie.md).
struct SavedEndpoint {
  uint32_t bars[kType0BarCount];  // raw: a 64-bit BAR's upper half is the next entry
  uint32_t rom_bar;
  uint16_t command;
  uint16_t device_control;   // PCIe capability, when present
  uint16_t device_control2;
  uint16_t link_control;
  uint8_t cache_line_size;
  uint8_t interrupt_line;
  uint16_t vendor_id;        // identity check after the reset
  uint16_t device_id;
  bool has_device_control2;  // version 2 PCIe capability
};

enum class EndpointOutcome : uint8_t {
  kReady,           // answered within the deadline; state restored
  kNeverAnswered,   // still all ones or Retry Status at the deadline: left alone
  kChangedIdentity, // answered with another Vendor/Device ID: not restored
};

struct EndpointResult {
  EndpointOutcome outcome;
  uint32_t ready_ms;  // from the clear of Secondary Bus Reset to the first valid Vendor ID
};

struct PortState {
  uint16_t bridge_control;  // as found (Secondary Bus Reset clear)
  uint16_t slot_control;    // as found, hot-plug ports only
  uint8_t pcie_capability;
  bool hot_plug;            // slot implemented and hot-plug capable: events masked
  bool command_completed;   // the slot signals Command Completed for Slot Control writes
  bool slot_command_done;   // the masking write's Command Completed was seen
  bool wait_link;           // faster than 5 GT/s and reports DLL Link Active
  bool link_reporting_broken;  // claims DLL Link Active reporting, reads 0 with its link up
  bool link_up;             // DLL Link Active seen (or not waited for)
  uint64_t link_up_us;
};

// When each step happened (clock microseconds), for the report, tests and the
// benchmark.
struct Timeline {
  uint64_t start_us;
  uint64_t first_assert_us;
  uint64_t last_assert_us;
  uint64_t first_clear_us;
  uint64_t last_clear_us;
  uint64_t settle_end_us;   // no endpoint is read before this
  uint64_t ready_end_us;    // last endpoint answered, or the ready deadline
  uint64_t end_us;          // restore and unmask done
};

struct ResetTotals {
  uint32_t ports_reset;
  uint32_t endpoints_reset;   // answered and restored
  uint32_t endpoints_failed;  // never answered or changed identity
  uint32_t links_not_up;      // fast ports whose link did not come back in time
};

// Plain data, filled by reset_ports().
struct ResetWork {
  PortState ports[kMaxResetPorts];
  SavedEndpoint saved[kMaxResetEndpoints];
  EndpointResult results[kMaxResetEndpoints];  // same index as Plan::endpoints
  Timeline timeline;
  ResetTotals totals;
  // How far the sequence got, for abandon_reset() after a fault:
  // ports [cleared, asserted) of the plan may have Secondary Bus Reset set.
  // `asserted` counts a port before its asserting write (a fault in that
  // write leaves it unknown: clearing it again writes the value it had);
  // `cleared` after its clearing write.
  uint16_t asserted;
  uint16_t cleared;
  // Between start_ports and finish_ports: fast ports whose link is not yet
  // seen up, and when the settle time starts (the last clear, or the latest
  // link up).
  uint16_t links_waiting;
  uint64_t settle_from_us;
};

namespace detail {

template <ConfigSpace Space>
void save_endpoint(Space& space, const Function& f, SavedEndpoint& s) {
  const abi::PciAddress a = f.address;
  s.vendor_id = f.vendor_id;
  s.device_id = f.device_id;
  s.command = Command::ReadFrom(space, a).value;
  s.cache_line_size = CacheLineSize::ReadFrom(space, a).value;
  s.interrupt_line = InterruptLine::ReadFrom(space, a).value;
  for (int i = 0; i < kType0BarCount; ++i) s.bars[i] = Bar::ReadFrom(space, a, i).value;
  s.rom_bar = Type0ExpansionRom::ReadFrom(space, a).value;
  s.device_control = s.device_control2 = s.link_control = 0;
  s.has_device_control2 = false;
  if (f.pcie_capability != 0) {
    const uint16_t cap = f.pcie_capability;
    s.device_control = DeviceControl::ReadFrom(space, a, cap).value;
    s.link_control = LinkControl::ReadFrom(space, a, cap).value;
    s.has_device_control2 = PcieCapabilities::ReadFrom(space, a, cap).version() >= kPcieCapabilityVersion2;
    if (s.has_device_control2) s.device_control2 = DeviceControl2::ReadFrom(space, a, cap).value;
  }
}

// PCIe state first, then the header from BARs down, Command last with decode
// only: the order of Linux's pci_restore_state, minus Bus Master and MSI.
template <ConfigSpace Space>
void restore_endpoint(Space& space, const Function& f, const SavedEndpoint& s) {
  const abi::PciAddress a = f.address;
  if (f.pcie_capability != 0) {
    const uint16_t cap = f.pcie_capability;
    DeviceControl::from_value(s.device_control).set_initiate_flr(false).WriteTo(space, a, cap);
    if (s.has_device_control2) DeviceControl2::from_value(s.device_control2).WriteTo(space, a, cap);
    LinkControl::from_value(s.link_control).set_retrain_link(false).WriteTo(space, a, cap);
  }
  // Low half of a 64-bit BAR before its high half.
  for (int i = 0; i < kType0BarCount; ++i) Bar::from_value(s.bars[i]).WriteTo(space, a, i);
  Type0ExpansionRom::from_value(s.rom_bar).WriteTo(space, a);
  InterruptLine::from_value(s.interrupt_line).WriteTo(space, a);
  CacheLineSize::from_value(s.cache_line_size).WriteTo(space, a);
  Command::from_value(static_cast<uint16_t>(s.command & Command::kDecodeMask)).WriteTo(space, a);
}

}  // namespace detail

// The sequence over plan.ports / plan.endpoints comes in two halves, so that
// the caller may do other work between them (--pcie-order=overlap:
// the image is verified while the devices settle): start_ports saves, masks,
// asserts, holds and clears (steps 1-5); finish_ports waits for the links and
// the rest of the settle time, polls, restores and unmasks (steps 6-10). Every
// deadline of the second half counts from the clear (or the link up), so the
// settle time and the ready deadline stay minimums however long the caller
// took in between; poll_port_links may be called in between to see a link
// come up on time. Every wait has a deadline; the whole sequence takes at
// most hold + link wait + settle + ready timeout after the caller's work,
// whatever the devices do.
template <ConfigSpace Space, Clock C>
void start_ports(Space& space, C& clock, const Topology& t, const Plan& plan, ResetWork& w) {
  w.totals = ResetTotals{};
  w.asserted = w.cleared = 0;
  w.links_waiting = 0;
  Timeline& tl = w.timeline;
  tl = Timeline{};
  tl.start_us = clock.now_us();
  const uint16_t np = plan.port_count;
  const uint16_t ne = plan.endpoint_count;
  if (np == 0) {
    tl.first_assert_us = tl.last_assert_us = tl.first_clear_us = tl.last_clear_us = tl.settle_end_us =
        tl.ready_end_us = tl.end_us = w.settle_from_us = tl.start_us;
    return;
  }

  // 1. Learn the ports; save the endpoints (before anything changes).
  for (uint16_t p = 0; p < np; ++p) {
    const Function& port = t.functions[plan.ports[p]];
    PortState& ps = w.ports[p];
    ps = PortState{};
    ps.pcie_capability = port.pcie_capability;
    const uint16_t cap = port.pcie_capability;
    const PcieCapabilities caps = PcieCapabilities::ReadFrom(space, port.address, cap);
    const LinkCapabilities link = LinkCapabilities::ReadFrom(space, port.address, cap);
    // A port faster than 5 GT/s that reports DLL Link Active is waited for
    // after the reset. Its link is up now (an endpoint below answered
    // discovery): if DLL Link Active reads 0 anyway, the port does not
    // really report link state (QEMU 7.2's root ports set the capability bit
    // but never the status bit) and the settle time counts from the clear,
    // as for a slower port, instead of waiting a link-up that never shows.
    if (link.max_link_speed() > kLinkSpeed5GT && link.dll_link_active_reporting_capable()) {
      ps.wait_link = LinkStatus::ReadFrom(space, port.address, cap).dll_link_active();
      ps.link_reporting_broken = !ps.wait_link;
    }
    if (caps.slot_implemented()) {
      const SlotCapabilities slot = SlotCapabilities::ReadFrom(space, port.address, cap);
      ps.hot_plug = slot.hot_plug_capable();
      ps.command_completed = !slot.no_command_completed_support();
    }
  }
  for (uint16_t e = 0; e < ne; ++e) detail::save_endpoint(space, t.functions[plan.endpoints[e]], w.saved[e]);

  // 2. Mask the hot-plug events a reset would raise (Linux pciehp_reset_slot).
  // A Command Completed left over from the old kernel is cleared first, so
  // that the one seen later is this write's.
  for (uint16_t p = 0; p < np; ++p) {
    PortState& ps = w.ports[p];
    if (!ps.hot_plug) continue;
    const abi::PciAddress a = t.functions[plan.ports[p]].address;
    if (ps.command_completed) {
      const uint16_t stale =
          SlotStatus::ReadFrom(space, a, ps.pcie_capability).value & SlotStatus::kCommandCompletedMask;
      if (stale != 0) SlotStatus::from_value(stale).WriteTo(space, a, ps.pcie_capability);
    }
    ps.slot_control = SlotControl::ReadFrom(space, a, ps.pcie_capability).value;
    SlotControl::from_value(static_cast<uint16_t>(ps.slot_control & ~SlotControl::kResetEventMask))
        .WriteTo(space, a, ps.pcie_capability);
  }

  // 3. Assert Secondary Bus Reset on every port, back to back.
  for (uint16_t p = 0; p < np; ++p) {
    PortState& ps = w.ports[p];
    const abi::PciAddress a = t.functions[plan.ports[p]].address;
    ps.bridge_control = BridgeControl::ReadFrom(space, a).set_secondary_bus_reset(false).value;
    w.asserted = static_cast<uint16_t>(p + 1);
    BridgeControl::from_value(ps.bridge_control).set_secondary_bus_reset(true).WriteTo(space, a);
    const uint64_t now = clock.now_us();
    if (p == 0) tl.first_assert_us = now;
    tl.last_assert_us = now;
  }

#if defined(LIMBO_TEST_PCIE_HOLD_HOOK)
  LIMBO_TEST_PCIE_HOLD_HOOK();  // TEST-ONLY builds (arch/x86_64/main.cc): a fault with every port in reset
#endif

  // 4. Hold: Trst is 1 ms (PCIe r6.0 §7.5.1.3.13); we hold Linux's 2 ms,
  // counted from the last port asserted, so every port gets at least that.
  wait_until(clock, tl.last_assert_us + kLinuxSecondaryBusResetHoldUs);

  // 5. Clear, back to back, in the same order.
  for (uint16_t p = 0; p < np; ++p) {
    const abi::PciAddress a = t.functions[plan.ports[p]].address;
    BridgeControl::from_value(w.ports[p].bridge_control).WriteTo(space, a);
    w.cleared = static_cast<uint16_t>(p + 1);
    const uint64_t now = clock.now_us();
    if (p == 0) tl.first_clear_us = now;
    tl.last_clear_us = now;
  }
  w.settle_from_us = tl.last_clear_us;
  w.links_waiting = 0;
  for (uint16_t p = 0; p < np; ++p) {
    w.ports[p].link_up = !w.ports[p].wait_link;
    w.links_waiting = static_cast<uint16_t>(w.links_waiting + w.ports[p].wait_link);
  }
}

// 6. Ports faster than 5 GT/s: the 100 ms count starts when the link is up
// again (PCIe r6.0 §6.6.1). One round over the ports still waiting, never
// the devices below; returns how many still wait. Such a port must report
// DLL Link Active (§7.5.3.6); one that does not gets the settle time from
// the clear, and the ready poll covers a link that trains late.
template <ConfigSpace Space, Clock C>
uint16_t poll_port_links(Space& space, C& clock, const Topology& t, const Plan& plan, ResetWork& w) {
  if (w.links_waiting == 0) return 0;
  for (uint16_t p = 0; p < plan.port_count; ++p) {
    PortState& ps = w.ports[p];
    if (ps.link_up) continue;
    const abi::PciAddress a = t.functions[plan.ports[p]].address;
    if (LinkStatus::ReadFrom(space, a, ps.pcie_capability).dll_link_active()) {
      ps.link_up = true;
      ps.link_up_us = clock.now_us();
      if (ps.link_up_us > w.settle_from_us) w.settle_from_us = ps.link_up_us;
      --w.links_waiting;
    }
  }
  return w.links_waiting;
}

template <ConfigSpace Space, Clock C>
ResetTotals finish_ports(Space& space, C& clock, const Topology& t, const Plan& plan, const Settings& settings,
                         ResetWork& w) {
  Timeline& tl = w.timeline;
  const uint16_t np = plan.port_count;
  const uint16_t ne = plan.endpoint_count;
  if (np == 0) return w.totals;

  // 6. The links still down after the caller's work, up to their deadline.
  {
    const uint64_t link_deadline = tl.last_clear_us + uint64_t{kLinuxLinkActiveTimeoutMs} * 1000;
    uint64_t now = clock.now_us();
    while (w.links_waiting > 0 && now < link_deadline) {
      if (poll_port_links(space, clock, t, plan, w) > 0) clock.relax();
      now = clock.now_us();
    }
    if (w.links_waiting > 0) {
      w.totals.links_not_up = w.links_waiting;
      w.settle_from_us = now;  // the devices behind get their 100 ms from the deadline
    }
  }
  const uint64_t settle_from = w.settle_from_us;

  // 7. Settle: no config request to a device below before this (§6.6.1).
  // The plan's settle time is the setting, or longer for a known slow
  // device below (lib/pcie/known_devices.h).
  const uint32_t settle_ms = plan.bus_reset_settle_ms > settings.settle_ms ? plan.bus_reset_settle_ms : settings.settle_ms;
  const uint64_t settle_end = settle_from + uint64_t{settle_ms} * 1000;
  wait_until(clock, settle_end);
  tl.settle_end_us = settle_end;

  // 8. Poll every endpoint round-robin until it answers or the deadline.
  const uint64_t ready_deadline = settle_end + uint64_t{settings.ready_timeout_ms} * 1000;
  uint16_t pending = ne;
  for (uint16_t e = 0; e < ne; ++e) w.results[e] = EndpointResult{EndpointOutcome::kNeverAnswered, 0};
  uint64_t now = clock.now_us();
  while (pending > 0) {
    for (uint16_t e = 0; e < ne; ++e) {
      EndpointResult& r = w.results[e];
      if (r.outcome != EndpointOutcome::kNeverAnswered) continue;  // answered already
      const Function& f = t.functions[plan.endpoints[e]];
      const Identifiers ids = Identifiers::ReadFrom(space, f.address);
      const uint16_t vendor = static_cast<uint16_t>(ids.vendor_id());
      if (!vendor_id_answers(vendor)) continue;
      const uint64_t at = clock.now_us();
      const uint64_t ms = (at - tl.last_clear_us + 999) / 1000;
      r.ready_ms = ms == 0 ? 1 : static_cast<uint32_t>(ms);
      r.outcome = (vendor == w.saved[e].vendor_id && ids.device_id() == w.saved[e].device_id)
                      ? EndpointOutcome::kReady
                      : EndpointOutcome::kChangedIdentity;
      --pending;
    }
    now = clock.now_us();
    if (pending == 0 || now >= ready_deadline) break;
    clock.relax();
  }
  tl.ready_end_us = now;

  // 9. Restore the endpoints that answered as themselves.
  for (uint16_t e = 0; e < ne; ++e) {
    if (w.results[e].outcome == EndpointOutcome::kReady) {
      detail::restore_endpoint(space, t.functions[plan.endpoints[e]], w.saved[e]);
      ++w.totals.endpoints_reset;
    } else {
      ++w.totals.endpoints_failed;
    }
  }

  // 10. Clear what the reset left on the ports (write-1-to-clear), then unmask.
  for (uint16_t p = 0; p < np; ++p) {
    const abi::PciAddress a = t.functions[plan.ports[p]].address;
    const uint16_t secondary = SecondaryStatus::ReadFrom(space, a).value & SecondaryStatus::kWriteOneToClearMask;
    if (secondary != 0) SecondaryStatus::from_value(secondary).WriteTo(space, a);
  }
  // The masking writes must have completed before the next Slot Control
  // write (PCIe r6.0 §6.7.3.2): normally long done after the settle time;
  // all slots share one deadline.
  {
    const uint64_t deadline = clock.now_us() + uint64_t{kSlotCommandTimeoutMs} * 1000;
    for (;;) {
      bool waiting = false;
      for (uint16_t p = 0; p < np; ++p) {
        PortState& ps = w.ports[p];
        if (!ps.hot_plug || !ps.command_completed || ps.slot_command_done) continue;
        const abi::PciAddress a = t.functions[plan.ports[p]].address;
        ps.slot_command_done = SlotStatus::ReadFrom(space, a, ps.pcie_capability).command_completed();
        waiting = waiting || !ps.slot_command_done;
      }
      if (!waiting || clock.now_us() >= deadline) break;
      clock.relax();
    }
  }
  for (uint16_t p = 0; p < np; ++p) {
    const PortState& ps = w.ports[p];
    if (!ps.hot_plug) continue;
    const abi::PciAddress a = t.functions[plan.ports[p]].address;
    const uint16_t slot = SlotStatus::ReadFrom(space, a, ps.pcie_capability).value &
                          (SlotStatus::kResetEventMask | SlotStatus::kCommandCompletedMask);
    if (slot != 0) SlotStatus::from_value(slot).WriteTo(space, a, ps.pcie_capability);
    SlotControl::from_value(ps.slot_control).WriteTo(space, a, ps.pcie_capability);
  }
  w.totals.ports_reset = np;
  tl.end_us = clock.now_us();
  return w.totals;
}

// Both halves, nothing in between (--pcie-order=serial).
template <ConfigSpace Space, Clock C>
ResetTotals reset_ports(Space& space, C& clock, const Topology& t, const Plan& plan, const Settings& settings,
                        ResetWork& w) {
  start_ports(space, clock, t, plan, w);
  return finish_ports(space, clock, t, plan, settings, w);
}

// After a fault abandoned reset_ports(): no port may stay in
// reset. Clears Secondary Bus Reset on the ports the sequence had asserted
// and not yet cleared, writing back the Bridge Control value it saved before
// asserting; restores nothing else (the endpoints below keep their reset
// state; the next kernel enumerates them). Returns how many ports it wrote.
// Reads nothing: a config read is what may have faulted.
template <ConfigSpace Space>
uint16_t abandon_reset(Space& space, const Topology& t, const Plan& plan, const ResetWork& w) {
  uint16_t written = 0;
  const uint16_t end = w.asserted < plan.port_count ? w.asserted : plan.port_count;
  for (uint16_t p = w.cleared; p < end; ++p) {
    BridgeControl::from_value(w.ports[p].bridge_control).WriteTo(space, t.functions[plan.ports[p]].address);
    ++written;
  }
  return written;
}

[[nodiscard]] constexpr const char* to_string(EndpointOutcome o) {
  switch (o) {
    case EndpointOutcome::kReady: return "reset ok";
    case EndpointOutcome::kNeverAnswered: return "failed never answered, left alone";
    case EndpointOutcome::kChangedIdentity: return "failed answered with another id, not restored";
  }
  return "unknown";
}

}  // namespace limbo::pcie
