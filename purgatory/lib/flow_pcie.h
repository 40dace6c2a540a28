// SPDX-License-Identifier: GPL-2.0-only
// The flow's PCIe step: after the image verified and before the
// backup copy, the report and the jump, stop every eligible endpoint with a
// secondary bus reset (lib/pcie/quiesce.h) on a clock chosen here: the TSC
// when it is invariant and agrees with the PIT, else the PIT itself.
//
// What it asks of the machine: the concept PcieMachine below.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <concepts>
#include <type_traits>

#include "abi/limbo_abi.h"
#include "lib/clock.h"
#include "lib/format.h"
#include "lib/pcie/quiesce.h"
#include "lib/report.h"

namespace limbo::flow {

// The arch code's page tables, as the console reports them.
struct PagingSummary {
  bool own_tables = false;    // running on the purgatory's own identity tables
  bool ecam_mapped = false;   // every ECAM window of the block mapped uncached
  unsigned levels = 4;
  bool gib_pages = false;
  size_t tables = 0;          // pool pages used
  size_t pool = 0;            // pool pages available
  const char* problem = nullptr;  // why the loader's tables were kept
};

// The PCIe step's part of the machine: port I/O and the TSC for its delay
// clock; what the arch code did with the page tables; CPUID 8000_0007h
// EDX[8]; config space over the block's ECAM windows; the workspace (a
// global: tens of KiB, never on the stack); the class resets' BAR registers
// (mapped uncached on request).
template <class T>
concept PcieMachine = requires(T& machine, const abi::PcieSettings& settings, uint16_t port, uint8_t value) {
  { machine.port_io().in8(port) } -> std::same_as<uint8_t>;
  machine.port_io().out8(port, value);
  { machine.read_tsc() } -> std::same_as<uint64_t>;
  { machine.paging_summary() } -> std::same_as<PagingSummary>;
  { machine.tsc_invariant() } -> std::same_as<bool>;
  { machine.pcie_config_space(settings) } -> pcie::ConfigSpace;
  { machine.pcie_workspace() } -> std::same_as<pcie::Workspace&>;
  { machine.pcie_mmio() } -> pcie::Mmio;
};

template <class Sink>
void print_paging(Sink& con, const PagingSummary& p) {
  if (p.own_tables) {
    fmt::println(con, "paging: own identity tables, ", fmt::dec(p.levels), " levels, ",
                 p.gib_pages ? "1 GiB" : "2 MiB", " pages, ", fmt::dec(p.tables), " of ", fmt::dec(p.pool),
                 " table pages", p.ecam_mapped ? ", ECAM uncached" : "");
  } else {
    fmt::println(con, "paging: loader's tables kept (", p.problem ? p.problem : "?", "); no ECAM access");
  }
}

struct PcieStepResult {
  bool ran = false;         // the reset sequence ran
  uint64_t elapsed_us = 0;  // the whole step, on the delay clock
};

// Whether the block asks for --pcie-order=overlap (an unknown
// value is taken as serial, the order that never resets before a verdict).
[[nodiscard]] constexpr bool overlap_requested(const abi::Config* config) {
  return config != nullptr && config->pcie.mode == static_cast<uint32_t>(abi::PcieMode::kReset) &&
         config->pcie.order == static_cast<uint32_t>(abi::PcieOrder::kOverlap);
}

// Under overlap, when the run stops between the PCIe step's halves
// (a damaged image, or a fault in verification or the backup copy, which the
// exception handler reports), what was already done to the devices: the
// line, and true; nothing when no reset was left unfinished.
template <class Sink>
bool print_left_in_reset_by_overlap(Sink& con, const pcie::Workspace& ws) {
  if (!ws.begun) return false;
  fmt::println(con, "pcie: order overlap: ", fmt::dec(ws.plan.port_count), " port", ws.plan.port_count == 1 ? "" : "s",
               " reset (", fmt::dec(ws.plan.endpoint_count), " endpoints below), ",
               fmt::dec(ws.plan.function_reset_count), " functions reset by flr or class, ",
               fmt::dec(ws.plan.stop_count), " stopped before verification; none restored");
  return true;
}

// The TSC as the delay clock reads it.
template <class M>
struct TscReader {
  M* machine;
  uint64_t operator()() const { return machine->read_tsc(); }
};

// The PCIe step in two halves (lib/pcie/quiesce.h begin_quiesce,
// finish_quiesce): serial runs them back to back after verification;
// overlap runs begin() before it, tick() between its chunks and finish()
// after the backup copy. `config` is null when the block was refused: PCIe
// is then off. The object lives in the flow's frame, above any resume point:
// after a fault in a half, abandon_pcie() below undoes what the core did.
template <class T>
T& declared_reference();  // for decltype only: never defined

template <PcieMachine M, class Console>
class PcieStep {
  using PortIo = std::remove_reference_t<decltype(declared_reference<M>().port_io())>;
  using Delay = clock::DelayClock<PortIo, TscReader<M>>;

