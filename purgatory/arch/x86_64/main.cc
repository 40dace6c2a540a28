// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's C++ entry (called by entry.S on its own stack and GDT): the
// IDT, the exception report and what a fault costs (lib/fault.h), and the
// call into the portable flow.
#if defined(LIMBO_TEST_FAULT)
// TEST-ONLY (before lib/pcie/reset.h is included through lib/flow.h): the
// PCIe core's hook with every port in reset.
namespace limbo::arch {
void test_fault_in_pcie_hold();
}
#define LIMBO_TEST_PCIE_HOLD_HOOK() ::limbo::arch::test_fault_in_pcie_hold()
#endif
#include "abi/limbo_abi.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/machine.h"
#include "lib/flow.h"
#include "lib/fault.h"
#include "lib/format.h"
#include "lib/mce.h"
#include "lib/reboot.h"
#include "lib/report.h"
#include "lib/x86_descriptors.h"
#include "variables.h"

namespace limbo::arch {
static_assert(flow::Machine<Machine>);
namespace {

constinit PortIo console_io;
constinit VgaCells console_cells;
constinit Console console_instance{ReadTsc{}, console_io, console_cells};

// What limbo_exception_common pushed (entry.S), lowest address first, then
// what the CPU pushed (SDM Vol. 3A §6.14.2, Figure 6-9).
struct ExceptionFrame {
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t vector, error;
  uint64_t rip, cs, rflags, rsp, ss;
};

// How many fault handlers are running: 1 in a handler, 2 when a
// second fault hit the first handler (it prints one short line and carries
// out --on-fault without the reboot sequence), 3 when even that faulted
// (the action at once, silently: a triple fault or a halt). A resume sets
// it back to 0.
constinit volatile uint32_t exception_depth = 0;

// Where the flow is (set_phase), the resume point (run_guarded) and
// whether it may be used; read only by limbo_exception.
constinit volatile fault::Phase current_phase = fault::Phase::kSetup;
constinit ResumeContext resume_point{};
constinit volatile bool resume_armed = false;

// What --on-fault needs, copied from the accepted block by limbo_main (the
// block's defaults when it was refused: reboot, no ACPI reset register, TSC
// frequency unknown).
constinit uint32_t fault_on_fault = static_cast<uint32_t>(abi::OnFault::kReboot);
constinit abi::ResetRegister fault_reset_register{};
constinit uint64_t fault_tsc_hz = 0;
constinit bool fault_own_tables = false;

// Machine checks (lib/mce.h): what CPUID offers, and CR4 as found before
// limbo_install_idt set CR4.MCE (put back before the jump).
constinit mce::Support machine_check{false, false};
constinit bool cr4_changed = false;
constinit uint64_t cr4_at_entry = 0;

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

void set_phase(fault::Phase phase) { current_phase = phase; }
ResumeContext& resume_context() { return resume_point; }
void arm_resume(bool armed) { resume_armed = armed; }

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

namespace {
// The log node (lib/log.h): 16 KiB of .bss in the purgatory's own segment,
// which the next kernel memblock-reserves once the node is in its chain.
[[gnu::section(".bss.limbo_log")]] alignas(16) abi::LogNode log_node_instance;
}  // namespace

abi::LogNode& log_node() { return log_node_instance; }

}  // namespace limbo::arch

#if defined(LIMBO_TEST_FAULT)
// TEST-ONLY build (build/test-fault/purgatory.ro, purgatory/purgatory.mk;
// never build/purgatory.ro): an invalid opcode where the capture kernel's
// command line asks, `limbo.test_fault=verify` (as verification starts) or
// `limbo.test_fault=pcie` (every port in Secondary Bus Reset), or
// `limbo.test_fault=handler` (as verification starts, then again inside the
// fault handler, after its diagnosis), so that the
// QEMU scenarios show what each phase's fault costs.
namespace limbo::arch {
namespace {
constinit const char* test_fault_request = nullptr;  // the word's value, or null

bool starts_with(const char* text, const char* prefix) {
  for (; *prefix; ++text, ++prefix)
    if (*text != *prefix) return false;
  return true;
}

// boot_params (Linux Documentation/arch/x86/boot.rst): cmd_line_ptr at
// 0x228, ext_cmd_line_ptr at 0x0c8; kexec-tools writes the line there.
void find_test_fault_request(uint64_t boot_params) {
  if (boot_params == 0) return;
  const uint64_t low = *reinterpret_cast<const volatile uint32_t*>(boot_params + 0x228);
  const uint64_t high = *reinterpret_cast<const volatile uint32_t*>(boot_params + 0x0c8);
  const char* line = reinterpret_cast<const char*>(low | (high << 32));
  if (line == nullptr) return;
  constexpr char kWord[] = "limbo.test_fault=";
  for (int i = 0; i < 4096 && line[i] != '\0'; ++i) {
    if ((i == 0 || line[i - 1] == ' ') && starts_with(line + i, kWord)) test_fault_request = line + i + sizeof(kWord) - 1;
  }
}

void test_fault_if(const char* site, const char* phase) {
  if (test_fault_request == nullptr || !starts_with(test_fault_request, site)) return;
  size_t length = 0;
  while (site[length] != '\0') ++length;
  const char after = test_fault_request[length];
  if (after != '\0' && after != ' ') return;
  Console& con = the_console();
  if (!con.at_line_start()) con.put('\n');
  fmt::println(con, "TEST-ONLY fault build: ud2 in the ", phase, " phase");
  asm volatile("ud2");
}
}  // namespace

void test_fault_in_verify() {
  test_fault_if("verify", "verify");
  test_fault_if("handler", "verify");  // the first ud2 of `handler`; the handler then faults itself
}
void test_fault_in_handler() {
  if (test_fault_request == nullptr || !starts_with(test_fault_request, "handler")) return;
  fmt::println(the_console(), "TEST-ONLY fault build: ud2 inside the fault handler");
  asm volatile("ud2");
}
void test_fault_in_pcie_hold() { test_fault_if("pcie", "pcie"); }
}  // namespace limbo::arch
#endif

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

