#include "kexec/digest.h"

#include <openssl/evp.h>

#include <memory>

namespace limbo::plugin::kexec {
namespace {

struct ContextFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

}  // namespace

Result<SegmentDigest> digest_segments(std::span<const Segment> segments, size_t skip) {
  if (segments.size() - (skip < segments.size() ? 1 : 0) > abi::kSha256RegionCount) {
    return fail(format("%zu segments to hash, the purgatory's region table holds %zu", segments.size() - 1,
                       abi::kSha256RegionCount));
  }
  std::unique_ptr<EVP_MD_CTX, ContextFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return fail("libcrypto: SHA-256 unavailable", ENOMEM);
  static const uint8_t kZeros[4096] = {};
  SegmentDigest out;
  size_t region = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i == skip) continue;
    const Segment& segment = segments[i];
    if (segment.bufsz > segment.memsz) return fail(format("segment %zu: bufsz %#llx > memsz %#llx", i,
                                                          static_cast<unsigned long long>(segment.bufsz),
                                                          static_cast<unsigned long long>(segment.memsz)));
    if (segment.bufsz && EVP_DigestUpdate(ctx.get(), segment.buf, segment.bufsz) != 1) return fail("libcrypto: SHA-256 update failed");
    for (uint64_t left = segment.memsz - segment.bufsz; left > 0;) {
      const uint64_t chunk = left < sizeof(kZeros) ? left : sizeof(kZeros);
      if (EVP_DigestUpdate(ctx.get(), kZeros, chunk) != 1) return fail("libcrypto: SHA-256 update failed");
      left -= chunk;
    }
    out.regions[region++] = {segment.mem, segment.memsz};
  }
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.digest.data(), &length) != 1 || length != out.digest.size()) {
    return fail("libcrypto: SHA-256 final failed");
  }
  return out;
}

}  // namespace limbo::plugin::kexec
