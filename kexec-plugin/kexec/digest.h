// SPDX-License-Identifier: GPL-2.0-only
// kexec-tools' update_purgatory (kexec/kexec.c) recomputed: the SHA-256 over
// every segment but the purgatory's, in segment order, each one's bytes then
// zeros up to its memsz, and the region table {mem, memsz} the purgatory walks.
// SHA-256 is the purgatory's own portable implementation (purgatory/lib/sha256),
// so that the plugin needs no crypto library and hashes exactly as Limbo will.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "abi/limbo_abi.h"
#include "common/result.h"
#include "kexec/segment.h"

namespace limbo::plugin::kexec {

struct SegmentDigest {
  std::array<abi::Sha256Region, abi::kSha256RegionCount> regions{};
  std::array<uint8_t, abi::kSha256DigestSize> digest{};
};

// `skip` is the index of the purgatory's own segment.
Result<SegmentDigest> digest_segments(std::span<const Segment> segments, size_t skip);

}  // namespace limbo::plugin::kexec
