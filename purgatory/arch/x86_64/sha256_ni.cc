// SPDX-License-Identifier: GPL-2.0-only
// SHA-256 compression with the SHA extensions (Intel SDM Vol. 2 SHA256RNDS2,
// SHA256MSG1, SHA256MSG2; FIPS 180-4 §6.2.2). THE SIMD PLACE: the only file
// built with -msha -mssse3 -msse4.1 (purgatory/purgatory.mk), linked into its
// own section .text.simd (linker-scripts/purgatory.lds.S). In the purgatory it
// is reached only through simd_gate_sha256 (simd_gate.cc), which checks CPUID
// and enables SSE first: at entry CR4.OSFXSR = 0 and any SSE instruction
// faults. Legacy SSE encodings only: VEX would need XCR0, which nobody set.
// Compiles unchanged for the host (tests, benchmarks).
#include <immintrin.h>

#include "lib/sha256.h"

namespace limbo::sha256 {
namespace {

inline __m128i constants(int group) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(kRoundConstants + 4 * group));
}

// Four rounds: SHA256RNDS2 does two with the low 64 bits of `wk`, then two
// with the high 64 bits moved down.
inline void four_rounds(__m128i& state0, __m128i& state1, __m128i message, int group) {
  __m128i wk = _mm_add_epi32(message, constants(group));
  state1 = _mm_sha256rnds2_epu32(state1, state0, wk);
  wk = _mm_shuffle_epi32(wk, 0x0e);
  state0 = _mm_sha256rnds2_epu32(state0, state1, wk);
}

// The next four schedule words W[t..t+3] (FIPS 180-4 (6.2.2) step 1) from the
// previous sixteen held in m0..m3 (oldest first): SHA256MSG1 adds sigma0,
// PALIGNR supplies W[t-7..t-4], SHA256MSG2 adds sigma1.
inline __m128i next_words(__m128i m0, __m128i m1, __m128i m2, __m128i m3) {
  __m128i w = _mm_sha256msg1_epu32(m0, m1);
  w = _mm_add_epi32(w, _mm_alignr_epi8(m3, m2, 4));
  return _mm_sha256msg2_epu32(w, m3);
}

}  // namespace

void compress_sha_ni(uint32_t state[8], const uint8_t* blocks, size_t block_count) {
  // Message words are big-endian (FIPS 180-4 §3.1): byte-swap each dword.
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

  // The instructions want the state as {A,B,E,F} and {C,D,G,H}.
  __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state));        // D C B A
  __m128i state1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state + 4));  // H G F E
  tmp = _mm_shuffle_epi32(tmp, 0xb1);        // C D A B
  state1 = _mm_shuffle_epi32(state1, 0x1b);  // E F G H
  __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);  // A B E F
  state1 = _mm_blend_epi16(state1, tmp, 0xf0);       // C D G H

  for (; block_count > 0; --block_count, blocks += kBlockSize) {
    const __m128i saved0 = state0;
    const __m128i saved1 = state1;
    const __m128i* in = reinterpret_cast<const __m128i*>(blocks);
    __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128(in + 0), byte_swap);
    __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128(in + 1), byte_swap);
    __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128(in + 2), byte_swap);
    __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128(in + 3), byte_swap);
    four_rounds(state0, state1, m0, 0);
    four_rounds(state0, state1, m1, 1);
    four_rounds(state0, state1, m2, 2);
    four_rounds(state0, state1, m3, 3);
    for (int group = 4; group < 16; group += 4) {
      m0 = next_words(m0, m1, m2, m3);
      four_rounds(state0, state1, m0, group + 0);
      m1 = next_words(m1, m2, m3, m0);
      four_rounds(state0, state1, m1, group + 1);
      m2 = next_words(m2, m3, m0, m1);
      four_rounds(state0, state1, m2, group + 2);
      m3 = next_words(m3, m0, m1, m2);
      four_rounds(state0, state1, m3, group + 3);
    }
    // FIPS 180-4 §6.2.2 step 4.
    state0 = _mm_add_epi32(state0, saved0);
    state1 = _mm_add_epi32(state1, saved1);
  }

  tmp = _mm_shuffle_epi32(state0, 0x1b);             // F E B A
  state1 = _mm_shuffle_epi32(state1, 0xb1);          // D C H G
  state0 = _mm_blend_epi16(tmp, state1, 0xf0);       // D C B A
  state1 = _mm_alignr_epi8(state1, tmp, 8);          // H G F E
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state), state0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state + 4), state1);
}

}  // namespace limbo::sha256
