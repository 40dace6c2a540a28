// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's C++ entry (called by entry.S on its own stack and GDT): the
// IDT, the exception report, and the call into the portable flow.
#include "abi/limbo_abi.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/machine.h"
#include "lib/flow.h"
#include "lib/format.h"
#include "lib/report.h"
#include "lib/x86_descriptors.h"
#include "variables.h"

namespace limbo::arch {
namespace {

constinit PortIo console_io;
constinit VgaCells console_cells;
constinit Console console_instance{console_io, console_cells};

// What limbo_exception_common pushed (entry.S), lowest address first, then
// what the CPU pushed (SDM Vol. 3A §6.14.2, Figure 6-9).
struct ExceptionFrame {
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t vector, error;
  uint64_t rip, cs, rflags, rsp, ss;
};

// Set once the handler runs: a fault inside it halts at once, silently,
// rather than recursing until the stack is gone.
constinit bool in_exception = false;

// What the CPU pushed on an NMI (no error code; SDM Vol. 3A §6.14.2), which
// entry.S's limbo_exception_nmi passes to limbo_nmi.
struct InterruptFrame {
  uint64_t rip, cs, rflags, rsp, ss;
};

// Written only by limbo_nmi, which never nests in itself (NMIs are blocked
// until its IRETQ); read by the flow between its steps. volatile: the flow
// must see an update that an NMI made between two of its reads.
constinit volatile uint32_t nmi_count = 0;
constinit volatile uint64_t nmi_first_rip = 0;
constinit volatile bool nmi_first_printed = false;

}  // namespace

Console& the_console() { return console_instance; }

flow::NmiRecord nmi_record() {
  flow::NmiRecord record;
  record.count = nmi_count;
  record.first_rip = nmi_first_rip;
  record.first_printed = nmi_first_printed;
  return record;
}

namespace {
// The PCIe quiesce's discovery table, plan and saved state (35 KiB of plain
// data): .bss, not the 16 KiB stack, and not the object file.
[[gnu::section(".bss.limbo_pcie_workspace")]] pcie::Workspace pcie_workspace_instance;
}  // namespace

pcie::Workspace& pcie_workspace() { return pcie_workspace_instance; }

}  // namespace limbo::arch