  // Now that a #MC has a gate: CR4.MCE, so that a machine check is
  // delivered (and logged) instead of shutting the CPU down.
  limbo::arch::machine_check = limbo::mce::support_from_cpuid(limbo::arch::cpuid_leaf1_edx());
  if (limbo::arch::machine_check.exception) {
    const uint64_t cr4 = limbo::arch::read_cr4();
    if (!(cr4 & limbo::mce::kCr4Mce)) {
      limbo::arch::cr4_at_entry = cr4;
      limbo::arch::cr4_changed = true;
      limbo::arch::write_cr4(cr4 | limbo::mce::kCr4Mce);
    }
  }
}

namespace {
using namespace limbo;

// --on-fault=reboot from a handler: the reset ways of --on-corruption=reboot
// (lib/reboot.h) on the TSC when its frequency is known, else port 0x80
// delays; a memory-space reset register only on the purgatory's own tables.
struct HandlerMachine {
  arch::PortIo io;
  arch::PortIo& port_io() { return io; }
  uint64_t read_tsc() { return arch::read_tsc(); }
};

[[noreturn]] void carry_out(fault::Action action, bool with_reboot_sequence) {
  if (action == fault::Action::kHalt) arch::halt_forever();
  if (with_reboot_sequence) {
    HandlerMachine machine;
    const clock::Clock clk(arch::fault_tsc_hz);
    reboot::reset_machine(
        machine.io, arch::the_console(), arch::fault_reset_register,
        [&machine, &clk](uint32_t us) { reboot::busy_wait_us(machine, clk, us); },
        [](uint64_t address, uint8_t value) {
          if (!arch::fault_own_tables) return false;
          *reinterpret_cast<volatile uint8_t*>(address) = value;
          return true;
        });
  }
  arch::triple_fault();
}

}  // namespace

