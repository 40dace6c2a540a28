// SPDX-License-Identifier: GPL-2.0-only
// Methods 2-4 (FLR, class reset, stop), for the functions no secondary bus reset reaches
// (lib/pcie/policy.h chose them): Function Level Reset (PCIe r6.0 §6.6.2),
// the class resets of NVMe and virtio, and "stop" (Bus Master Enable, MSI and
// MSI-X enables cleared). All functions go together, as the ports do in
// reset.h: every FLR is initiated and every class reset started back to back,
// then one polling loop serves them all, each with its own deadline, so the
// time does not grow with their number.
//
// Class resets reach registers in a BAR: the BAR as the crashed kernel left
// it in config space (discovery reads it, and refuses an I/O, unassigned or
// undecoded BAR), mapped uncached by the backend (`map_uncached`) before the
// first access. A backend that cannot map them refuses, and those functions
// are stopped instead.
#pragma once

#include <concepts>
#include <stddef.h>
#include <stdint.h>

#include "lib/pcie/clock.h"
#include "lib/pcie/config_space.h"
#include "lib/pcie/discovery.h"
#include "lib/pcie/policy.h"
#include "lib/pcie/registers.h"
#include "lib/pcie/reset.h"

namespace limbo::pcie {

struct MmioRange {
  uint64_t base;
  uint64_t size;
};

// Memory-mapped device registers at physical addresses. map_uncached makes
// every range reachable, uncached (purgatory: its identity tables rebuilt;
// tests: the simulated fabric), or returns false and maps nothing new.
template <class T>
concept Mmio = requires(T& m, uint64_t address, uint8_t v8, uint32_t v32, const MmioRange* ranges, size_t count) {
  { m.read8(address) } -> std::same_as<uint8_t>;
  { m.read32(address) } -> std::same_as<uint32_t>;
  { m.write8(address, v8) } -> std::same_as<void>;
  { m.write32(address, v32) } -> std::same_as<void>;
  { m.map_uncached(ranges, count) } -> std::same_as<bool>;
};

enum class FunctionOutcome : uint8_t {
  kPending,
  kReset,            // reset and restored (FLR: answered as itself; class: reached its reset state)
  kNeverAnswered,    // FLR: never answered within the deadline: left alone
  kChangedIdentity,  // FLR: answered with another Vendor/Device ID: not restored
  kTimedOut,         // class reset: never reached its reset state: stopped instead
  kNotMapped,        // class reset: registers not mappable: stopped instead
};

struct FunctionResult {
  FunctionOutcome outcome;
  uint32_t ms;            // from the start of its reset to done (or to the deadline)
  uint64_t started_us;
  uint64_t deadline_us;
  uint32_t last_status;   // NVMe CSTS or virtio device_status last read
};

struct FunctionTimeline {
  uint64_t start_us;
  uint64_t stopped_us;         // method 4 done
  uint64_t pending_end_us;     // Transactions Pending waited for (or its deadline)
  uint64_t last_flr_us;        // last FLR initiated
  uint64_t flr_settle_end_us;  // no config request to an FLR'd function before this
  uint64_t started_us;         // every method started (start_functions returned)
  uint64_t end_us;
};

struct FunctionTotals {
  uint32_t reset;             // methods 2 and 3 that completed
  uint32_t failed;            // FLR never answered or changed identity; class reset timed out
  uint32_t stopped;           // method 4, chosen or because a class reset's registers were not mappable
  uint32_t transactions_left; // FLR functions still showing Transactions Pending at its deadline
  bool mapping_refused;       // the backend could not map the class resets' registers
};

// Plain data, filled by reset_functions().
struct FunctionWork {
  SavedEndpoint saved[kMaxFunctionResets];
  FunctionResult results[kMaxFunctionResets];  // same index as Plan::function_resets
  MmioRange ranges[kMaxFunctionResets];
  FunctionTimeline timeline;
  FunctionTotals totals;
};

[[nodiscard]] constexpr bool is_flr(Method m) { return m == Method::kFlr || m == Method::kAfFlr; }
[[nodiscard]] constexpr bool is_class_reset(Method m) {
  return m == Method::kNvmeReset || m == Method::kVirtioReset;
}

namespace detail {

// Method 4: only the bits it clears change (no restore follows). Bus Master
// first: MSI messages are memory writes and stop with it (PCIe r6.0
// §7.5.1.1.3); then the MSI and MSI-X enables, so the next kernel starts
// from INTx (PCI r3.0 §6.8.1.3, §6.8.2.3).
template <ConfigSpace Space>
void stop_function(Space& space, const Function& f) {
  const abi::PciAddress a = f.address;
  Command command = Command::ReadFrom(space, a);
  if (command.bus_master()) command.set_bus_master(false).WriteTo(space, a);
  if (f.msi_capability != 0) {
    MsiControl msi = MsiControl::ReadFrom(space, a, f.msi_capability);
    if (msi.msi_enable()) msi.set_msi_enable(false).WriteTo(space, a, f.msi_capability);
  }
  if (f.msix_capability != 0) {
    MsixControl msix = MsixControl::ReadFrom(space, a, f.msix_capability);
    if (msix.msix_enable()) msix.set_msix_enable(false).WriteTo(space, a, f.msix_capability);
  }
}

// Transactions Pending of an FLR function (PCIe r6.0 §7.5.3.5; AF Status).
template <ConfigSpace Space>
[[nodiscard]] bool transactions_pending(Space& space, const Function& f, Method m) {
  if (m == Method::kFlr) return DeviceStatus::ReadFrom(space, f.address, f.pcie_capability).transactions_pending();
  return AfStatus::ReadFrom(space, f.address, f.af_capability).transactions_pending();
}

template <ConfigSpace Space>
void initiate_flr(Space& space, const Function& f, Method m) {
  if (m == Method::kFlr) {
    DeviceControl::ReadFrom(space, f.address, f.pcie_capability).set_initiate_flr(true).WriteTo(space, f.address,
                                                                                                   f.pcie_capability);
  } else {
    AfControl{}.set_initiate_flr(true).WriteTo(space, f.address, f.af_capability);
  }
}

[[nodiscard]] inline uint32_t elapsed_ms(uint64_t from_us, uint64_t to_us) {
  const uint64_t ms = to_us > from_us ? (to_us - from_us + 999) / 1000 : 0;
  return ms == 0 ? 1 : static_cast<uint32_t>(ms);
}

}  // namespace detail

// Methods 2-4 in two halves, so that the caller can run the ports' bus
// reset in between and the FLR's 100 ms and the bus reset's settle time
// overlap (quiesce.h): start_functions stops, saves, maps, initiates every
// FLR and starts every class reset; finish_functions polls them all to done
// or their deadlines and restores. Every wait has a deadline: at most the
// pending-transaction wait + the FLR wait + the ready timeout for FLR, and
// each class reset its own (NVMe: CAP.TO, at most 60 s; virtio: the ready
// timeout), whatever the devices do. The functions here are never below a
// port being reset (the policy gives those method 1), so the two sequences
// touch disjoint functions.
template <ConfigSpace Space, Mmio MmioSpace, Clock C>
void start_functions(Space& space, MmioSpace& mmio, C& clock, const Topology& t, const Plan& plan,
                     const Settings& settings, FunctionWork& w) {
  w.totals = FunctionTotals{};
  FunctionTimeline& tl = w.timeline;
  tl = FunctionTimeline{};
  tl.start_us = clock.now_us();
  const uint16_t n = plan.function_reset_count;

  // 1. Method 4 first: it costs a few config writes and stops DMA at once.
  for (uint16_t i = 0; i < t.count; ++i) {
    if (plan.decisions[i].action != Action::kStop) continue;
    detail::stop_function(space, t.functions[i]);
    ++w.totals.stopped;
  }
  tl.stopped_us = clock.now_us();

  // 2. Save what a reset clears, before anything changes; map the class
  // resets' registers.
  size_t ranges = 0;
  for (uint16_t k = 0; k < n; ++k) {
    const Function& f = t.functions[plan.function_resets[k]];
    const Method m = plan.decisions[plan.function_resets[k]].method;
    w.results[k] = FunctionResult{FunctionOutcome::kPending, 0, 0, 0, 0};
    detail::save_endpoint(space, f, w.saved[k]);
    if (is_class_reset(m)) {
      const uint32_t size = m == Method::kNvmeReset ? nvme::kRegisterWindowBytes : virtio::kRegisterWindowBytes;
      w.ranges[ranges++] = MmioRange{f.mmio_window, size};
    }
  }
  if (ranges > 0 && !mmio.map_uncached(w.ranges, ranges)) {
    w.totals.mapping_refused = true;
    for (uint16_t k = 0; k < n; ++k) {
      const uint16_t i = plan.function_resets[k];
      if (!is_class_reset(plan.decisions[i].method)) continue;
      w.results[k].outcome = FunctionOutcome::kNotMapped;
      detail::stop_function(space, t.functions[i]);
      ++w.totals.stopped;
    }
  }

  // 3. FLR: Transactions Pending clear first (Linux pcie_flr), all functions
  // sharing one deadline; an FLR that still shows it is reset anyway.
  {
    const uint64_t deadline = clock.now_us() + uint64_t{kLinuxPendingTransactionWaitMs} * 1000;
    for (;;) {
      uint32_t pending = 0;
      for (uint16_t k = 0; k < n; ++k) {
        const uint16_t i = plan.function_resets[k];
        const Method m = plan.decisions[i].method;
        if (is_flr(m) && detail::transactions_pending(space, t.functions[i], m)) ++pending;
      }
      if (pending == 0 || clock.now_us() >= deadline) {
        w.totals.transactions_left = pending;
        break;
      }
      clock.relax();
    }
    tl.pending_end_us = clock.now_us();
  }
  bool any_flr = false;
  for (uint16_t k = 0; k < n; ++k) {
    const uint16_t i = plan.function_resets[k];
    const Method m = plan.decisions[i].method;
    if (!is_flr(m)) continue;
    detail::initiate_flr(space, t.functions[i], m);
    w.results[k].started_us = tl.last_flr_us = clock.now_us();
    any_flr = true;
  }
  // PCIe r6.0 §6.6.2: no config request before 100 ms after the (last) FLR.
  // Without an FLR both times are the end of the pending wait (nothing to
  // wait for), so that every timeline field is at or after start_us.
  if (!any_flr) tl.last_flr_us = tl.pending_end_us;
  // A known device that needs longer (lib/pcie/known_devices.h) lengthens it.
  const uint32_t flr_settle_ms = plan.flr_settle_ms > kFlrCompletionMs ? plan.flr_settle_ms : kFlrCompletionMs;
  tl.flr_settle_end_us = any_flr ? tl.last_flr_us + uint64_t{flr_settle_ms} * 1000 : tl.last_flr_us;

  // 4. Class resets: started back to back, each with its own deadline.
  for (uint16_t k = 0; k < n; ++k) {
    const uint16_t i = plan.function_resets[k];
    const Method m = plan.decisions[i].method;
    FunctionResult& r = w.results[k];
    if (!is_class_reset(m) || r.outcome != FunctionOutcome::kPending) continue;
    const uint64_t window = t.functions[i].mmio_window;
    if (m == Method::kNvmeReset) {
      // CAP.TO in 500 ms units (NVMe Base r2.0 §3.1.4.1), capped like every
      // other wait at Linux's longest.
      uint64_t units = nvme::ControllerCapabilities::ReadFrom(mmio, window).timeout();
      if (units < kNvmeMinimumTimeoutUnits) units = kNvmeMinimumTimeoutUnits;
      uint64_t ms = units * nvme::ControllerCapabilities::kTimeoutUnitMs;
      if (ms > kLinuxResetReadyPollMaxMs) ms = kLinuxResetReadyPollMaxMs;
      // A CC of all ones is a controller that does not answer: nothing is
      // written, and the poll below runs into its deadline.
      const nvme::ControllerConfiguration cc = nvme::ControllerConfiguration::ReadFrom(mmio, window);
      if (cc.value != 0xffffffffu) nvme::ControllerConfiguration{cc}.set_enable(false).WriteTo(mmio, window);
      r.started_us = clock.now_us();
      r.deadline_us = r.started_us + ms * 1000;
    } else {
      virtio::DeviceStatus{}.WriteTo(mmio, window);
      r.started_us = clock.now_us();
      r.deadline_us = r.started_us + uint64_t{settings.ready_timeout_ms} * 1000;
    }
  }
  tl.started_us = clock.now_us();
}

template <ConfigSpace Space, Mmio MmioSpace, Clock C>
FunctionTotals finish_functions(Space& space, MmioSpace& mmio, C& clock, const Topology& t, const Plan& plan,
                                const Settings& settings, FunctionWork& w) {
  FunctionTimeline& tl = w.timeline;
  const uint16_t n = plan.function_reset_count;
  const uint64_t flr_deadline = tl.flr_settle_end_us + uint64_t{settings.ready_timeout_ms} * 1000;

  // 5. One polling loop for all: class resets until their state reads
  // reset; FLR functions, after their 100 ms, until their Vendor ID answers.
  for (;;) {
    bool waiting = false;
    const uint64_t now = clock.now_us();
    for (uint16_t k = 0; k < n; ++k) {
      FunctionResult& r = w.results[k];
      if (r.outcome != FunctionOutcome::kPending) continue;
      const uint16_t i = plan.function_resets[k];
      const Function& f = t.functions[i];
      const Method m = plan.decisions[i].method;
      if (is_class_reset(m)) {
        bool done;
        if (m == Method::kNvmeReset) {
          const nvme::ControllerStatus csts = nvme::ControllerStatus::ReadFrom(mmio, f.mmio_window);
          r.last_status = csts.value;
          // All ones: the controller does not answer (removed, or its BAR
          // decodes nothing): not a reset state.
          done = csts.value != 0xffffffffu && !csts.ready();
        } else {
          const virtio::DeviceStatus status = virtio::DeviceStatus::ReadFrom(mmio, f.mmio_window);
          r.last_status = status.value;
          done = status.value == 0;
        }
        const uint64_t at = clock.now_us();
        if (done) {
          r.outcome = FunctionOutcome::kReset;
          r.ms = detail::elapsed_ms(r.started_us, at);
        } else if (at >= r.deadline_us) {
          r.outcome = FunctionOutcome::kTimedOut;
          r.ms = detail::elapsed_ms(r.started_us, at);
        } else {
          waiting = true;
        }
        continue;
      }
      // FLR.
      if (now < tl.flr_settle_end_us) {
        waiting = true;
        continue;
      }
      const Identifiers ids = Identifiers::ReadFrom(space, f.address);
      const uint16_t vendor = static_cast<uint16_t>(ids.vendor_id());
      const uint64_t at = clock.now_us();
      if (vendor_id_answers(vendor)) {
        r.outcome = (vendor == w.saved[k].vendor_id && ids.device_id() == w.saved[k].device_id)
                        ? FunctionOutcome::kReset
                        : FunctionOutcome::kChangedIdentity;
        r.ms = detail::elapsed_ms(r.started_us, at);
      } else if (at >= flr_deadline) {
        r.outcome = FunctionOutcome::kNeverAnswered;
        r.ms = detail::elapsed_ms(r.started_us, at);
      } else {
        waiting = true;
      }
    }
    if (!waiting) break;
    // Nothing to read before the FLR wait ends: sleep through it at once.
    if (clock.now_us() < tl.flr_settle_end_us) {
      bool only_flr = true;
      for (uint16_t k = 0; k < n && only_flr; ++k) {
        only_flr = w.results[k].outcome != FunctionOutcome::kPending ||
                   is_flr(plan.decisions[plan.function_resets[k]].method);
      }
      if (only_flr) {
        wait_until(clock, tl.flr_settle_end_us);
        continue;
      }
    }
    clock.relax();
  }

  // 6. Restore as after a bus reset (BARs, PCIe control, Command with decode
  // only). A class reset leaves config space as it was, so its MSI and MSI-X
  // enables are cleared too, as a reset would have; one that timed out is
  // stopped instead.
  for (uint16_t k = 0; k < n; ++k) {
    const uint16_t i = plan.function_resets[k];
    const Function& f = t.functions[i];
    const Method m = plan.decisions[i].method;
    switch (w.results[k].outcome) {
      case FunctionOutcome::kReset:
        if (is_class_reset(m)) detail::stop_function(space, f);
        detail::restore_endpoint(space, f, w.saved[k]);
        ++w.totals.reset;
        break;
      case FunctionOutcome::kTimedOut:
        detail::stop_function(space, f);
        ++w.totals.failed;
        break;
      case FunctionOutcome::kNeverAnswered:
      case FunctionOutcome::kChangedIdentity:
        ++w.totals.failed;
        break;
      case FunctionOutcome::kNotMapped:
      case FunctionOutcome::kPending:
        break;
    }
  }
  tl.end_us = clock.now_us();
  return w.totals;
}

// Both halves, nothing in between.
template <ConfigSpace Space, Mmio MmioSpace, Clock C>
FunctionTotals reset_functions(Space& space, MmioSpace& mmio, C& clock, const Topology& t, const Plan& plan,
                               const Settings& settings, FunctionWork& w) {
  start_functions(space, mmio, clock, t, plan, settings, w);
  return finish_functions(space, mmio, clock, t, plan, settings, w);
}

[[nodiscard]] constexpr const char* to_string(FunctionOutcome o) {
  switch (o) {
    case FunctionOutcome::kPending: return "pending";
    case FunctionOutcome::kReset: return "reset ok";
    case FunctionOutcome::kNeverAnswered: return "failed never answered, left alone";
    case FunctionOutcome::kChangedIdentity: return "failed answered with another id, not restored";
    case FunctionOutcome::kTimedOut: return "failed reset not done by its deadline, stopped";
    case FunctionOutcome::kNotMapped: return "stopped, registers not mappable";
  }
  return "unknown";
}

}  // namespace limbo::pcie
