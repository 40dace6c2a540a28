// SPDX-License-Identifier: GPL-2.0-only
// The SHA-256 engine the plugin hashes with: the purgatory's SHA-NI engine
// when this CPU has it (the loader then recomputes kexec-tools' digest and
// the per-segment digests several times faster), else the portable one.
// The same two engines, the same CPUID rule (lib/cpu_features.h) as the
// purgatory's gate; in a process the OS has SSE enabled already.
#pragma once

#include "lib/sha256.h"

namespace limbo::plugin::kexec {

// Decided once per process from CPUID; LIMBO_SHA256=portable forces the
// portable engine (tests, and a way round a CPU that misreports).
sha256::BlockFunction host_sha256_engine();

}  // namespace limbo::plugin::kexec
