// SPDX-License-Identifier: GPL-2.0-only
// x86-64 instructions the portable core cannot express: port I/O, rdtsc,
// control registers, halting. Inline assembly only; nothing else lives here.
#pragma once

#include <stdint.h>

#include "lib/cpu_features.h"

namespace limbo::arch {

// Port I/O for the drivers' PortIo template parameter (SDM Vol. 2 IN/OUT).
struct PortIo {
  uint8_t in8(uint16_t port) {
    uint8_t value;
    asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
  }
  void out8(uint16_t port, uint8_t value) { asm volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
};

inline uint64_t read_tsc() {
  uint32_t low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (uint64_t{high} << 32) | low;
}

inline uint64_t read_cr2() {
  uint64_t value;
  asm volatile("mov %%cr2, %0" : "=r"(value));
  return value;
}

inline uint64_t read_cr3() {
  uint64_t value;
  asm volatile("mov %%cr3, %0" : "=r"(value));
  return value;
}

// Also flushes every non-global TLB entry (SDM Vol. 3A §4.10.4.1); the
// purgatory never sets G, and relocate_kernel left CR4.PGE clear.
inline void write_cr3(uint64_t value) { asm volatile("mov %0, %%cr3" : : "r"(value) : "memory"); }

inline uint64_t read_cr4() {
  uint64_t value;
  asm volatile("mov %%cr4, %0" : "=r"(value));
  return value;
}

inline void write_cr4(uint64_t value) { asm volatile("mov %0, %%cr4" : : "r"(value) : "memory"); }

inline uint32_t cpuid_leaf1_edx() { return cpu::cpuid(1).edx; }

// Model-specific registers for lib/mce.h's Msr parameter (SDM Vol. 2B
// RDMSR/WRMSR); only indices CPUID says exist.
struct Msr {
  uint64_t read(uint32_t index) {
    uint32_t low, high;
    asm volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(index));
    return (uint64_t{high} << 32) | low;
  }
  void write(uint32_t index, uint64_t value) {
    asm volatile("wrmsr" : : "c"(index), "a"(static_cast<uint32_t>(value)), "d"(static_cast<uint32_t>(value >> 32))
                 : "memory");
  }
};

// The last way to reset (after ACPI, 0xCF9 and the keyboard controller): an
// empty IDT, then a divide error. The #DE finds no gate, nor does the #GP
// and the #DF that follow: a triple fault, which resets the CPU (SDM Vol. 3A
// §6.15 "Interrupt 8: Double Fault"). Halts if the machine survives even that.
[[noreturn]] inline void triple_fault() {
  struct [[gnu::packed]] {
    uint16_t limit;
    uint64_t base;
  } empty_idt{0, 0};
  asm volatile("lidt %0\n\txor %%ecx, %%ecx\n\tdiv %%ecx" : : "m"(empty_idt) : "eax", "ecx", "edx", "memory");
  for (;;) asm volatile("cli; hlt" ::: "memory");
}

// Interrupts off, then hlt forever: an NMI may wake the CPU; it halts again.
[[noreturn]] inline void halt_forever() {
  for (;;) asm volatile("cli; hlt" ::: "memory");
}

}  // namespace limbo::arch
