// SPDX-License-Identifier: GPL-2.0-only
// The TSC facts Limbo's purgatory needs to time its PCIe waits without a
// calibrated clock of its own: the frequency, measured here at load time, and
// whether the TSC is invariant (AMD64 APM vol. 3 / Intel SDM vol. 2A, CPUID
// Fn8000_0007 EDX[8] "TscInvariant").
#pragma once

#include <cstdint>

namespace limbo::plugin::kexec {

struct TscInfo {
  uint64_t hz = 0;  // 0 when it could not be measured
  bool invariant = false;
};

// rdtsc against CLOCK_MONOTONIC_RAW over `window_ns` (default 30 ms).
TscInfo measure_tsc(uint64_t window_ns = 30'000'000);

}  // namespace limbo::plugin::kexec
