// SPDX-License-Identifier: GPL-2.0-only
#include "lib/verify/segments.h"

#include "lib/verify/zero_scan.h"

namespace limbo::verify {

Plan check_plan(const abi::Sha256Region (&regions)[abi::kSha256RegionCount], const abi::Config& config) {
  const uint32_t count = config.segment_check_count;
  if (count == 0) return Plan::kNotProvided;
  if (count > abi::kSha256RegionCount) return Plan::kCountMismatch;
  // kexec-tools fills the table from index 0 without holes (update_purgatory);
  // the checks are index for index.
  for (size_t i = 0; i < abi::kSha256RegionCount; ++i) {
    const bool used = regions[i].len != 0;
    if (used != (i < count)) return Plan::kCountMismatch;
    if (used && config.segments[i].content_len > regions[i].len) return Plan::kContentTooLong;
  }
  return Plan::kPerSegment;
}

const char* plan_text(Plan plan) {
  switch (plan) {
    case Plan::kPerSegment: return "per-segment digests and zero-fill scan";
    case Plan::kNotProvided: return "no per-segment checks in the config block";
    case Plan::kCountMismatch: return "per-segment checks do not match the region table";
    case Plan::kContentTooLong: return "a per-segment content length exceeds its region";
  }
  return "?";
}

SegmentResult check_segment(const uint8_t* base, uint64_t length, const abi::SegmentCheck& check,
                            sha256::BlockFunction compress) {
  auto nothing = [] {};
  return check_segment_chunked(base, length, check, compress, nothing);
}

const char* role_name(uint32_t role) {
  switch (static_cast<abi::SegmentRole>(role)) {
    case abi::SegmentRole::kKernel: return "kernel";
    case abi::SegmentRole::kInitrd: return "initrd";
    case abi::SegmentRole::kBootParams: return "boot parameters";
    case abi::SegmentRole::kElfCoreHeaders: return "ELF core headers";
    case abi::SegmentRole::kBackup: return "backup";
    case abi::SegmentRole::kOther: break;
  }
  return "other";
}

}  // namespace limbo::verify
