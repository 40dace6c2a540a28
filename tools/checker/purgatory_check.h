// SPDX-License-Identifier: GPL-2.0-only
// purgatory-check: a static checker of the final purgatory object. Code that
// runs after a crash with no OS under it has no second chance (an SSE
// instruction before SSE is on, a relocation the loader cannot apply, a stack
// overrun: each ends in a silent reset), so the shipped object itself is
// checked, not only the flags that built it.
//
// Rules (each finding names its rule):
//   decode     every byte of every executable section decodes (x86_64).
//   simd       no x87, MMX, SSE, AVX or SHA instruction outside the SIMD place.
//   simd-gate  code in the SIMD place is reached only from a gate function
//              (direct call/jump or address taken), and every gate executes
//              `cpuid` and writes CR4 (itself or through its direct callees).
//   forbidden  no instruction that needs an OS or faults in the purgatory's
//              state (syscall, sysenter, int n, int3, ud2, sti, xgetbv, ...).
//   privileged privileged instructions only from the allow-list: port I/O,
//              mov to/from CR0/CR2/CR3/CR4, lgdt, lidt, hlt, cli, wbinvd,
//              invlpg, rdmsr, wrmsr.
//   reloc      relocations the kexec-tools 2.0.25 x86_64 loader applies to an
//              SHF_ALLOC section are only R_X86_64_{NONE,64,32,32S,PC32,PLT32},
//              against defined, non-COMMON symbols.
//   object     ET_REL, ELFCLASS64, little-endian, EM_X86_64; no undefined or
//              COMMON symbols; no .init_array/.fini_array/.preinit_array/.ctors/
//              .dtors; no TLS section or symbol; e_entry is `purgatory_start`
//              as kexec-tools resolves it (first executable SHF_ALLOC section
//              whose size exceeds e_entry).
//   abi        every symbol of limbo::abi::kSymbols (purgatory/abi/limbo_abi.h)
//              present, STB_GLOBAL, of its exact size, and (except address-only
//              ones such as stack_end) in a section with contents, not NOBITS.
//   stack      call graph from decoded direct calls and jumps plus annotated
//              indirect targets; each function's stack use by data flow over
//              push/pop/sub/add/lea/leave/and on rsp; no recursion, no
//              unannotated indirect call, no dynamic stack adjustment; the
//              worst path fits the stack (see "Stack bound").
//
// Conventions the purgatory follows so the checker can see its intent:
//
//   SIMD place: every executable section named `.text.simd` or starting with
//     `.text.simd.`. The SHA-NI translation unit is the only code there.
//     SIMD instructions are allowed only there. A `*(.text .text.*)` rule in
//     the linker script swallows `.text.simd` into `.text` (the checker then
//     reports every SHA-NI instruction), so place the file's code by name,
//     after `.text` (which must stay the first executable section, see
//     "object"):
//       .text : { KEEP(*(.text.entry))
//                 *(EXCLUDE_FILE(*sha256_ni.o) .text EXCLUDE_FILE(*sha256_ni.o) .text.*) }
//       .text.simd : { *sha256_ni.o(.text .text.*) }
//   Gate: a function whose unqualified name (demangled, without namespace,
//     parameters or a `.part`/`.constprop` clone suffix) starts with
//     `simd_gate`, e.g. `limbo::sha256::simd_gate_compress(...)` or an
//     extern "C" `simd_gate_sha256`. Only gates may call, jump to or take the
//     address of SIMD-place code. A gate must execute `cpuid` (to see SHA-NI)
//     and `mov cr4, reg` (to set CR4.OSFXSR/OSXMMEXCPT) itself or in a
//     function it calls directly.
//   Indirect call targets: a non-allocated section `.limbo.calltargets` of
//     records of 64-bit words, each word an R_X86_64_64 relocation: first an
//     address inside the calling function, then each possible target, then a
//     0 word without relocation. Every indirect call or jump in that function
//     may go to any listed target. A record with no target says the function's
//     indirect transfers leave the purgatory (the jump to the next kernel). In
//     C++, inside the caller (the local label ties the record to whatever
//     function the code ends up in, even after inlining):
//       asm(".pushsection .limbo.calltargets,\"\",@progbits\n\t"
//           ".quad 1f, %c0, %c1, 0\n\t.popsection\n1:"
//           :: "i"(&target_a), "i"(&target_b));
//     In assembly: `.pushsection .limbo.calltargets,"",@progbits;
//     .quad caller, 0; .popsection`. Non-allocated sections are not loaded
//     and kexec-tools does not apply their relocations.
//     An annotated target in the SIMD place is accepted because only a gate
//     may take its address (the pointer's provenance is the gate).
//   Exception handlers: every code symbol whose name starts with
//     `limbo_exception` or `limbo_interrupt` is an exception entry point (a
//     root of the stack bound, entered with a CPU-pushed frame on the same
//     stack). Code inside a function that no path from its start reaches (a
//     table of per-vector stubs) is analysed from depth 0 as extra entries.
//   Stack: `stack_end` and, in its section, `limbo_stack` or `stack` (or an
//     object whose end is stack_end); the size is the distance. Code that
//     loads rsp from `stack_end` (`lea rsp, [rip + stack_end]`) switches to
//     it: depth restarts at 0. Loading rsp from, or jumping through,
//     `entry64_regs` is the hand-over to the next kernel: the path ends.
//   Calls through a register that holds a relocated address (movabs/lea of a
//     symbol, -mcmodel=large code) count as direct calls.
//
// Stack bound: worst(purgatory_start) + kFaultHandlerNesting x
// (kExceptionFrameBytes + the worst exception handler) + the NMI's frame and
// handler + kStackMarginBytes <= stack size. worst(f) is the deepest
// rsp below f's entry (return address excluded) over every path of direct
// calls, tail jumps and annotated indirect calls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "abi/limbo_abi.h"
#include "elf_object.h"

