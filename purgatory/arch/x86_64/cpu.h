// x86-64 instructions the portable core cannot express: port I/O, rdtsc,
// control registers, halting. Inline assembly only; nothing else lives here.
#pragma once

#include <stdint.h>

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

// Interrupts off, then hlt forever: an NMI may wake the CPU; it halts again.
[[noreturn]] inline void halt_forever() {
  for (;;) asm volatile("cli; hlt" ::: "memory");
}

}  // namespace limbo::arch
