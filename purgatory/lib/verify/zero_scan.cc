// SPDX-License-Identifier: GPL-2.0-only
// The zero-fill scan. The hot loop ORs eight 64-bit loads per 64-byte line
// and branches once per line: with general registers alone that keeps up
// with memory bandwidth. Only once a line is non-zero does it look for the
// exact byte.
#include "lib/verify/zero_scan.h"

namespace limbo::verify {
namespace {

constexpr size_t kLine = 64;

inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  __builtin_memcpy(&v, p, sizeof(v));  // one unaligned load, no call
  return v;
}

size_t first_nonzero_byte(const uint8_t* data, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    if (data[i] != 0) return i;
  }
  return to;
}

}  // namespace

size_t find_nonzero(const uint8_t* data, size_t length) {
  size_t i = 0;
  // Head up to 8-byte alignment, so that the lines below are aligned loads.
  const size_t misalign = reinterpret_cast<uintptr_t>(data) & 7;
  if (misalign != 0) {
    const size_t head = 8 - misalign < length ? 8 - misalign : length;
    const size_t found = first_nonzero_byte(data, 0, head);
    if (found != head) return found;
    i = head;
  }
  for (; i + kLine <= length; i += kLine) {
    const uint8_t* p = data + i;
    const uint64_t any = load64(p) | load64(p + 8) | load64(p + 16) | load64(p + 24) | load64(p + 32) |
                         load64(p + 40) | load64(p + 48) | load64(p + 56);
    if (any != 0) return first_nonzero_byte(data, i, i + kLine);
  }
  return first_nonzero_byte(data, i, length);
}

}  // namespace limbo::verify
