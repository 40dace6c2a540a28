// SPDX-License-Identifier: GPL-2.0-only
// What a fault (any exception but an NMI: a #UD, #GP, #PF, a machine check)
// costs, by the phase of the flow it hits. Portable: the arch
// exception handler asks decide() and carries the answer out; host tests
// check the rule itself.
//
//   setup, verify      nothing is known safe to jump to: --on-fault (reboot
//                      by default, as stock's triple fault; or halt)
//   pcie               after verification; Limbo's optional work: abandon the
//                      rest of the phase (clear Secondary Bus Reset on every
//                      port already asserted), report pcie:fault, jump
//   post-verify        kexec-tools' backup copy, which the dump describes:
//                      --on-fault (a jump without it is not stock's jump)
//   report             the command-line texts: skip them and jump
//   leave              page tables and CR4 going back before the jump: --on-fault
//   a fault inside a handler, or one in a phase already resumed from: --on-fault
#pragma once

#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/format.h"

namespace limbo::fault {

enum class Phase : uint8_t {
  kSetup,       // from entry to the start of verification
  kVerify,      // the digest and zero-fill checks
  kPcie,        // the PCIe quiesce (lib/flow_pcie.h): optional work
  kPcieUndo,    // after a fault in kPcie: clearing Secondary Bus Reset
  kPostVerify,  // kexec-tools' backup copy
  kReport,      // the command-line texts: optional work
  kLeave,       // the loader's page tables and CR4 back, the jump
};

[[nodiscard]] constexpr const char* phase_name(Phase p) {
  switch (p) {
    case Phase::kSetup: return "setup";
    case Phase::kVerify: return "verify";
    case Phase::kPcie: return "pcie";
    case Phase::kPcieUndo: return "pcie undo";
    case Phase::kPostVerify: return "post-verify";
    case Phase::kReport: return "report";
    case Phase::kLeave: return "leave";
  }
  return "?";
}

enum class Action : uint8_t {
  kResume,  // back to the flow's resume point for this phase: abandon it, go on to the jump
  kReboot,  // --on-fault=reboot: the reset ways, then a triple fault
  kHalt,    // --on-fault=halt
};

[[nodiscard]] constexpr Action configured(uint32_t on_fault) {
  return on_fault == static_cast<uint32_t>(abi::OnFault::kHalt) ? Action::kHalt : Action::kReboot;
}

// `resume_armed`: the flow set a resume point for this phase and has not
// used it yet (a second fault in the same phase, e.g. in the PCIe undo, is
// not resumed again). `nested`: the fault hit a fault handler.
// `on_fault`: the block's OnFault, or kReboot when the block was refused.
[[nodiscard]] constexpr Action decide(Phase phase, bool resume_armed, bool nested, uint32_t on_fault) {
  if (nested) return configured(on_fault);
  const bool optional = phase == Phase::kPcie || phase == Phase::kPcieUndo || phase == Phase::kReport;
  if (optional && resume_armed) return Action::kResume;
  return configured(on_fault);
}

// The console line after the diagnosis; the first word of a stop is the
// one a reader (and the QEMU harness) looks for, as for a damaged image:
//   fault in the pcie phase: abandoning it; going on to the jump
//   rebooting: fault in the verify phase (--on-fault=reboot); not jumping
//   halting: fault inside the fault handler (--on-fault=halt); not jumping
template <class Sink>
void print_decision(Sink& sink, Phase phase, Action action, bool nested) {
  auto where = [&] {
    if (nested) {
      fmt::print(sink, "fault inside the fault handler");
    } else {
      fmt::print(sink, "fault in the ", phase_name(phase), " phase");
    }
  };
  if (action == Action::kResume) {
    where();
    fmt::println(sink, ": abandoning it; going on to the jump");
    return;
  }
  const bool halt = action == Action::kHalt;
  fmt::print(sink, halt ? "halting: " : "rebooting: ");
  where();
  fmt::println(sink, halt ? " (--on-fault=halt); not jumping" : " (--on-fault=reboot); not jumping");
}

}  // namespace limbo::fault
