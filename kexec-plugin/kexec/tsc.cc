// SPDX-License-Identifier: GPL-2.0-only
#include "kexec/tsc.h"

#include <cpuid.h>
#include <time.h>
#include <x86intrin.h>

namespace limbo::plugin::kexec {
namespace {

constexpr unsigned kCpuidAdvancedPowerLeaf = 0x80000007;  // Fn8000_0007
constexpr unsigned kEdxTscInvariant = 1u << 8;            // EDX[8]

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

TscInfo measure_tsc(uint64_t window_ns) {
  TscInfo info;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(kCpuidAdvancedPowerLeaf, &eax, &ebx, &ecx, &edx)) info.invariant = (edx & kEdxTscInvariant) != 0;

  const uint64_t t0 = now_ns();
  const uint64_t c0 = __rdtsc();
  uint64_t t1 = t0;
  while (t1 - t0 < window_ns) t1 = now_ns();  // bounded by the monotonic clock
  const uint64_t c1 = __rdtsc();
  if (c1 > c0 && t1 > t0) {
    info.hz = static_cast<uint64_t>(static_cast<unsigned __int128>(c1 - c0) * 1'000'000'000u / (t1 - t0));
  }
  return info;
}

}  // namespace limbo::plugin::kexec