extern "C" {

// Stored by entry.S at its first instruction.
uint64_t limbo_entry_tsc = 0;

// The purgatory's GDT (entry.S loads it): null, unused, 0x10 code, 0x18 data.
alignas(16) constinit uint64_t limbo_gdt[limbo::x86::kGdtEntries] = {
    0, 0, limbo::x86::flat_code64(), limbo::x86::flat_data()};

// Defined in entry.S.
extern const uint8_t limbo_exception_stubs[];
extern const uint8_t limbo_interrupt_stub[];
extern limbo::x86::GateDescriptor limbo_idt[limbo::x86::kIdtEntries];

void limbo_install_idt() {
  using namespace limbo::x86;
  constexpr uint64_t kStubStride = 16;  // entry.S aligns each stub to 16 bytes
  for (int vector = 0; vector < kIdtEntries; ++vector) {
    const uint64_t handler =
        vector < kExceptionVectors
            ? reinterpret_cast<uint64_t>(limbo_exception_stubs) + kStubStride * static_cast<uint64_t>(vector)
            : reinterpret_cast<uint64_t>(limbo_interrupt_stub);
    limbo_idt[vector] = interrupt_gate(handler, kCodeSelector);
  }
  struct [[gnu::packed]] {
    uint16_t limit;
    uint64_t base;
  } idtr{sizeof(GateDescriptor) * kIdtEntries - 1, reinterpret_cast<uint64_t>(limbo_idt)};
  asm volatile("lidt %0" : : "m"(idtr));
}

[[noreturn]] void limbo_exception(const limbo::arch::ExceptionFrame* frame) {
  using namespace limbo;
  if (arch::in_exception) arch::halt_forever();
  arch::in_exception = true;
  arch::Console& con = arch::the_console();
  if (!con.configured()) {
    con.configure(console::Settings{console_serial != 0, serial_base, serial_baud, console_vga != 0});
  }
  const int vector = static_cast<int>(frame->vector);
  fmt::println(con, "EXCEPTION vector ", fmt::dec(frame->vector), " (#", x86::exception_mnemonic(vector),
               ") error 0x", fmt::hex(frame->error), " rip 0x", fmt::hex(frame->rip), " cr2 0x",
               fmt::hex(arch::read_cr2()), " rsp 0x", fmt::hex(frame->rsp));
  fmt::println(con, "halting: exception in purgatory; not jumping");
  con.drain();
  arch::halt_forever();
}

// An NMI: counted, the first one printed when the console is configured and
// between lines (never splitting a line the interrupted code is writing), and
// returned from (entry.S). Nothing here can fault: plain stores and the
// console's port writes.
void limbo_nmi(const limbo::arch::InterruptFrame* frame) {
  using namespace limbo;
  const uint32_t count = arch::nmi_count;
  if (count != UINT32_MAX) arch::nmi_count = count + 1;
  if (count != 0) return;
  arch::nmi_first_rip = frame->rip;
  arch::Console& con = arch::the_console();
  if (!con.configured() || !con.at_line_start()) return;
  fmt::println(con, "NMI at rip 0x", fmt::hex(frame->rip), " rsp 0x", fmt::hex(frame->rsp),
               ": not a fault of the purgatory; returning to it (later NMIs are counted, not printed)");
  arch::nmi_first_printed = true;
}

void limbo_main() {
  using namespace limbo;
  flow::LoaderVariables vars;
  vars.entry64_regs = entry64_regs;
  for (size_t i = 0; i < abi::kSha256RegionCount; ++i) vars.sha256_regions[i] = sha256_regions[i];
  for (size_t i = 0; i < abi::kSha256DigestSize; ++i) vars.sha256_digest[i] = sha256_digest[i];
  vars.skip_checks = skip_checks;
  vars.panic_kernel = panic_kernel;
  vars.reset_vga = reset_vga;
  vars.legacy_pic = legacy_pic;
  vars.console_vga = console_vga;
  vars.console_serial = console_serial;
  vars.serial_base = serial_base;
  vars.serial_baud = serial_baud;
  vars.backup_start = backup_start;
  vars.backup_src_start = backup_src_start;
  vars.backup_src_size = backup_src_size;
  vars.cmdline_end = cmdline_end;
  vars.jump_back_entry = jump_back_entry;
  vars.limbo_config = limbo_config;

  // Our own identity page tables before anything else touches memory or
  // ECAM (arch/x86_64/address_space.h); the loader's go back before the jump.
  const bool config_accepted = flow::check_config(vars.limbo_config).accepted;
  const arch::AddressSpace space = arch::enter_own_address_space(arch::Touched{
      vars.sha256_regions, vars.backup_start, vars.backup_src_start, vars.backup_src_size, vars.cmdline_end,
      config_accepted ? &vars.limbo_config : nullptr});

  arch::Machine machine(space);
  report::Report report;
  const flow::Outcome outcome = flow::run(machine, vars, limbo_entry_tsc, report);
  if (outcome == flow::Outcome::kHalt) arch::halt_forever();
  if (outcome == flow::Outcome::kReboot) arch::triple_fault();
#if defined(LIMBO_TEST_FAULT_UD2_AFTER_VERIFY)
  // TEST-ONLY build (build/test-fault/purgatory.ro, purgatory/purgatory.mk;
  // never build/purgatory.ro): an invalid opcode once the image is verified,
  // so a QEMU scenario can show that a fault here reaches limbo_exception
  // (vector and RIP on the console, then a halt), never a silent triple fault.
  fmt::println(arch::the_console(), "TEST-ONLY fault build: ud2 after verification");
  asm volatile("ud2");
#endif
  arch::leave_own_address_space(space);
}

}  // extern "C"