namespace limbo::check {

// Long mode, same privilege level: the CPU pushes SS, RSP, RFLAGS, CS, RIP and
// an error code on the current stack (Intel SDM Vol. 3A §6.14.2).
inline constexpr uint64_t kExceptionFrameBytes = 6 * 8;
// How many exception handlers can be on the stack at once (see
// purgatory/arch/x86_64/main.cc limbo_exception): the first; a second when
// the first faults (it prints one line and carries out --on-fault); a third
// when even that faults (it carries out the action at once, prints nothing,
// and what it runs, halt or an empty-IDT triple fault, ends the CPU's run
// there). A resume to the flow's resume point resets the stack to the saved
// rsp: it never adds. No IST: every handler runs on this one stack, and the
// NMI's (blocked while it runs) is counted once on top.
inline constexpr uint64_t kFaultHandlerNesting = 3;
// Room left unaccounted for: a second exception frame if a handler faults
// (double fault) plus its first pushes, and anything a future handler adds
// before it is re-measured.
inline constexpr uint64_t kStackMarginBytes = 256;

inline constexpr const char* kSimdSectionName = ".text.simd";
inline constexpr const char* kGatePrefix = "simd_gate";
inline constexpr const char* kCallTargetsSection = ".limbo.calltargets";
inline constexpr const char* kExceptionPrefix = "limbo_exception";
inline constexpr const char* kStackStartSymbol = "stack";
inline constexpr const char* kLimboStackStartSymbol = "limbo_stack";
inline constexpr const char* kInterruptPrefix = "limbo_interrupt";
// The NMI handler returns (entry.S): NMIs are blocked until its IRETQ, so it
// never nests in itself, but it may arrive while a fault handler runs. The
// bound stacks it, with its own frame (5 words: no error code), on top of
// the worst fault handler.
inline constexpr const char* kNmiHandlerSymbol = "limbo_exception_nmi";
inline constexpr uint64_t kInterruptFrameBytes = 5 * 8;
// The loader's register table (limbo::abi::Entry64Regs): loading rsp from it
// or jumping through it hands over to the next kernel.
inline constexpr const char* kExitRegisterTable = abi::symbol::entry64_regs;
inline constexpr const char* kStackEndSymbol = abi::symbol::stack_end;

struct Finding {
  std::string rule;         // decode, simd, simd-gate, forbidden, privileged, reloc, object, abi, stack
  std::string where;        // "function+0xoff (.section+0xoff)" or a symbol/section name
  std::string instruction;  // the disassembled instruction, if one is involved
  std::string message;

  std::string line() const;  // "rule: where: instruction: message"
};

// Instruction classes counted in the summary.
enum class InstructionClass {
  kGeneral,
  kControlFlow,
  kPortIo,
  kSystem,     // allowed privileged, cpuid, rdtsc, iretq, ...
  kX87,
  kMmx,
  kSse,
  kAvx,
  kSha,
  kPadding,    // nop
  kForbidden,  // also reported as findings
  kCount,
};
const char* class_name(InstructionClass cls);

struct Summary {
  uint64_t text_bytes = 0;     // SHF_ALLOC|SHF_EXECINSTR contents
  uint64_t data_bytes = 0;     // other SHF_ALLOC contents (rodata, data)
  uint64_t bss_bytes = 0;      // SHF_ALLOC NOBITS
  uint64_t segment_bytes = 0;  // the memory size kexec-tools gives the segment
  uint64_t instructions = 0;
  uint64_t by_class[static_cast<size_t>(InstructionClass::kCount)] = {};
  bool stack_known = false;    // false when the bound could not be computed
  uint64_t stack_size = 0;     // stack_end - stack, 0 if unknown
  uint64_t entry_depth = 0;    // worst(purgatory_start)
  uint64_t handler_depth = 0;  // worst exception handler, 0 if none
  uint64_t nmi_depth = 0;      // the NMI handler, 0 if none (kNmiHandlerSymbol)
  bool nmi_handler = false;
  std::string nmi_path;
  uint64_t stack_required = 0; // entry + frame + handler + margin
  size_t exception_handlers = 0;
  std::string worst_path;      // "purgatory_start -> f (+N) -> ..."
  std::string worst_handler_path;
};

// One function's own stack use: the deepest rsp below its entry (return
// address excluded), callees not included.
struct Frame {
  std::string symbol;  // as in the symbol table
  uint64_t depth = 0;
};

struct Report {
  std::vector<Finding> findings;
  Summary summary;
  std::vector<Frame> frames;
};

// Runs every rule on a loaded object.
[[nodiscard]] Report check_object(const ObjectFile& object);

// The text the command prints: findings, then the summary lines.
std::string format_report(const Report& report);

}  // namespace limbo::check