 public:
  PcieStep(M& machine, Console& con, const abi::Config* config, report::Report& report)
      : machine_(machine), con_(con), config_(config), report_(report),
        delay_(machine.port_io(), TscReader<M>{&machine}) {}

  // Checks, the delay clock, discovery, policy, and every reset started.
  // False when nothing was started (the reason printed).
  bool begin() {
    if (config_ == nullptr || config_->pcie.mode != static_cast<uint32_t>(abi::PcieMode::kReset)) {
      fmt::println(con_, "pcie: off");
      return false;
    }
    const abi::PcieSettings& settings = config_->pcie;
    if (settings.ecam_count == 0) {
      fmt::println(con_, "pcie: not reset: the configuration block has no ECAM window");
      return false;
    }
    const PagingSummary paging = machine_.paging_summary();
    if (!paging.ecam_mapped) {
      fmt::println(con_, "pcie: not reset: ECAM not mapped (", paging.problem ? paging.problem : "no window", ")");
      return false;
    }
    // The delay clock: the plugin's TSC frequency checked against the PIT.
    // Under overlap the 10 ms calibration would sit inside the DMA window:
    // the PIT is the clock from the start when it counts (checked in
    // microseconds), and an invariant TSC is measured against it while the
    // devices settle (clock::DelayClock::measure_tsc_later), the clock
    // going over to it when it agrees; finish() says what was chosen.
    const bool invariant = machine_.tsc_invariant();
    const bool overlap = overlap_requested(config_);
    const bool pit_ok = overlap && clock::pit_counts(machine_.port_io());
    const bool quick = overlap && (!invariant || pit_ok);
    measure_later_ = overlap && invariant && pit_ok;
    const uint64_t pit_hz = quick ? (pit_ok ? 1 : 0)
                                  : overlap ? 0 : clock::calibrate_tsc_hz(machine_.port_io(), TscReader<M>{&machine_});
    const clock::DelayChoice choice =
        measure_later_ ? clock::DelayChoice{clock::DelaySource::kPit, clock::DelayReason::kTscMeasuredLater, 0}
                       : clock::choose_delay_clock(invariant, config_->tsc_hz, pit_hz);
    if (choice.source == clock::DelaySource::kNone) {
      fmt::println(con_, "pcie: not reset: no clock for the delays (", clock::delay_reason_text(choice.reason), ")");
      return false;
    }
    // Under overlap these two lines come after the resets started (and the
    // console holds its output until then: lib/flow.h).
    auto say_clock_and_order = [&] {
      if (measure_later_) {
        fmt::println(con_, "pcie: delays on the pit until the tsc is measured against it (",
                     clock::delay_reason_text(choice.reason), "; tsc ", fmt::dec(config_->tsc_hz / 1000),
                     " kHz from the loader)");
      } else if (quick) {
        fmt::println(con_, "pcie: delays on the pit (", clock::delay_reason_text(choice.reason), "; tsc ",
                     fmt::dec(config_->tsc_hz / 1000), " kHz from the loader; the pit counts, not measured against it)");
      } else {
        fmt::println(con_, "pcie: delays on the ", choice.source == clock::DelaySource::kTsc ? "tsc" : "pit", " (",
                     clock::delay_reason_text(choice.reason), "; tsc ", fmt::dec(config_->tsc_hz / 1000),
                     " kHz from the loader, ", fmt::dec(pit_hz / 1000), " kHz against the pit)");
      }
      fmt::println(con_, overlap
                             ? "pcie: order overlap: devices reset first, the image verified during their settle time"
                             : "pcie: order serial: the image verified first, then the devices reset");
    };
    if (!overlap) say_clock_and_order();
    delay_.select(choice);
    if (measure_later_) delay_.measure_tsc_later(config_->tsc_hz);
    start_us_ = delay_.now_us();
    start_tsc_ = machine_.read_tsc();
    auto&& space = machine_.pcie_config_space(settings);  // a backend by value (ECAM) or a reference (tests)
    auto&& mmio = machine_.pcie_mmio();
    started_ = pcie::begin_quiesce(space, mmio, delay_, con_, settings, machine_.pcie_workspace(),
                                   &config_->pcie_rules);
    if (overlap) say_clock_and_order();
    return started_;
  }

