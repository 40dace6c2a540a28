// SPDX-License-Identifier: GPL-2.0-only
// SHA-256 (FIPS 180-4 §6.2) with the compression function behind one small
// interface, so that a faster engine (SHA-NI) can be selected at run time
// without touching the padding and buffering logic here.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace limbo::sha256 {

inline constexpr size_t kBlockSize = 64;   // FIPS 180-4 §5.2.1: 512-bit blocks
inline constexpr size_t kDigestSize = 32;  // 256-bit message digest

// Compresses `block_count` consecutive 64-byte blocks into `state` (eight
// 32-bit working words, FIPS 180-4 §6.2.2). Every engine has this signature.
using BlockFunction = void (*)(uint32_t state[8], const uint8_t* blocks, size_t block_count);

// The portable engine: plain C++, general-purpose registers only.
void compress_portable(uint32_t state[8], const uint8_t* blocks, size_t block_count);

// The SHA-NI engine (arch/x86_64/sha256_ni.cc, the SIMD place). Needs CPUID
// SHA, SSSE3 and SSE4.1 and SSE enabled: in the purgatory only
// simd_gate_sha256 (arch/x86_64/simd_gate.cc) may hand out its address.
void compress_sha_ni(uint32_t state[8], const uint8_t* blocks, size_t block_count);

// What the console says ran: the portable engine or the other one, SHA-NI
// (the purgatory has exactly these two).
[[nodiscard]] inline const char* engine_name(BlockFunction compress) {
  return compress == compress_portable ? "portable" : "sha-ni";
}

// FIPS 180-4 §4.2.2: first 32 bits of the fractional parts of the cube roots
// of the first 64 primes. Shared by both engines; 16-byte aligned so that the
// SHA-NI engine loads four at a time. Not `inline`: each engine's file keeps
// its own internal copy, so the purgatory has no COMDAT or weak symbol.
alignas(16) constexpr uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

struct Digest {
  uint8_t bytes[kDigestSize];
};

class Hasher {
 public:
  explicit Hasher(BlockFunction compress = compress_portable);

  void update(const uint8_t* data, size_t length);
  [[nodiscard]] Digest finish();

 private:
  BlockFunction compress_;
  uint32_t state_[8];
  uint64_t total_bytes_ = 0;
  uint8_t buffer_[kBlockSize];
  size_t buffered_ = 0;
};

// One-shot convenience.
[[nodiscard]] Digest hash(const uint8_t* data, size_t length,
                          BlockFunction compress = compress_portable);

}  // namespace limbo::sha256
