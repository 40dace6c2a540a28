// SPDX-License-Identifier: GPL-2.0-only
// Per-segment verification (issue 9): each digested segment's content is
// hashed against its own digest from Limbo's configuration block and its zero
// fill is scanned, so that a mismatch names the damaged segment, and the fill
// (most of a crash kernel's bytes) costs a memory scan instead of a hash.
// Portable: the purgatory and the host tests compile it unchanged.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/sha256.h"

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

// "kernel", "initrd", "boot parameters", "ELF core headers", "backup", "other".
[[nodiscard]] const char* role_name(uint32_t role);

}  // namespace limbo::verify
