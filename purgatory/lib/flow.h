// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's top-level flow, in the order it runs: set up what the loader
// asked for, verify the loaded image, do kexec-tools' post-verification work,
// write the report, decide to jump. Portable: a `Machine` (the concept below)
// supplies port I/O, the console, the TSC and physical memory, so host tests
// run it on fakes.
#pragma once

#include <concepts>
#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/clock.h"
#include "lib/console.h"
#include "lib/fault.h"
#include "lib/format.h"
#include "lib/flow_log.h"
#include "lib/flow_pcie.h"
#include "lib/nmi.h"
#include "lib/pic8259.h"
#include "lib/reboot.h"
#include "lib/report.h"
#include "lib/sha256.h"
#include "lib/verify/step.h"
#include "lib/vga.h"
#include "lib/version.h"

namespace limbo::flow {

// What the flow asks of the machine: verification's (verify::VerifyMachine:
// console, TSC, physical memory, SHA-256 engine), the PCIe step's
// (PcieMachine: port I/O, page tables, config space, workspace, BAR
// registers), and a console it can configure and drain.
// Optional, asked with `requires` where used: set_phase(fault::Phase) tells
// the exception handler where the flow is and guarded(phase, fn) runs fn()
// with a resume point set, returning false when a fault abandoned it (issue
// 20, lib/fault.h); nmi_record(); log_clock(hz) and log_node() (lib/log.h).
template <class T>
concept Machine = verify::VerifyMachine<T> && PcieMachine<T> &&
                  requires(T& machine, const console::Settings& settings) {
                    machine.console().configure(settings);
                    machine.console().drain();
                  };

// A copy of every variable the loader wrote (limbo_abi.h
// LIMBO_ABI_LOADER_VARIABLES), taken at entry, plus the one the entry code
// saved.
struct LoaderVariables {
#define LIMBO_LOADER_VARIABLE(name, type, size, writer, initial) type name;
  LIMBO_ABI_LOADER_VARIABLES(LIMBO_LOADER_VARIABLE)
#undef LIMBO_LOADER_VARIABLE
};

// to = from, for a loader variable of any type (arrays element by element).
template <class T>
void copy_variable(T& to, const T& from) {
  if constexpr (requires { to = from; }) {
    to = from;
  } else {
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); ++i) copy_variable(to[i], from[i]);
  }
}

enum class Outcome : uint8_t {
  kJump,    // jump through entry64_regs
  kHalt,    // the image failed verification: stop the CPU, never jump
  kReboot,  // it failed and --on-corruption=reboot: every reset way was tried; the caller triple-faults
};

// Phase times for the console's "times:" line, in microseconds from the TSC.
struct PhaseTimes {
  uint64_t verify_us = 0;
  uint64_t pcie_us = 0;  // set by the PCIe phase (under overlap it spans the verification)
  // From entry to the last device put in reset or stopped (the
  // last Secondary Bus Reset asserted); the whole time when none was.
  uint64_t dma_window_us = 0;
};

// Why a configuration block was refused (nothing when it was accepted).
struct ConfigCheck {
  bool accepted;
  uint64_t tsc_hz;  // from the block when accepted, else 0 (unknown)
};

[[nodiscard]] constexpr ConfigCheck check_config(const abi::Config& config) {
  const bool ok = config.magic == abi::kConfigMagic && config.version == abi::kConfigVersion &&
                  config.size == sizeof(abi::Config);
  return ConfigCheck{ok, ok ? config.tsc_hz : 0};
}

template <class M>
void enter_phase(M& machine, fault::Phase phase) {
  if constexpr (requires { machine.set_phase(phase); }) machine.set_phase(phase);
}

// fn() under a resume point for `phase`: true when it returned, false when a
// fault in it was resumed from (the handler has printed the fault).
template <class M, class Fn>
[[nodiscard]] bool run_guarded(M& machine, fault::Phase phase, Fn&& fn) {
  if constexpr (requires { machine.guarded(phase, fn); }) {
    return machine.guarded(phase, fn);
  } else {
    enter_phase(machine, phase);
    fn();
    return true;
  }
}

// kexec-tools' post-verification work: for a crash kernel, the backup
// region's copy, in chunks of verify::kChunkBytes with `between()` after
// each (under --pcie-order=overlap it runs inside the devices' settle time).
template <class M, class Console, class Between>
void copy_backup(M& machine, Console& con, const LoaderVariables& vars, Between& between) {
  if (!vars.panic_kernel) return;
  if (vars.backup_src_size == 0 || vars.backup_start == 0) {
    fmt::println(con, "backup: none requested");
    return;
  }
  uint8_t* dst = machine.phys(vars.backup_start);
  const uint8_t* src = machine.phys(vars.backup_src_start);
  for (uint64_t at = 0; at < vars.backup_src_size;) {
    const uint64_t end = vars.backup_src_size - at < verify::kChunkBytes ? vars.backup_src_size : at + verify::kChunkBytes;
    for (; at < end; ++at) dst[at] = src[at];
    between();
  }
  fmt::println(con, "backup: copied 0x", fmt::hex(vars.backup_src_size), " bytes from 0x",
               fmt::hex(vars.backup_src_start), " to 0x", fmt::hex(vars.backup_start));
}

