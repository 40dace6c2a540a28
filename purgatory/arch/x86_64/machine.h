// SPDX-License-Identifier: GPL-2.0-only
// The x86-64 machine the portable flow runs on: real port I/O, the VGA text
// buffer at 0xb8000, the TSC, identity-mapped physical memory, and the one
// console shared with the exception handler.
#pragma once

#include <stdint.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/address_space.h"
#include "arch/x86_64/ecam.h"
#include "arch/x86_64/resume.h"
#include "lib/console.h"
#include "lib/fault.h"
#include "lib/flow_pcie.h"
#include "lib/log.h"
#include "lib/nmi.h"
#include "lib/pcie/quiesce.h"
#include "lib/sha256.h"
#include "lib/vga.h"

namespace limbo::arch {

// The text buffer's cells, read and written as volatile 16-bit words.
struct VgaCells {
  void write(int index, uint16_t cell) { cells()[index] = cell; }
  uint16_t read(int index) { return cells()[index]; }

 private:
  static volatile uint16_t* cells() { return reinterpret_cast<volatile uint16_t*>(vga::kTextBufferPhys); }
};

// The console every line goes through: serial/VGA as kexec-tools asked, and
// the log node (lib/log.h) whatever it asked.
struct ReadTsc {
  uint64_t operator()() const { return read_tsc(); }
};
using Console = log::LoggedConsole<console::Console<PortIo, VgaCells>, ReadTsc>;

// The log node: in .bss of the purgatory's segment; linked into
// the next kernel's setup_data chain by the flow (lib/flow.h).
abi::LogNode& log_node();

// simd_gate.cc: SHA-NI with SSE enabled when CPUID has it, else portable;
// the release puts CR0/CR4 back as they were at entry.
sha256::BlockFunction simd_gate_sha256();
void restore_control_after_simd();

// The one console (constant-initialised: no constructor runs in purgatory).
Console& the_console();

// The NMIs received so far (main.cc limbo_nmi, from entry.S).
flow::NmiRecord nmi_record();

// Where the flow is, for the exception handler (main.cc; lib/fault.h), and
// the one resume point: armed while run_guarded's fn runs.
void set_phase(fault::Phase phase);
ResumeContext& resume_context();
void arm_resume(bool armed);

#if defined(LIMBO_TEST_FAULT)
// TEST-ONLY builds (purgatory/purgatory.mk build/test-fault): ud2 where the
// capture kernel's command line asks (limbo.test_fault=verify|pcie).
void test_fault_in_verify();
void test_fault_in_handler();
#endif

// fn() with the resume point set for `phase`. A fault in it that
// fault::decide() resumes from comes back here through limbo_resume_to, on
// this frame's stack, with the handler having disarmed the point: false.
// Not inlined, so that the frame the point lives in is this one, whose only
// state across the save is its arguments.
template <class Fn>
[[gnu::noinline]] bool run_guarded(fault::Phase phase, Fn& fn) {
  set_phase(phase);
  if (limbo_resume_save(&resume_context()) != 0) return false;
  arm_resume(true);
  fn();
  arm_resume(false);
  return true;
}

// The PCIe quiesce's tables (tens of KiB): a global in .bss, not the stack.
pcie::Workspace& pcie_workspace();

// The class resets' device registers (lib/pcie/function_reset.h): physical
// addresses, identity-mapped uncached by map_device_registers before the
// first access; each access one volatile load or store of its width.
struct DeviceMmio {
  uint8_t read8(uint64_t a) { return *reinterpret_cast<volatile uint8_t*>(a); }
  uint32_t read32(uint64_t a) { return *reinterpret_cast<volatile uint32_t*>(a); }
  void write8(uint64_t a, uint8_t v) { *reinterpret_cast<volatile uint8_t*>(a) = v; }
  void write32(uint64_t a, uint32_t v) { *reinterpret_cast<volatile uint32_t*>(a) = v; }
  bool map_uncached(const pcie::MmioRange* ranges, size_t count) { return map_device_registers(ranges, count); }
};
static_assert(pcie::Mmio<DeviceMmio>);

class Machine {
 public:
  explicit Machine(const AddressSpace& space) : space_(space) {}

  PortIo& port_io() { return io_; }
  Console& console() { return the_console(); }
  uint64_t read_tsc() { return arch::read_tsc(); }
  // Identity-mapped: by our own tables (address_space.h), or the loader's,
  // which cover RAM (docs/cpu-state.md).
  uint8_t* phys(uint64_t address) { return reinterpret_cast<uint8_t*>(address); }
  sha256::BlockFunction sha256_engine() {
#if defined(LIMBO_TEST_FAULT)
    test_fault_in_verify();
#endif
    return simd_gate_sha256();
  }
  void sha256_release() { restore_control_after_simd(); }
  flow::NmiRecord nmi_record() { return arch::nmi_record(); }
  // The log (lib/log.h): its clock, and the node the flow links.
  void log_clock(uint64_t hz) { the_console().recorder().set_clock(hz); }
  abi::LogNode* log_node() { return the_console().recorder().node(); }
  void set_phase(fault::Phase phase) { arch::set_phase(phase); }
  template <class Fn>
  bool guarded(fault::Phase phase, Fn& fn) { return arch::run_guarded(phase, fn); }

  // The PCIe step (lib/flow_pcie.h).
  flow::PagingSummary paging_summary() const {
    flow::PagingSummary p;
    p.own_tables = space_.own_tables;
    p.ecam_mapped = space_.ecam_mapped;
    p.levels = space_.levels;
    p.gib_pages = space_.gib_pages;
    p.tables = space_.result.tables;
    p.pool = kPageTablePoolPages;
    if (space_.request_full) p.problem = "too many ranges to map";
    else if (!space_.result.ok()) p.problem = x86::paging::error_text(space_.result.error);
    return p;
  }
  bool tsc_invariant() const { return space_.tsc_invariant; }
  EcamConfigSpace pcie_config_space(const abi::PcieSettings& s) {
    return EcamConfigSpace(pcie::EcamMap(s.ecam, s.ecam_count));
  }
  pcie::Workspace& pcie_workspace() { return arch::pcie_workspace(); }
  DeviceMmio pcie_mmio() { return DeviceMmio{}; }

 private:
  PortIo io_;
  const AddressSpace& space_;
};
static_assert(flow::PcieMachine<Machine>);  // the whole of flow::Machine: main.cc

}  // namespace limbo::arch