// Every exception but the NMI (entry.S limbo_exception_common): the
// diagnosis, then what lib/fault.h decides for the phase: back to the flow's
// resume point, or --on-fault. Never returns into the faulting code.
[[noreturn]] void limbo_exception(const limbo::arch::ExceptionFrame* frame) {
  using namespace limbo;
  const uint32_t depth = arch::exception_depth;
  arch::exception_depth = depth + 1;
  if (depth >= 2) carry_out(fault::configured(arch::fault_on_fault), false);
  arch::Console& con = arch::the_console();
  if (!con.configured()) {
    con.configure(console::Settings{console_serial != 0, serial_base, serial_baud, console_vga != 0});
  }
  if (!con.at_line_start()) con.put('\n');
  const int vector = static_cast<int>(frame->vector);
  const fault::Phase phase = arch::current_phase;
  const fault::Action action = fault::decide(phase, arch::resume_armed, depth != 0, arch::fault_on_fault);
  if (depth != 0) {
    fmt::println(con, "EXCEPTION vector ", fmt::dec(frame->vector), " rip 0x", fmt::hex(frame->rip),
                 " inside the fault handler");
    fault::print_decision(con, phase, action, true);
    con.drain();
    carry_out(action, false);
  }
  fmt::println(con, "EXCEPTION vector ", fmt::dec(frame->vector), " (#", x86::exception_mnemonic(vector),
               ") error 0x", fmt::hex(frame->error), " rip 0x", fmt::hex(frame->rip), " cr2 0x",
               fmt::hex(arch::read_cr2()), " rsp 0x", fmt::hex(frame->rsp));
  if (vector == x86::kVectorMachineCheck) {
    arch::Msr msr;
    (void)mce::log_and_clear(con, msr, arch::machine_check);
  }
  // A stop between the overlapped order's halves (verification,
  // the backup copy) leaves the devices reset and not restored: said, as
  // for a damaged image.
  if (action != fault::Action::kResume) (void)flow::print_left_in_reset_by_overlap(con, arch::pcie_workspace());
  fault::print_decision(con, phase, action, false);
  con.drain();
#if defined(LIMBO_TEST_FAULT)
  arch::test_fault_in_handler();
#endif
  if (action == fault::Action::kResume) {
    arch::resume_armed = false;
    arch::exception_depth = 0;
    limbo_resume_to(&arch::resume_point);
  }
  carry_out(action, true);
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
#define LIMBO_COPY_VARIABLE(name, type, size, writer, initial) flow::copy_variable(vars.name, name);
  LIMBO_ABI_LOADER_VARIABLES(LIMBO_COPY_VARIABLE)
#undef LIMBO_COPY_VARIABLE
#if defined(LIMBO_TEST_FAULT)
  arch::find_test_fault_request(vars.entry64_regs.rsi);
#endif

  // Our own identity page tables before anything else touches memory or
  // ECAM (arch/x86_64/address_space.h); the loader's go back before the jump.
  // The log first: every line from here on is kept (lib/log.h).
  arch::the_console().recorder().start(arch::log_node(), limbo_entry_tsc);
  const bool config_accepted = flow::check_config(vars.limbo_config).accepted;
  if (config_accepted) {
    arch::fault_on_fault = vars.limbo_config.on_fault;
    arch::fault_reset_register = vars.limbo_config.reset_register;
    arch::fault_tsc_hz = vars.limbo_config.tsc_hz;
  }
  const arch::AddressSpace space = arch::enter_own_address_space(arch::Touched{
      vars.sha256_regions, vars.backup_start, vars.backup_src_start, vars.backup_src_size, vars.cmdline_end,
      config_accepted ? &vars.limbo_config : nullptr});

  arch::fault_own_tables = space.own_tables;
  arch::Machine machine(space);
  report::Report report;
  const flow::Outcome outcome = flow::run(machine, vars, limbo_entry_tsc, report);
  if (outcome == flow::Outcome::kHalt) arch::halt_forever();
  if (outcome == flow::Outcome::kReboot) arch::triple_fault();
  arch::set_phase(fault::Phase::kLeave);
  arch::leave_own_address_space(space);
  // CR4 as relocate_kernel left it (CR4.MCE clear), as after the stock purgatory.
  if (arch::cr4_changed) arch::write_cr4(arch::cr4_at_entry);
}

}  // extern "C"
