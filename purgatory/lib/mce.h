// SPDX-License-Identifier: GPL-2.0-only
// A machine check (#MC, vector 18) in the purgatory: what the
// handler logs and clears before it treats the #MC as any other fault
// (lib/fault.h). Portable: the MSRs come in through `Msr` (read(index),
// write(index, value)), so host tests drive it with a fake.
//
// relocate_kernel leaves CR4.MCE clear, and a machine check with CR4.MCE
// clear shuts the CPU down (SDM Vol. 3B §16.3 / §15.10.1 in older editions);
// the arch code sets CR4.MCE once its IDT is in place, when CPUID says the
// CPU has the exception (machine_check_enable), and puts CR4 back before
// the jump.
#pragma once

#include <stdint.h>

#include "lib/format.h"

namespace limbo::mce {

// CPUID.01h:EDX (SDM Vol. 2A, CPUID, Table 3-11).
inline constexpr uint32_t kLeaf1EdxMce = 1u << 7;   // the #MC exception, CR4.MCE
inline constexpr uint32_t kLeaf1EdxMca = 1u << 14;  // the MCG_CAP/MCG_STATUS/MCi_* bank MSRs

// CR4.MCE (SDM Vol. 3A §2.5).
inline constexpr uint64_t kCr4Mce = 1u << 6;

// MSR indices (SDM Vol. 4 Table 2-2; Vol. 3B §16.3).
inline constexpr uint32_t kMcgCap = 0x179;
inline constexpr uint32_t kMcgStatus = 0x17a;
inline constexpr uint32_t kMc0Status = 0x401;  // MCi_STATUS = 0x401 + 4i
inline constexpr uint32_t kMc0Addr = 0x402;    // MCi_ADDR   = 0x402 + 4i
inline constexpr uint32_t kMc0Misc = 0x403;    // MCi_MISC   = 0x403 + 4i
inline constexpr uint32_t kBankStride = 4;

// IA32_MCG_CAP: bits 7:0 Count, the number of banks.
inline constexpr uint64_t kMcgCapCountMask = 0xff;
// IA32_MCG_STATUS (SDM Vol. 3B §16.3.1.2).
inline constexpr uint64_t kMcgStatusRipv = 1u << 0;  // restarting at the pushed RIP is possible
inline constexpr uint64_t kMcgStatusEipv = 1u << 1;  // the pushed RIP is where the error happened
inline constexpr uint64_t kMcgStatusMcip = 1u << 2;  // a #MC is in progress: another one shuts the CPU down
// IA32_MCi_STATUS (SDM Vol. 3B §16.3.2.2).
inline constexpr uint64_t kMciStatusVal = 1ull << 63;
inline constexpr uint64_t kMciStatusOver = 1ull << 62;
inline constexpr uint64_t kMciStatusUc = 1ull << 61;
inline constexpr uint64_t kMciStatusEn = 1ull << 60;
inline constexpr uint64_t kMciStatusMiscv = 1ull << 59;
inline constexpr uint64_t kMciStatusAddrv = 1ull << 58;
inline constexpr uint64_t kMciStatusPcc = 1ull << 57;

struct Support {
  bool exception;  // CPUID MCE: CR4.MCE may be set
  bool banks;      // CPUID MCA: the MSRs exist
};

[[nodiscard]] constexpr Support support_from_cpuid(uint32_t leaf1_edx) {
  return Support{(leaf1_edx & kLeaf1EdxMce) != 0, (leaf1_edx & kLeaf1EdxMca) != 0};
}

struct Record {
  bool msrs_read = false;   // CPUID MCA: MCG_STATUS and the banks were read
  uint64_t mcg_status = 0;
  unsigned banks = 0;        // MCG_CAP.Count
  unsigned valid_banks = 0;  // banks with VAL set
};

// Logs MCG_STATUS and every bank whose status has VAL set, then writes 0 to
// MCG_STATUS, clearing MCIP (and RIPV/EIPV, which only this #MC used), so
// that a second machine check is delivered instead of shutting the CPU
// down. Bank status registers are left as they are: the next kernel's MCE
// code logs them again at boot (Linux: "[Hardware Error]: ... during boot").
// The caller then handles the #MC as a fault; it never returns into the
// interrupted code (RIPV clear or not: the purgatory's fault rule resumes at
// its own resume point, or stops).
//   machine check: MCG_STATUS 0x5 (RIPV 1, EIPV 0, MCIP 1), 10 banks, 1 valid
//   machine check: bank 1 status 0xb000000000000000 (UC 1, PCC 0, OVER 0) addr - misc -
template <class Sink, class Msr>
Record log_and_clear(Sink& sink, Msr& msr, Support support) {
  Record r;
  if (!support.banks) {
    fmt::println(sink, "machine check: no machine-check MSRs (CPUID MCA clear); nothing to log");
    return r;
  }
  r.msrs_read = true;
  r.mcg_status = msr.read(kMcgStatus);
  r.banks = static_cast<unsigned>(msr.read(kMcgCap) & kMcgCapCountMask);
  for (unsigned i = 0; i < r.banks; ++i) {
    if (msr.read(kMc0Status + kBankStride * i) & kMciStatusVal) ++r.valid_banks;
  }
  fmt::println(sink, "machine check: MCG_STATUS 0x", fmt::hex(r.mcg_status), " (RIPV ",
               fmt::dec((r.mcg_status & kMcgStatusRipv) != 0), ", EIPV ", fmt::dec((r.mcg_status & kMcgStatusEipv) != 0),
               ", MCIP ", fmt::dec((r.mcg_status & kMcgStatusMcip) != 0), "), ", fmt::dec(r.banks), " banks, ",
               fmt::dec(r.valid_banks), " valid");
  for (unsigned i = 0; i < r.banks; ++i) {
    const uint64_t status = msr.read(kMc0Status + kBankStride * i);
    if (!(status & kMciStatusVal)) continue;
    fmt::print(sink, "machine check: bank ", fmt::dec(i), " status 0x", fmt::hex(status), " (UC ",
               fmt::dec((status & kMciStatusUc) != 0), ", PCC ", fmt::dec((status & kMciStatusPcc) != 0), ", OVER ",
               fmt::dec((status & kMciStatusOver) != 0), ") addr ");
    if (status & kMciStatusAddrv) {
      fmt::print(sink, "0x", fmt::hex(msr.read(kMc0Addr + kBankStride * i)));
    } else {
      fmt::print(sink, "-");
    }
    fmt::print(sink, " misc ");
    if (status & kMciStatusMiscv) {
      fmt::println(sink, "0x", fmt::hex(msr.read(kMc0Misc + kBankStride * i)));
    } else {
      fmt::println(sink, "-");
    }
  }
  msr.write(kMcgStatus, 0);
  return r;
}

}  // namespace limbo::mce
