// SPDX-License-Identifier: GPL-2.0-only
// The gate in front of the SIMD place (sha256_ni.cc, section .text.simd):
// the only code that may hand out the SHA-NI engine, and only after CPUID
// says it exists and SSE has been switched on, because the crashed kernel's
// relocate_kernel leaves CR4.OSFXSR clear (docs/cpu-state.md).
// General-register code, like the rest of the purgatory.
#include "lib/cpu_features.h"
#include "lib/sha256.h"

namespace limbo::arch {
namespace {

// CR0 and CR4 as the gate found them, while SSE is switched on for SHA-NI.
struct SavedControl {
  bool active;
  uint64_t cr0, cr4;
};
constinit SavedControl saved{false, 0, 0};

}  // namespace

// Returns the SHA-NI engine with SSE enabled, or the portable one (and
// touches no control register) when the CPU lacks any needed feature.
[[gnu::noinline]] sha256::BlockFunction simd_gate_sha256() {
  if (!cpu::sha_ni_usable(cpu::read_cpuid_sha())) return sha256::compress_portable;

  uint64_t cr0, cr4;
  asm volatile("mov %%cr0, %0" : "=r"(cr0));
  asm volatile("mov %%cr4, %0" : "=r"(cr4));
  saved = {true, cr0, cr4};
  asm volatile("mov %0, %%cr0" : : "r"(cpu::cr0_for_sse(cr0)) : "memory");
  asm volatile("mov %0, %%cr4" : : "r"(cpu::cr4_for_sse(cr4)) : "memory");
  return sha256::compress_sha_ni;
}

// Puts CR0 and CR4 back as the gate found them once hashing is over, so the
// capture kernel starts with the control registers the crashed kernel's
// relocate_kernel left (SSE off), as after the stock purgatory. Nothing
// after this point may execute an SSE instruction; the rest of the
// purgatory is general-register code. A no-op when the gate chose portable.
// Not a gate (tools/checker: a simd_gate function must execute CPUID): it
// hands out nothing.
[[gnu::noinline]] void restore_control_after_simd() {
  if (!saved.active) return;
  asm volatile("mov %0, %%cr4" : : "r"(saved.cr4) : "memory");
  asm volatile("mov %0, %%cr0" : : "r"(saved.cr0) : "memory");
  saved.active = false;
}

}  // namespace limbo::arch
