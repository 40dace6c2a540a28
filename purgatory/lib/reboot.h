// SPDX-License-Identifier: GPL-2.0-only
// --on-corruption=reboot: reset the machine so that a server comes back
// instead of hanging, trying each way in turn as Linux's reboot fallbacks do
// (arch/x86/kernel/reboot.c): the ACPI reset register, the chipset's Reset
// Control register at 0xCF9, the keyboard controller's pulse-reset command;
// the caller's last resort is a triple fault. Portable: port I/O, console and
// delay are injected, so host tests record the exact sequence.
#pragma once

#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/clock.h"
#include "lib/format.h"

namespace limbo::reboot {

// ACPI r6.5 §5.2.3.2 Generic Address Structure, Address Space ID.
inline constexpr uint8_t kAddressSpaceSystemMemory = 0;
inline constexpr uint8_t kAddressSpaceSystemIo = 1;

// Reset Control register (RST_CNT), I/O port 0xCF9 (Intel PCH datasheets;
// also QEMU's ICH9 LPC): bit 1 SYS_RST, bit 2 RST_CPU, bit 3 FULL_RST. As
// Linux does: SYS_RST first, then RST_CPU | SYS_RST | FULL_RST.
inline constexpr uint16_t kResetControlPort = 0xcf9;
inline constexpr uint8_t kResetControlSysRst = 1u << 1;
inline constexpr uint8_t kResetControlRstCpu = 1u << 2;
inline constexpr uint8_t kResetControlFullRst = 1u << 3;

// 8042 keyboard controller: status port 0x64 bit 1 "input buffer full";
// command 0xFE pulses output port bit 0, the CPU reset line.
inline constexpr uint16_t kKbcStatusPort = 0x64;
inline constexpr uint8_t kKbcStatusInputFull = 1u << 1;
inline constexpr uint8_t kKbcPulseReset = 0xfe;
inline constexpr int kKbcAttempts = 10;  // Linux's reboot.c tries ten times
inline constexpr int kKbcReadyPolls = 0x10000;  // bounded wait for the input buffer

// How long each way gets before the next is tried.
inline constexpr uint32_t kSettleUs = 50000;

// About `us` microseconds on the TSC when its frequency is known, else one
// write to the POST-code port 0x80 per microsecond (an ISA bus cycle, about
// 1 us, the classic I/O delay). Bounded either way.
inline constexpr uint16_t kPostCodePort = 0x80;
template <class Machine>
void busy_wait_us(Machine& machine, const clock::Clock& clk, uint32_t us) {
  if (!clk.known()) {
    for (uint32_t i = 0; i < us; ++i) machine.port_io().out8(kPostCodePort, 0);
    return;
  }
  const uint64_t start = machine.read_tsc();
  while (clk.to_us(machine.read_tsc() - start) < us) {
  }
}

// Tries every way; returns only if the machine is still running after all of
// them. `wait_us(n)` busy-waits about n microseconds. `write_memory(address,
// value)` writes one byte of physical memory and returns true, or returns
// false when that address may not be mapped: the crashed kernel's identity
// map does not cover MMIO (docs/cpu-state.md) and a fault would halt instead of
// rebooting; the purgatory's own page tables map a memory-space reset
// register uncached (arch/x86_64/address_space.h).
template <class PortIo, class Console, class WaitUs, class WriteMemory>
void reset_machine(PortIo& io, Console& con, const abi::ResetRegister& reg, WaitUs&& wait_us,
                   WriteMemory&& write_memory) {
  // ACPI r6.5 §4.8.3.6: the reset register is 8 bits wide; one byte write.
  if (reg.valid && reg.address_space == kAddressSpaceSystemIo && reg.address <= 0xffff) {
    fmt::println(con, "reboot: ACPI reset register: I/O port 0x", fmt::hex(reg.address), " <- 0x",
                 fmt::hex(reg.value));
    con.drain();
    io.out8(static_cast<uint16_t>(reg.address), reg.value);
    wait_us(kSettleUs);
  } else if (reg.valid && reg.address_space == kAddressSpaceSystemMemory) {
    fmt::println(con, "reboot: ACPI reset register: memory 0x", fmt::hex(reg.address), " <- 0x",
                 fmt::hex(reg.value));
    con.drain();
    if (write_memory(reg.address, reg.value)) {
      wait_us(kSettleUs);
    } else {
      fmt::println(con, "reboot: ACPI reset register not mapped (the loader's page tables): skipped");
    }
  } else if (reg.valid) {
    // PCI configuration space (bus 0 through 0xCF8/0xCFC): not supported.
    fmt::println(con, "reboot: ACPI reset register in address space ", fmt::dec(reg.address_space),
                 " at 0x", fmt::hex(reg.address), " not used (only system I/O and memory are)");
  } else {
    fmt::println(con, "reboot: no ACPI reset register provided");
  }

  fmt::println(con, "reboot: reset control register 0xcf9");
  con.drain();
  const uint8_t reset_bits = kResetControlSysRst | kResetControlRstCpu | kResetControlFullRst;
  const uint8_t cf9 = static_cast<uint8_t>(io.in8(kResetControlPort) & ~reset_bits);
  io.out8(kResetControlPort, cf9 | kResetControlSysRst);
  wait_us(50);
  io.out8(kResetControlPort, cf9 | reset_bits);
  wait_us(kSettleUs);

  fmt::println(con, "reboot: keyboard controller pulse reset");
  con.drain();
  for (int attempt = 0; attempt < kKbcAttempts; ++attempt) {
    for (int poll = 0; poll < kKbcReadyPolls && (io.in8(kKbcStatusPort) & kKbcStatusInputFull); ++poll) {
    }
    io.out8(kKbcStatusPort, kKbcPulseReset);
    wait_us(kSettleUs / kKbcAttempts);
  }
  fmt::println(con, "reboot: still running; triple fault");
  con.drain();
}

}  // namespace limbo::reboot
