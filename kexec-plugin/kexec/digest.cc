// SPDX-License-Identifier: GPL-2.0-only
#include "kexec/digest.h"

#include "kexec/sha256_engine.h"
#include "lib/sha256.h"

namespace limbo::plugin::kexec {

Result<SegmentDigest> digest_segments(std::span<const Segment> segments, size_t skip) {
  const size_t hashed = segments.size() - (skip < segments.size() ? 1 : 0);
  if (hashed > abi::kSha256RegionCount) {
    return fail(format("%zu segments to hash, the purgatory's region table holds %zu", hashed, abi::kSha256RegionCount));
  }
  static const uint8_t kZeros[4096] = {};
  sha256::Hasher hasher(host_sha256_engine());
  SegmentDigest out;
  size_t region = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i == skip) continue;
    const Segment& segment = segments[i];
    if (segment.bufsz > segment.memsz) {
      return fail(format("segment %zu: bufsz %#llx > memsz %#llx", i, static_cast<unsigned long long>(segment.bufsz),
                         static_cast<unsigned long long>(segment.memsz)));
    }
    if (segment.bufsz) hasher.update(segment.buf, segment.bufsz);
    for (uint64_t left = segment.memsz - segment.bufsz; left > 0;) {
      const uint64_t chunk = left < sizeof(kZeros) ? left : sizeof(kZeros);
      hasher.update(kZeros, chunk);
      left -= chunk;
    }
    out.regions[region++] = {segment.mem, segment.memsz};
  }
  const sha256::Digest digest = hasher.finish();
  static_assert(sizeof(digest.bytes) == abi::kSha256DigestSize);
  for (size_t i = 0; i < out.digest.size(); ++i) out.digest[i] = digest.bytes[i];
  return out;
}

}  // namespace limbo::plugin::kexec
