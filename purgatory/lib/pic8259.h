// SPDX-License-Identifier: GPL-2.0-only
// Re-initialises the two cascaded 8259A interrupt controllers to the PC's
// power-on vector bases (kexec-tools' `legacy_pic`), through an injected
// port-I/O type. Reference: Intel 8259A datasheet (231468), "Initialization
// Command Words" and "Operation Command Words".
#pragma once

#include <stdint.h>

namespace limbo::pic {

inline constexpr uint16_t kMasterCommand = 0x20;
inline constexpr uint16_t kMasterData = 0x21;
inline constexpr uint16_t kSlaveCommand = 0xa0;
inline constexpr uint16_t kSlaveData = 0xa1;
// Writing to the unused POST port takes ~1 us: the customary pause between
// 8259A accesses on fast buses.
inline constexpr uint16_t kIoDelayPort = 0x80;

// ICW1 (8259A datasheet Fig. 6): D4 = 1 marks ICW1, D0 IC4 = 1 (ICW4 follows),
// D1 SNGL = 0 (cascaded, so ICW3 follows), D3 LTIM = 0 (edge triggered).
inline constexpr uint8_t kIcw1Init = 0x11;
// ICW2: vector base of IR0, the IBM PC BIOS values (IRQ0-7 at 0x08, IRQ8-15 at 0x70).
inline constexpr uint8_t kMasterVectorBase = 0x08;
inline constexpr uint8_t kSlaveVectorBase = 0x70;
// ICW3: the slave hangs on master input IR2; the slave's identity is 2.
inline constexpr uint8_t kMasterSlaveOnIr2 = 1u << 2;
inline constexpr uint8_t kSlaveIdentity = 2;
// ICW4: D0 uPM = 1, 8086/8088 mode; normal (not automatic) end of interrupt.
inline constexpr uint8_t kIcw4Mode8086 = 0x01;
// OCW1: interrupt mask register.
inline constexpr uint8_t kMaskAll = 0xff;
inline constexpr uint8_t kMaskNone = 0x00;

template <class PortIo>
void init_legacy(PortIo& io) {
  auto out = [&io](uint16_t port, uint8_t value) {
    io.out8(port, value);
    io.out8(kIoDelayPort, value);
  };
  out(kMasterData, kMaskAll);  // no interrupt while being reprogrammed
  out(kSlaveData, kMaskAll);
  out(kMasterCommand, kIcw1Init);
  out(kMasterData, kMasterVectorBase);
  out(kMasterData, kMasterSlaveOnIr2);
  out(kMasterData, kIcw4Mode8086);
  out(kSlaveCommand, kIcw1Init);
  out(kSlaveData, kSlaveVectorBase);
  out(kSlaveData, kSlaveIdentity);
  out(kSlaveData, kIcw4Mode8086);
  // Unmasked, as kexec-tools leaves them: interrupts stay off (IF = 0) until
  // the next kernel, which programs the controllers itself.
  out(kMasterData, kMaskNone);
  out(kSlaveData, kMaskNone);
}

}  // namespace limbo::pic
