// SPDX-License-Identifier: GPL-2.0-only
// The flow's PCIe step (issue 3): after the image verified and before the
// backup copy, the report and the jump, stop every eligible endpoint with a
// secondary bus reset (lib/pcie/quiesce.h) on a clock chosen here: the TSC
// when it is invariant and agrees with the PIT, else the PIT itself.
//
// Machine requirements (beyond lib/flow.h's):
//   PagingSummary paging_summary();        what the arch code did with the page tables
//   bool tsc_invariant();                  CPUID 8000_0007h EDX[8]
//   <ConfigSpace> pcie_config_space(const abi::PcieSettings&);  over the block's ECAM windows
//   pcie::Workspace& pcie_workspace();     not on the stack (tens of KiB)
//   <pcie::Mmio> pcie_mmio();              the class resets' BAR registers (maps them uncached)
#pragma once

#include <stddef.h>
#include <stdint.h>

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

// The PCIe core prints whole lines that begin "limbo: " (its plan view needs
// them); the console adds that prefix itself. This sink drops the core's copy.
template <class Console>
class UnprefixedSink {
 public:
  explicit UnprefixedSink(Console& con) : con_(con) {}
  void put(char c) {
    if (matched_ >= 0) {
      if (matched_ < kLength && c == kPrefix[matched_]) {
        if (++matched_ == kLength) matched_ = -1;  // dropped whole
        return;
      }
      for (int i = 0; i < matched_; ++i) con_.put(kPrefix[i]);  // not the prefix after all
      matched_ = -1;
    }
    con_.put(c);
    if (c == '\n') matched_ = 0;
  }

 private:
  static constexpr char kPrefix[] = "limbo: ";
  static constexpr int kLength = sizeof(kPrefix) - 1;
  Console& con_;
  int matched_ = 0;  // >= 0: at a line start, this many prefix bytes held back
};

struct PcieStepResult {
  bool ran = false;         // the reset sequence ran
  uint64_t elapsed_us = 0;  // the whole step, on the delay clock
};

// `config` is null when the block was refused: PCIe is then off.
template <class Machine, class Console>
PcieStepResult quiesce_pcie(Machine& machine, Console& con, const abi::Config* config, report::Report& report) {
  PcieStepResult out;
  if (config == nullptr || config->pcie.mode != static_cast<uint32_t>(abi::PcieMode::kReset)) {
    fmt::println(con, "pcie: off");
    return out;
  }
  const abi::PcieSettings& settings = config->pcie;
  if (settings.ecam_count == 0) {
    fmt::println(con, "pcie: not reset: the configuration block has no ECAM window");
    return out;
  }
  const PagingSummary paging = machine.paging_summary();
  if (!paging.ecam_mapped) {
    fmt::println(con, "pcie: not reset: ECAM not mapped (", paging.problem ? paging.problem : "no window", ")");
    return out;
  }

  // The delay clock: the plugin's TSC frequency checked against the PIT.
  auto read_tsc = [&machine] { return machine.read_tsc(); };
  const uint64_t pit_hz = clock::calibrate_tsc_hz(machine.port_io(), read_tsc);
  const clock::DelayChoice choice = clock::choose_delay_clock(machine.tsc_invariant(), config->tsc_hz, pit_hz);
  if (choice.source == clock::DelaySource::kNone) {
    fmt::println(con, "pcie: not reset: no clock for the delays (", clock::delay_reason_text(choice.reason), ")");
    return out;
  }
  fmt::println(con, "pcie: delays on the ", choice.source == clock::DelaySource::kTsc ? "tsc" : "pit", " (",
               clock::delay_reason_text(choice.reason), "; tsc ", fmt::dec(config->tsc_hz / 1000),
               " kHz from the loader, ", fmt::dec(pit_hz / 1000), " kHz against the pit)");
  clock::DelayClock<decltype(machine.port_io()), decltype(read_tsc)> delay(machine.port_io(), read_tsc, choice);

  const uint64_t start_us = delay.now_us();
  auto&& space = machine.pcie_config_space(settings);  // a backend by value (ECAM) or a reference (tests)
  UnprefixedSink<Console> sink(con);
  pcie::Workspace& ws = machine.pcie_workspace();
  auto&& mmio = machine.pcie_mmio();
  const pcie::Totals totals = pcie::quiesce(space, mmio, delay, sink, settings, ws, &config->pcie_rules);
  // Where the time went, for whoever reads a slow reset: the phases of the
  // one parallel sequence, on the delay clock.
  const pcie::Timeline& tl = ws.reset.timeline;
  if (totals.ports != 0) {
    const uint64_t settle_from = tl.settle_end_us - uint64_t{ws.plan.bus_reset_settle_ms} * 1000;  // issue 17: a known slow device may lengthen it
    fmt::println(con, "pcie: timeline: assert ", fmt::dec(tl.last_assert_us - tl.first_assert_us), " us, hold ",
                 fmt::dec(tl.first_clear_us - tl.last_assert_us), " us, link wait ",
                 fmt::dec(settle_from - tl.last_clear_us), " us (", fmt::dec(ws.reset.totals.links_not_up),
                 " links not up), settle to ", fmt::dec(tl.settle_end_us - tl.last_clear_us), " us, ready at ",
                 fmt::dec(tl.ready_end_us - tl.last_clear_us), " us, end at ", fmt::dec(tl.end_us - tl.last_clear_us),
                 " us after the clear");
  }
  const pcie::FunctionTimeline& ft = ws.functions.timeline;
  if (ws.plan.function_reset_count != 0 || ws.plan.stop_count != 0) {
    fmt::println(con, "pcie: functions: stop ", fmt::dec(ft.stopped_us - ft.start_us), " us, pending wait ",
                 fmt::dec(ft.pending_end_us - ft.stopped_us), " us (", fmt::dec(ws.functions.totals.transactions_left),
                 " left), flr wait to ", fmt::dec(ft.flr_settle_end_us - ft.start_us), " us, end at ",
                 fmt::dec(ft.end_us - ft.start_us), " us");
  }
  out.ran = true;
  out.elapsed_us = delay.now_us() - start_us;
  report.reset = totals.reset;
  report.stop = totals.stop;
  report.skip = totals.skip;
  report.fail = totals.fail;
  if (delay.stalled()) fmt::println(con, "pcie: the pit stopped counting: the delays above were not timed");
  return out;
}

// After a fault abandoned quiesce_pcie (issue 20; lib/fault.h): clear
// Secondary Bus Reset on every port the sequence left asserted
// (pcie::abandon_reset), then give the devices below them the settle time
// before the next kernel's first config request (PCIe r6.0 §6.6.1), on
// `wait_us`. What is safe to use here: the workspace (a global, written by
// the core in plain stores; its ports' saved Bridge Control values precede
// their asserting write) and the ECAM mapping (the core never changes page
// tables for config space); nothing on the abandoned stack. Returns the
// number of ports cleared.
template <class Machine, class Console, class WaitUs>
uint16_t abandon_pcie(Machine& machine, Console& con, const abi::Config& config, WaitUs&& wait_us) {
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
