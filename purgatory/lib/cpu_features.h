// SPDX-License-Identifier: GPL-2.0-only
// What the SHA-NI engine needs from the CPU, decided from raw CPUID values
// so that the decision is the same code in the purgatory's gate and on the
// host (tests, benchmarks). Intel SDM Vol. 2A CPUID; AMD APM Vol. 3 E.3.
#pragma once

#include <cpuid.h>
#include <stdint.h>

namespace limbo::cpu {

// CPUID.01H:EDX and :ECX bits, and CPUID.(EAX=07H,ECX=0):EBX bit 29.
inline constexpr uint32_t kLeaf1EdxFxsr = 1u << 24;
inline constexpr uint32_t kLeaf1EdxSse2 = 1u << 26;
inline constexpr uint32_t kLeaf1EcxSsse3 = 1u << 9;
inline constexpr uint32_t kLeaf1EcxSse41 = 1u << 19;
inline constexpr uint32_t kLeaf7EbxSha = 1u << 29;

struct CpuidSha {
  uint32_t max_leaf;   // CPUID.00H:EAX
  uint32_t leaf1_ecx;
  uint32_t leaf1_edx;
  uint32_t leaf7_ebx;  // 0 when max_leaf < 7
};

// SHA256RNDS2/MSG1/MSG2 plus the SSSE3 (PSHUFB, PALIGNR) and SSE4.1
// (PBLENDW) instructions the engine uses, and FXSR/SSE2 for the XMM state.
[[nodiscard]] constexpr bool sha_ni_usable(const CpuidSha& id) {
  const uint32_t edx_needed = kLeaf1EdxFxsr | kLeaf1EdxSse2;
  const uint32_t ecx_needed = kLeaf1EcxSsse3 | kLeaf1EcxSse41;
  return id.max_leaf >= 7 && (id.leaf1_edx & edx_needed) == edx_needed &&
         (id.leaf1_ecx & ecx_needed) == ecx_needed && (id.leaf7_ebx & kLeaf7EbxSha) != 0;
}

struct CpuidRegs {
  uint32_t eax, ebx, ecx, edx;
};

// CPUID of this CPU, leaf and subleaf (ECX): the one CPUID reader of the
// purgatory (the SHA-NI gate, the page tables' 1 GiB pages and invariant
// TSC, the machine-check support), the plugin and the host tests. The
// caller checks the leaf against the maximum leaf first (leaf 0 or
// 0x80000000's EAX).
inline CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf = 0) {
  CpuidRegs r{};
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

// Reads the three leaves sha_ni_usable looks at from this CPU.
inline CpuidSha read_cpuid_sha() {
  CpuidSha id{};
  id.max_leaf = cpuid(0).eax;
  const CpuidRegs leaf1 = cpuid(1);
  id.leaf1_ecx = leaf1.ecx;
  id.leaf1_edx = leaf1.edx;
  if (id.max_leaf >= 7) id.leaf7_ebx = cpuid(7, 0).ebx;
  return id;
}

// Control register bits the gate sets or clears before the first SSE
// instruction (SDM Vol. 3A §2.5, §13.1 "Enabling SSE"): CR0.EM clear (else
// #UD), CR0.MP set, CR0.TS clear (else #NM); CR4.OSFXSR and OSXMMEXCPT set.
inline constexpr uint64_t kCr0Mp = 1u << 1;
inline constexpr uint64_t kCr0Em = 1u << 2;
inline constexpr uint64_t kCr0Ts = 1u << 3;
inline constexpr uint64_t kCr4Osfxsr = 1u << 9;
inline constexpr uint64_t kCr4Osxmmexcpt = 1u << 10;

[[nodiscard]] constexpr uint64_t cr0_for_sse(uint64_t cr0) { return (cr0 | kCr0Mp) & ~(kCr0Em | kCr0Ts); }
[[nodiscard]] constexpr uint64_t cr4_for_sse(uint64_t cr4) { return cr4 | kCr4Osfxsr | kCr4Osxmmexcpt; }

}  // namespace limbo::cpu