  // Between verification chunks: the delay clock read (the PIT must be read
  // once per 55 ms turn), the fast ports' links polled.
  void tick() {
    if (!started_) return;
    (void)delay_.now_us();  // the PIT's turn counted (PitClock: once per 55 ms at least)
    auto&& space = machine_.pcie_config_space(config_->pcie);
    pcie::poll_quiesce(space, delay_, machine_.pcie_workspace());
  }

  // The rest of every settle time, readiness, restore, the report lines.
  PcieStepResult finish() {
    PcieStepResult out;
    if (!started_) return out;
    started_ = false;
    const abi::PcieSettings& settings = config_->pcie;
    auto&& space = machine_.pcie_config_space(settings);
    auto&& mmio = machine_.pcie_mmio();
    pcie::Workspace& ws = machine_.pcie_workspace();
    const pcie::Totals totals = pcie::finish_quiesce(space, mmio, delay_, con_, settings, ws, &config_->pcie_rules);
    if (measure_later_) say_measured(ws);
    // Where the time went, for whoever reads a slow reset: the phases of the
    // one parallel sequence, on the delay clock.
    const pcie::Timeline& tl = ws.reset.timeline;
    if (totals.ports != 0) {
      const uint64_t settle_from = tl.settle_end_us - uint64_t{ws.plan.bus_reset_settle_ms} * 1000;  // a known slow device may lengthen it
      fmt::println(con_, "pcie: timeline: assert ", fmt::dec(tl.last_assert_us - tl.first_assert_us), " us, hold ",
                   fmt::dec(tl.first_clear_us - tl.last_assert_us), " us, link wait ",
                   fmt::dec(settle_from - tl.last_clear_us), " us (", fmt::dec(ws.reset.totals.links_not_up),
                   " links not up), settle to ", fmt::dec(tl.settle_end_us - tl.last_clear_us), " us, ready at ",
                   fmt::dec(tl.ready_end_us - tl.last_clear_us), " us, end at ", fmt::dec(tl.end_us - tl.last_clear_us),
                   " us after the clear");
    }
    const pcie::FunctionTimeline& ft = ws.functions.timeline;
    if (ws.plan.function_reset_count != 0 || ws.plan.stop_count != 0) {
      fmt::println(con_, "pcie: functions: stop ", fmt::dec(ft.stopped_us - ft.start_us), " us, pending wait ",
                   fmt::dec(ft.pending_end_us - ft.stopped_us), " us (", fmt::dec(ws.functions.totals.transactions_left),
                   " left), flr wait to ", fmt::dec(ft.flr_settle_end_us - ft.start_us), " us, end at ",
                   fmt::dec(ft.end_us - ft.start_us), " us");
    }
    out.ran = true;
    out.elapsed_us = delay_.now_us() - start_us_;
    report_.reset = totals.reset;
    report_.stop = totals.stop;
    report_.skip = totals.skip;
    report_.fail = totals.fail;
    if (delay_.stalled()) fmt::println(con_, "pcie: the pit stopped counting: the delays above were not timed");
    return out;
  }

  // Before the halting or rebooting line of a damaged image under overlap:
  // what was already done to the devices (nothing restored).
  void print_left_in_reset() {
    if (started_) (void)print_left_in_reset_by_overlap(con_, machine_.pcie_workspace());
  }

  // Overlap: where the DMA window went, on one line after the
  // resets started (the parts add up to the times: line's dma window):
  //   pcie: dma window 9120 us: to the pcie step 610 us, discovery and policy
  //   2100 us (233 config reads), functions stopped or started 40 us, ports read and
  //   endpoints saved 350 us, asserts 6020 us
  void print_window(const clock::Clock& clk, uint64_t entry_tsc) {
    if (!started_) return;
    const pcie::Workspace& ws = machine_.pcie_workspace();
    const uint64_t to_step = clk.to_us(start_tsc_ - entry_tsc);
    const pcie::FunctionTimeline& ft = ws.functions.timeline;
    const pcie::Timeline& tl = ws.reset.timeline;
    auto span = [](uint64_t from, uint64_t to) { return to > from ? to - from : 0; };
    const uint64_t window = devices_stopped_after_us(clk, entry_tsc, 0);
    fmt::println(con_, "pcie: dma window ", fmt::dec(window), " us: to the pcie step ", fmt::dec(to_step),
                 " us, discovery and policy ", fmt::dec(span(start_us_, ft.start_us)), " us (",
                 fmt::dec(ws.topology.config_reads), " config reads), functions stopped or started ",
                 fmt::dec(span(ft.start_us, tl.start_us)), " us, ports read and endpoints saved ",
                 fmt::dec(span(tl.start_us, tl.first_assert_us)), " us, asserts ",
                 fmt::dec(span(tl.first_assert_us, tl.last_assert_us)), " us");
  }

