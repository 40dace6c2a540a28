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
