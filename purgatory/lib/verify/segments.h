// SPDX-License-Identifier: GPL-2.0-only
// Per-segment verification: each digested segment's content is
// hashed against its own digest from Limbo's configuration block and its zero
// fill is scanned, so that a mismatch names the damaged segment, and the fill
// (most of a crash kernel's bytes) costs a memory scan instead of a hash.
// Portable: the purgatory and the host tests compile it unchanged.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/sha256.h"
#include "lib/verify/zero_scan.h"

namespace limbo::verify {

// Whether the block's per-segment checks describe the region table, and if
// not, why (the purgatory then hashes every region in full, as stock does).
enum class Plan : uint8_t {
  kPerSegment,      // use them
  kNotProvided,     // segment_check_count == 0 (stock kexec, or an old plugin)
  kCountMismatch,   // count differs from the non-empty regions, or a hole in the table
  kContentTooLong,  // a content_len larger than its region
};

[[nodiscard]] Plan check_plan(const abi::Sha256Region (&regions)[abi::kSha256RegionCount], const abi::Config& config);
[[nodiscard]] const char* plan_text(Plan plan);

struct SegmentResult {
  bool content_damaged = false;  // the content's digest differs
  bool fill_damaged = false;     // a byte of the zero fill is not zero
  uint64_t first_changed = 0;    // fill_damaged: offset in the segment of the first non-zero fill byte
  sha256::Digest computed{};     // digest of the content bytes

  [[nodiscard]] bool damaged() const { return content_damaged || fill_damaged; }
};

// `base` holds the region's `length` bytes: content_len of content, then fill.
// The content is hashed whole even when it is damaged, and the fill scanned
// even when the content is: both findings are reported.
[[nodiscard]] SegmentResult check_segment(const uint8_t* base, uint64_t length, const abi::SegmentCheck& check,
                                          sha256::BlockFunction compress);

// The hash and the scan work in chunks of at most this many bytes
// and call the caller's `between()` after each, so that a clock read there
// (the PIT, which wraps every 55 ms: lib/clock.h PitClock) sees every turn
// while the image is verified with the devices in reset. 64 KiB takes about
// 2 ms with the portable SHA-256 under QEMU's TCG (~30 MB/s, the slowest
// engine measured here) and about 0.1 ms on hardware: far inside a turn.
inline constexpr uint64_t kChunkBytes = 64 * 1024;

// check_segment, chunked.
template <class Between>
[[nodiscard]] SegmentResult check_segment_chunked(const uint8_t* base, uint64_t length, const abi::SegmentCheck& check,
                                                  sha256::BlockFunction compress, Between& between) {
  SegmentResult result;
  sha256::Hasher hasher(compress);
  for (uint64_t at = 0; at < check.content_len;) {
    const uint64_t n = check.content_len - at < kChunkBytes ? check.content_len - at : kChunkBytes;
    hasher.update(base + at, n);
    at += n;
    between();
  }
  result.computed = hasher.finish();
  for (size_t i = 0; i < sha256::kDigestSize; ++i) {
    if (result.computed.bytes[i] != check.digest[i]) result.content_damaged = true;
  }
  for (uint64_t at = check.content_len; at < length;) {
    const uint64_t n = length - at < kChunkBytes ? length - at : kChunkBytes;
    const uint64_t nonzero = find_nonzero(base + at, n);
    at += n;
    between();
    if (nonzero != n) {
      result.fill_damaged = true;
      result.first_changed = at - n + nonzero;
      break;
    }
  }
  return result;
}

// "kernel", "initrd", "boot parameters", "ELF core headers", "backup", "other".
[[nodiscard]] const char* role_name(uint32_t role);

}  // namespace limbo::verify