  // Microseconds on the flow's TSC from `entry_tsc` to the last device put
  // in reset or stopped; `otherwise` when no device was touched.
  [[nodiscard]] uint64_t devices_stopped_after_us(const clock::Clock& clk, uint64_t entry_tsc, uint64_t otherwise) {
    constexpr uint64_t kNone = ~uint64_t{0};
    if (start_tsc_ == 0) return otherwise;
    const uint64_t at = pcie::devices_stopped_us(machine_.pcie_workspace(), kNone);
    if (at == kNone) return otherwise;
    return clk.to_us(start_tsc_ - entry_tsc) + (at > start_us_ ? at - start_us_ : 0);
  }

  [[nodiscard]] bool started() const { return started_; }
  [[nodiscard]] uint64_t start_tsc() const { return start_tsc_; }

 private:
  // Overlap with an invariant TSC: what its measurement against the PIT,
  // made during the settle time, chose.
  void say_measured(const pcie::Workspace& ws) {
    const clock::DelayChoice& c = delay_.measured_choice();
    if (delay_.measured_hz() == 0) {
      fmt::println(con_, "pcie: delays stayed on the pit (the tsc could not be measured against it)");
      return;
    }
    const uint64_t clear = ws.reset.timeline.last_clear_us;
    if (c.source == clock::DelaySource::kTsc) {
      const uint64_t at = delay_.switched_at_us();
      fmt::print(con_, "pcie: delays on the tsc from ", fmt::dec(at > clear ? (at - clear) / 1000 : 0),
                 " ms after the clear (");
    } else {
      fmt::print(con_, "pcie: delays stayed on the pit (");
    }
    fmt::println(con_, clock::delay_reason_text(c.reason), "; tsc ", fmt::dec(config_->tsc_hz / 1000),
                 " kHz from the loader, ", fmt::dec(delay_.measured_hz() / 1000),
                 " kHz against the pit, measured while the devices settled)");
  }

  M& machine_;
  Console& con_;
  const abi::Config* config_;
  report::Report& report_;
  Delay delay_;
  bool started_ = false;
  bool measure_later_ = false;  // overlap, invariant TSC, the PIT counts
  uint64_t start_us_ = 0;
  uint64_t start_tsc_ = 0;  // 0: begin() never reached the reset
};

// Serial: both halves at once. `config` is null when the block was refused.
template <PcieMachine M, class Console>
PcieStepResult quiesce_pcie(M& machine, Console& con, const abi::Config* config, report::Report& report) {
  PcieStep<M, Console> step(machine, con, config, report);
  if (!step.begin()) return PcieStepResult{};
  return step.finish();
}

// After a fault abandoned quiesce_pcie (lib/fault.h): clear
// Secondary Bus Reset on every port the sequence left asserted
// (pcie::abandon_reset), then give the devices below them the settle time
// before the next kernel's first config request (PCIe r6.0 §6.6.1), on
// `wait_us`. What is safe to use here: the workspace (a global, written by
// the core in plain stores; its ports' saved Bridge Control values precede
// their asserting write) and the ECAM mapping (the core never changes page
// tables for config space); nothing on the abandoned stack. Returns the
// number of ports cleared.
template <PcieMachine M, class Console, class WaitUs>
uint16_t abandon_pcie(M& machine, Console& con, const abi::Config& config, WaitUs&& wait_us) {
  pcie::Workspace& ws = machine.pcie_workspace();
  auto&& space = machine.pcie_config_space(config.pcie);
  const uint16_t cleared = pcie::abandon_reset(space, ws.topology, ws.plan, ws.reset);
  if (cleared == 0) {
    fmt::println(con, "pcie: abandoned: no port was left in reset");
    return 0;
  }
  const uint32_t settle_ms = pcie::settings_from_abi(config.pcie).settle_ms;
  fmt::println(con, "pcie: abandoned: cleared Secondary Bus Reset on ", fmt::dec(cleared), " port",
               cleared == 1 ? "" : "s", "; settle ", fmt::dec(settle_ms), " ms; endpoints not restored");
  for (uint32_t ms = 0; ms < settle_ms; ++ms) wait_us(1000);
  return cleared;
}

}  // namespace limbo::flow