template <Machine M>
[[nodiscard]] Outcome run(M& machine, const LoaderVariables& vars, uint64_t entry_tsc,
                          report::Report& report) {
  auto& con = machine.console();
  enter_phase(machine, fault::Phase::kSetup);

  // 1. What the loader asked for before any output.
  if (vars.reset_vga) vga::set_text_mode3(machine.port_io());
  if (vars.legacy_pic) pic::init_legacy(machine.port_io());
  con.configure(console::Settings{vars.console_serial != 0, vars.serial_base, vars.serial_baud,
                                  vars.console_vga != 0});
  // --pcie-order=overlap: the lines up to the devices' reset are
  // held and written right after it (console::Console::hold): printing them
  // first would keep the devices running that much longer. The log stamps
  // each line when it was made.
  const bool hold_lines = overlap_requested(check_config(vars.limbo_config).accepted ? &vars.limbo_config : nullptr);
  if constexpr (requires { con.hold(); }) {
    if (hold_lines) con.hold();
  }

  fmt::println(con, "Limbo purgatory ", kVersion, " entered, jump_back_entry 0x",
               fmt::hex(vars.jump_back_entry), ", panic_kernel ", fmt::dec(vars.panic_kernel));

  // 2. Configuration block and the clock.
  const ConfigCheck config = check_config(vars.limbo_config);
  if (!config.accepted) {
    fmt::println(con, "config block refused: magic 0x", fmt::hex(vars.limbo_config.magic),
                 " version ", fmt::dec(vars.limbo_config.version), " size ",
                 fmt::dec(vars.limbo_config.size), " (expected magic 0x", fmt::hex(abi::kConfigMagic),
                 " version ", fmt::dec(abi::kConfigVersion), " size ", fmt::dec(sizeof(abi::Config)),
                 "); using defaults");
  }
  clock::Clock clk(config.tsc_hz);
  if (clk.known()) {
    fmt::println(con, "tsc ", fmt::dec(clk.hz() / 1000), " kHz");
  } else {
    fmt::println(con, "tsc frequency unknown");
    const uint64_t hz = clock::calibrate_tsc_hz(machine.port_io(), [&machine] { return machine.read_tsc(); });
    clk = clock::Clock(hz);
    if (clk.known()) {
      fmt::println(con, "tsc calibrated against the 8254 PIT: ", fmt::dec(hz / 1000), " kHz");
    } else {
      fmt::println(con, "tsc calibration failed (PIT counter 2 never expired); times read 0");
    }
  }

  set_log_clock(machine, clk.hz());

  print_paging(con, machine.paging_summary());

  // 3. Verification (lib/verify/step.h): per-segment digests and zero-fill
  // scan when the config block describes the segments, else the full hash.
  // --pcie-order=overlap: every device reset is started first (the
  // PCIe step's first half) and the verification runs during the settle
  // time, keeping the PCIe delay clock counting between its chunks.
  PhaseTimes times;
  const abi::Config* accepted = config.accepted ? &vars.limbo_config : nullptr;
  PcieStep<M, std::remove_reference_t<decltype(con)>> pcie(machine, con, accepted, report);
  const bool overlap = overlap_requested(accepted);
  auto wait_us = [&machine, &clk](uint32_t us) { reboot::busy_wait_us(machine, clk, us); };
  const uint64_t pcie_start = machine.read_tsc();
  // A PCIe half under a resume point: a fault in it abandons the phase
  // (lib/fault.h): no port left in reset, then on.
  bool pcie_abandoned = false;
  auto guard_pcie = [&](auto&& half) {
    if (pcie_abandoned) return;
    if (run_guarded(machine, fault::Phase::kPcie, half)) return;
    pcie_abandoned = true;
    report.pcie_fault = true;
    // accepted: the phase does nothing without the block.
    const bool undone = run_guarded(machine, fault::Phase::kPcieUndo,
                                    [&] { (void)abandon_pcie(machine, con, vars.limbo_config, wait_us); });
    if (!undone) fmt::println(con, "pcie: abandoned: a fault while clearing Secondary Bus Reset; a port may stay in reset");
    // The phase's own clock went with it: its time on the flow's, to the end of the undo.
    times.pcie_us = clk.to_us(machine.read_tsc() - pcie_start);
  };
  if (overlap) {
    guard_pcie([&] {
      if (pcie.begin()) pcie.print_window(clk, entry_tsc);
    });
  }
  if constexpr (requires { con.release(); }) {
    if (hold_lines) con.release();
  }
  auto between_chunks = [&pcie] { pcie.tick(); };

  enter_phase(machine, fault::Phase::kVerify);
  if (vars.skip_checks != 0) {
    report.verify = report::Verify::kSkipped;
    fmt::println(con, "sha256: skipped (skip_checks set)");
  } else {
    const uint64_t start = machine.read_tsc();
    const bool intact =
        verify::verify_image(machine, vars.sha256_regions, vars.sha256_digest, accepted, clk, between_chunks);
    times.verify_us = clk.to_us(machine.read_tsc() - start);
    if (!intact) {
      // Under overlap the devices are already reset: say so, then stop as configured.
      pcie.print_left_in_reset();
      if (accepted && accepted->on_corruption == static_cast<uint32_t>(abi::OnCorruption::kReboot)) {
        fmt::println(con, "rebooting: the loaded image failed verification; not jumping");
        const bool own_tables = machine.paging_summary().own_tables;
        reboot::reset_machine(
            machine.port_io(), con, accepted->reset_register,
            [&machine, &clk](uint32_t us) { reboot::busy_wait_us(machine, clk, us); },
            [&machine, own_tables](uint64_t address, uint8_t value) {
              if (!own_tables) return false;
              *reinterpret_cast<volatile uint8_t*>(machine.phys(address)) = value;
              return true;
            });
        return Outcome::kReboot;
      }
      fmt::println(con, "halting: the loaded image failed verification; not jumping");
      con.drain();
      return Outcome::kHalt;
    }
    report.verify = report::Verify::kOk;
  }

  // 4. PCIe quiesce (lib/flow_pcie.h): the image is good, the jump will
  // happen; stop the devices before anything the next kernel reads is final.
  // Serial: both halves now, then kexec-tools' backup copy. Overlap: the
  // backup copy still inside the settle time, then the second half.
  if (!overlap) {
    guard_pcie([&] {
      if (pcie.begin()) times.pcie_us = pcie.finish().elapsed_us;
    });
  }
  enter_phase(machine, fault::Phase::kPostVerify);
  copy_backup(machine, con, vars, between_chunks);
  if (overlap && !pcie_abandoned) {
    guard_pcie([&] { times.pcie_us = pcie.finish().elapsed_us; });
    enter_phase(machine, fault::Phase::kPostVerify);
  }
  times.dma_window_us = pcie.devices_stopped_after_us(clk, entry_tsc, clk.to_us(machine.read_tsc() - entry_tsc));

  // 4c. NMIs: the handler prints the first one only when the console is
  // between lines; here every one is accounted for, before the report.
  if constexpr (requires { machine.nmi_record(); }) {
    const NmiRecord nmis = machine.nmi_record();
    if (nmis.count != 0) {
      fmt::println(con, "nmi: ", fmt::dec(nmis.count), " received in the purgatory, each returned from (the first at rip 0x",
                   fmt::hex(nmis.first_rip), nmis.first_printed ? ")" : "; not printed then: the console was mid-line)");
    }
  }

  // 5. Command-line texts: kexec-tools' jump-back entry first, then the
  // report. A fault while writing them skips them (lib/fault.h).
  const abi::Entry64Regs& regs = vars.entry64_regs;
  const bool report_done = run_guarded(machine, fault::Phase::kReport, [&] {
    if (vars.cmdline_end == 0) {
      fmt::println(con, "report: no command line (cmdline_end 0), not written");
    } else {
      report::CmdlineAppender cmdline(reinterpret_cast<char*>(machine.phys(vars.cmdline_end)));
      char text[report::kCmdlineCapacity];
      if (vars.jump_back_entry != 0) {
        const size_t length = report::format_jump_back(vars.jump_back_entry, text, sizeof(text));
        if (cmdline.append(text, length) != report::AppendResult::kWritten) {
          fmt::println(con, "jump-back entry does not fit the command line; not written");
        }
      }
      const uint64_t ms = clk.to_ms_ceil(machine.read_tsc() - entry_tsc);
      const size_t length = report::format_report(report, ms, text, sizeof(text));
      if (length == 0 || cmdline.append(text, length) != report::AppendResult::kWritten) {
        fmt::println(con, "report does not fit the command line's ", fmt::dec(cmdline.room()),
                     " remaining spare bytes; not written");
      } else {
        fmt::println(con, "report \"", text, "\"");
      }
    }
  });
  if (!report_done) fmt::println(con, "report: abandoned after a fault; the command line may lack it");

  // 5b. The log (lib/flow_log.h): its node after kexec-tools' setup_data
  // nodes; the lines up to the jump still go into it. Optional work too.
  if constexpr (HasLog<M>) {
    if (!run_guarded(machine, fault::Phase::kReport, [&] { link_log(machine, con, regs.rsi, vars.sha256_regions); })) {
      fmt::println(con, "log: abandoned after a fault; the node may not be linked");
    }
  }
  enter_phase(machine, fault::Phase::kLeave);

  // 6. The jump itself is the caller's (arch code); say where it goes.
  fmt::println(con, "times: verify ", fmt::dec(times.verify_us), " us, pcie ", fmt::dec(times.pcie_us),
               " us, dma window ", fmt::dec(times.dma_window_us), " us, total ", fmt::dec(clk.to_us(machine.read_tsc() - entry_tsc)), " us");
  fmt::println(con, "jumping to 0x", fmt::hex(regs.rip), " (rsi 0x", fmt::hex(regs.rsi), ") after ",
               fmt::dec(clk.to_us(machine.read_tsc() - entry_tsc)), " us");
  con.drain();
  return Outcome::kJump;
}

}  // namespace limbo::flow
