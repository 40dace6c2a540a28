// SPDX-License-Identifier: GPL-2.0-only
// x86-64 segment and gate descriptors, as constexpr encoders. Portable: they
// only describe bits (Intel SDM Vol. 3A §3.4.5 "Segment Descriptors", §6.14.1
// "64-Bit Mode IDT"), so host tests can check them.
#pragma once

#include <stdint.h>

#include "lib/reg.h"

namespace limbo::x86 {

// Selectors of the purgatory's GDT. The Linux x86 boot protocol
// (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol") wants __BOOT_CS
// 0x10 and __BOOT_DS 0x18 in the GDT at the kernel's 64-bit entry.
inline constexpr uint16_t kCodeSelector = 0x10;
inline constexpr uint16_t kDataSelector = 0x18;
inline constexpr int kGdtEntries = 4;  // null, unused, code, data

// Code or data segment descriptor (SDM Vol. 3A §3.4.5, Figure 3-8).
struct SegmentDescriptor : reg::Register<SegmentDescriptor, uint64_t> {
  LIMBO_REG_FIELD(63, 56, base_high)
  LIMBO_REG_BIT(55, granularity_4k)     // G
  LIMBO_REG_BIT(54, default_32bit)      // D/B: must be 0 when L = 1
  LIMBO_REG_BIT(53, long_mode)          // L: 64-bit code segment
  LIMBO_REG_FIELD(51, 48, limit_high)
  LIMBO_REG_BIT(47, present)            // P
  LIMBO_REG_FIELD(46, 45, privilege)    // DPL
  LIMBO_REG_BIT(44, code_or_data)       // S: 1 = code or data (not system)
  LIMBO_REG_FIELD(43, 40, type)
  LIMBO_REG_FIELD(39, 16, base_low)
  LIMBO_REG_FIELD(15, 0, limit_low)

  // Type field (SDM Vol. 3A Table 3-1). The accessed bit is preset so the CPU
  // never writes the GDT when a selector is loaded.
  static constexpr uint64_t kTypeCodeExecuteReadAccessed = 0b1011;
  static constexpr uint64_t kTypeDataReadWriteAccessed = 0b0011;
};

// A flat 4 GiB code segment for 64-bit mode (base and limit are ignored there,
// but flat values keep the descriptor valid for any consumer).
constexpr uint64_t flat_code64() {
  return SegmentDescriptor{}
      .set_limit_low(0xffff).set_limit_high(0xf).set_granularity_4k(true)
      .set_long_mode(true).set_present(true).set_code_or_data(true)
      .set_type(SegmentDescriptor::kTypeCodeExecuteReadAccessed).value;
}

constexpr uint64_t flat_data() {
  return SegmentDescriptor{}
      .set_limit_low(0xffff).set_limit_high(0xf).set_granularity_4k(true)
      .set_default_32bit(true).set_present(true).set_code_or_data(true)
      .set_type(SegmentDescriptor::kTypeDataReadWriteAccessed).value;
}

// 64-bit interrupt gate (SDM Vol. 3A §6.14.1, Figure 6-8): 16 bytes.
struct GateDescriptor {
  uint64_t low;
  uint64_t high;
};

struct GateLow : reg::Register<GateLow, uint64_t> {
  static constexpr uint64_t kTypeInterruptGate = 0b1110;  // clears IF on entry
  LIMBO_REG_FIELD(63, 48, offset_mid)  // handler bits 31:16
  LIMBO_REG_BIT(47, present)
  LIMBO_REG_FIELD(46, 45, privilege)
  LIMBO_REG_FIELD(43, 40, type)
  LIMBO_REG_FIELD(34, 32, ist)
  LIMBO_REG_FIELD(31, 16, selector)
  LIMBO_REG_FIELD(15, 0, offset_low)   // handler bits 15:0
};

constexpr GateDescriptor interrupt_gate(uint64_t handler, uint16_t selector) {
  return GateDescriptor{
      GateLow{}
          .set_offset_low(handler & 0xffff)
          .set_selector(selector)
          .set_type(GateLow::kTypeInterruptGate)
          .set_present(true)
          .set_offset_mid((handler >> 16) & 0xffff)
          .value,
      handler >> 32,  // bits 63:32 of the handler; the upper dword is reserved
  };
}

// Exception vectors 0..31 (SDM Vol. 3A Table 6-1) and their mnemonics.
inline constexpr int kExceptionVectors = 32;
inline constexpr int kIdtEntries = 256;

// Vectors for which the CPU pushes an error code (SDM Vol. 3A §6.13, Table 6-1).
constexpr bool pushes_error_code(int vector) {
  return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 ||
         vector == 29 || vector == 30;
}

// SDM Vol. 3A Table 6-1.
inline constexpr int kVectorMachineCheck = 18;

// A table of characters, not of pointers: pointer tables would need
// load-time relocations in .data.rel.ro, which the purgatory must not have.
inline constexpr char kExceptionMnemonics[kExceptionVectors][4] = {
    "DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", "CSO", "TS", "NP", "SS", "GP", "PF", "15",
    "MF", "AC", "MC",  "XM", "VE", "CP", "22", "23", "24", "25",  "26", "27", "HV", "VC", "SX", "31",
};

constexpr const char* exception_mnemonic(int vector) {
  if (vector >= 0 && vector < kExceptionVectors) return kExceptionMnemonics[vector];
  return "INT";
}

}  // namespace limbo::x86
