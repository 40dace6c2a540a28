// The x86-64 machine the portable flow runs on: real port I/O, the VGA text
// buffer at 0xb8000, the TSC, identity-mapped physical memory, and the one
// console shared with the exception handler.
#pragma once

#include <stdint.h>

#include "arch/x86_64/cpu.h"
#include "lib/console.h"
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

using Console = console::Console<PortIo, VgaCells>;

// simd_gate.cc: SHA-NI with SSE enabled when CPUID has it, else portable.
sha256::BlockFunction simd_gate_sha256();

// The one console (constant-initialised: no constructor runs in purgatory).
Console& the_console();

class Machine {
 public:
  PortIo& port_io() { return io_; }
  Console& console() { return the_console(); }
  uint64_t read_tsc() { return arch::read_tsc(); }
  // The crashed kernel's identity map covers RAM (DESIGN.md "CPU state").
  uint8_t* phys(uint64_t address) { return reinterpret_cast<uint8_t*>(address); }
  sha256::BlockFunction sha256_engine() { return simd_gate_sha256(); }

 private:
  PortIo io_;
};

}  // namespace limbo::arch
