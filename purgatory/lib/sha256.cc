// SPDX-License-Identifier: GPL-2.0-only
// Portable SHA-256, FIPS 180-4 §6.2. Written for speed within
// -mgeneral-regs-only: fully unrolled rounds over a 16-word rolling message
// schedule, so the working variables stay in registers.
#include "lib/sha256.h"

#include "lib/call_targets.h"

namespace limbo::sha256 {
namespace {

// FIPS 180-4 §5.3.3: the initial hash value H(0).
constexpr uint32_t kInitialState[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

constexpr uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
// FIPS 180-4 §4.1.2, functions (4.2) to (4.7).
constexpr uint32_t ch(uint32_t x, uint32_t y, uint32_t z) { return z ^ (x & (y ^ z)); }
constexpr uint32_t maj(uint32_t x, uint32_t y, uint32_t z) { return y ^ ((x ^ y) & (y ^ z)); }
constexpr uint32_t big_sigma0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
constexpr uint32_t big_sigma1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
constexpr uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
constexpr uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// One round of FIPS 180-4 §6.2.2 step 3, with the variable rotation done by
// renaming (the caller permutes a..h) instead of moving eight registers.
#define LIMBO_SHA256_ROUND(a, b, c, d, e, f, g, h, k, w)           \
  do {                                                             \
    uint32_t t1 = (h) + big_sigma1(e) + ch((e), (f), (g)) + (k) + (w); \
    uint32_t t2 = big_sigma0(a) + maj((a), (b), (c));              \
    (d) += t1;                                                     \
    (h) = t1 + t2;                                                 \
  } while (0)

// Message schedule (6.2.2 step 1) for t >= 16, kept in a 16-word ring.
#define LIMBO_SHA256_SCHEDULE(w, t)                                                     \
  ((w)[(t) & 15] += small_sigma1((w)[((t) - 2) & 15]) + (w)[((t) - 7) & 15] +           \
                    small_sigma0((w)[((t) - 15) & 15]))

#define LIMBO_SHA256_EIGHT(t, W)                                          \
  LIMBO_SHA256_ROUND(a, b, c, d, e, f, g, h, kRoundConstants[(t) + 0], W(t + 0)); \
  LIMBO_SHA256_ROUND(h, a, b, c, d, e, f, g, kRoundConstants[(t) + 1], W(t + 1)); \
  LIMBO_SHA256_ROUND(g, h, a, b, c, d, e, f, kRoundConstants[(t) + 2], W(t + 2)); \
  LIMBO_SHA256_ROUND(f, g, h, a, b, c, d, e, kRoundConstants[(t) + 3], W(t + 3)); \
  LIMBO_SHA256_ROUND(e, f, g, h, a, b, c, d, kRoundConstants[(t) + 4], W(t + 4)); \
  LIMBO_SHA256_ROUND(d, e, f, g, h, a, b, c, kRoundConstants[(t) + 5], W(t + 5)); \
  LIMBO_SHA256_ROUND(c, d, e, f, g, h, a, b, kRoundConstants[(t) + 6], W(t + 6)); \
  LIMBO_SHA256_ROUND(b, c, d, e, f, g, h, a, kRoundConstants[(t) + 7], W(t + 7))

}  // namespace

// True if the 64-byte block is all zeros. kexec-tools' regions end in the
// zero fill of each segment (memory size beyond file size): most of a crash
// kernel's hashed bytes when the full hash runs (no per-segment checks).
// Their message schedule is all zeros (sigma0(0) = sigma1(0) = 0), so such
// blocks skip the loads and the schedule. The first word decides alone for
// almost every content block, so content pays one load and one branch.
inline bool is_zero_block(const uint8_t* block) {
  uint64_t any;
  __builtin_memcpy(&any, block, 8);  // unaligned-safe, one load
  if (any != 0) return false;
  for (size_t i = 8; i < kBlockSize; i += 8) {
    uint64_t word;
    __builtin_memcpy(&word, block + i, 8);
    any |= word;
  }
  return any == 0;
}

void compress_portable(uint32_t state[8], const uint8_t* blocks, size_t block_count) {
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
  for (; block_count > 0; --block_count, blocks += kBlockSize) {
    if (is_zero_block(blocks)) {
#define LIMBO_W_ZERO(t) 0u
      LIMBO_SHA256_EIGHT(0, LIMBO_W_ZERO);
      LIMBO_SHA256_EIGHT(8, LIMBO_W_ZERO);
      LIMBO_SHA256_EIGHT(16, LIMBO_W_ZERO);
      LIMBO_SHA256_EIGHT(24, LIMBO_W_ZERO);
      LIMBO_SHA256_EIGHT(32, LIMBO_W_ZERO);
      LIMBO_SHA256_EIGHT(40, LIMBO_W_ZERO);
      LIMBO_SHA256_EIGHT(48, LIMBO_W_ZERO);
      LIMBO_SHA256_EIGHT(56, LIMBO_W_ZERO);
#undef LIMBO_W_ZERO
    } else {
      uint32_t w[16];
      for (int t = 0; t < 16; ++t) w[t] = load_be32(blocks + 4 * t);
#define LIMBO_W_FIRST(t) w[(t)]
#define LIMBO_W_NEXT(t) LIMBO_SHA256_SCHEDULE(w, (t))
      LIMBO_SHA256_EIGHT(0, LIMBO_W_FIRST);
      LIMBO_SHA256_EIGHT(8, LIMBO_W_FIRST);
      LIMBO_SHA256_EIGHT(16, LIMBO_W_NEXT);
      LIMBO_SHA256_EIGHT(24, LIMBO_W_NEXT);
      LIMBO_SHA256_EIGHT(32, LIMBO_W_NEXT);
      LIMBO_SHA256_EIGHT(40, LIMBO_W_NEXT);
      LIMBO_SHA256_EIGHT(48, LIMBO_W_NEXT);
      LIMBO_SHA256_EIGHT(56, LIMBO_W_NEXT);
#undef LIMBO_W_FIRST
#undef LIMBO_W_NEXT
    }
    // FIPS 180-4 §6.2.2 step 4: the intermediate hash value.
    a = state[0] += a;
    b = state[1] += b;
    c = state[2] += c;
    d = state[3] += d;
    e = state[4] += e;
    f = state[5] += f;
    g = state[6] += g;
    h = state[7] += h;
  }
}

#undef LIMBO_SHA256_ROUND
#undef LIMBO_SHA256_SCHEDULE
#undef LIMBO_SHA256_EIGHT

Hasher::Hasher(BlockFunction compress) : compress_(compress) {
  for (int i = 0; i < 8; ++i) state_[i] = kInitialState[i];
}

// compress_ is one of the two engines. The SHA-NI one exists only where
// sha256_ni.cc is linked (the purgatory, the tests), not in the plugin: the
// record is for the purgatory's checker only.
#if __STDC_HOSTED__ == 0
#define LIMBO_SHA256_ENGINES()          \
  LIMBO_CALL_TARGET(compress_portable); \
  LIMBO_CALL_TARGET(compress_sha_ni)
#else
#define LIMBO_SHA256_ENGINES() LIMBO_CALL_TARGET(compress_portable)
#endif

void Hasher::update(const uint8_t* data, size_t length) {
  LIMBO_SHA256_ENGINES();
  total_bytes_ += length;
  if (buffered_ > 0) {
    size_t take = kBlockSize - buffered_;
    if (take > length) take = length;
    for (size_t i = 0; i < take; ++i) buffer_[buffered_ + i] = data[i];
    buffered_ += take;
    data += take;
    length -= take;
    if (buffered_ < kBlockSize) return;
    compress_(state_, buffer_, 1);
    buffered_ = 0;
  }
  // Whole blocks straight from the caller's memory: no copy on the hot path.
  size_t whole = length / kBlockSize;
  if (whole > 0) {
    compress_(state_, data, whole);
    data += whole * kBlockSize;
    length -= whole * kBlockSize;
  }
  for (size_t i = 0; i < length; ++i) buffer_[i] = data[i];
  buffered_ = length;
}

Digest Hasher::finish() {
  LIMBO_SHA256_ENGINES();
  // FIPS 180-4 §5.1.1: a 1 bit, zeros to 448 mod 512, then the bit length
  // as a 64-bit big-endian integer.
  const uint64_t bit_length = total_bytes_ * 8;
  buffer_[buffered_++] = 0x80;
  if (buffered_ > kBlockSize - 8) {
    while (buffered_ < kBlockSize) buffer_[buffered_++] = 0;
    compress_(state_, buffer_, 1);
    buffered_ = 0;
  }
  while (buffered_ < kBlockSize - 8) buffer_[buffered_++] = 0;
  for (int i = 0; i < 8; ++i) buffer_[kBlockSize - 1 - i] = static_cast<uint8_t>(bit_length >> (8 * i));
  compress_(state_, buffer_, 1);
  buffered_ = 0;

  Digest digest;
  for (int i = 0; i < 8; ++i) store_be32(digest.bytes + 4 * i, state_[i]);
  return digest;
}

Digest hash(const uint8_t* data, size_t length, BlockFunction compress) {
  Hasher hasher(compress);
  hasher.update(data, length);
  return hasher.finish();
}

}  // namespace limbo::sha256
