// SPDX-License-Identifier: GPL-2.0-only
// The C library calls GCC may emit in freestanding code (it may turn a copy or
// fill loop into memcpy/memset). `rep movsb`/`rep stosb` are fast on CPUs with
// ERMS and need no SIMD (SDM Vol. 1 §7.3.9.3); the flag DF is clear on entry
// (SysV ABI) and nothing here sets it.
#include <stddef.h>
#include <stdint.h>

extern "C" {

void* memcpy(void* dst, const void* src, size_t n) {
  void* ret = dst;
  asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
  return ret;
}

void* memmove(void* dst, const void* src, size_t n) {
  auto d = reinterpret_cast<uintptr_t>(dst);
  auto s = reinterpret_cast<uintptr_t>(src);
  if (d <= s || d >= s + n) return memcpy(dst, src, n);
  // Overlapping with dst above src: copy backwards.
  void* ret = dst;
  const uint8_t* last_src = static_cast<const uint8_t*>(src) + n - 1;
  uint8_t* last_dst = static_cast<uint8_t*>(dst) + n - 1;
  asm volatile("std; rep movsb; cld" : "+D"(last_dst), "+S"(last_src), "+c"(n) : : "memory");
  return ret;
}

void* memset(void* dst, int value, size_t n) {
  void* ret = dst;
  asm volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(value) : "memory");
  return ret;
}

// A byte loop; the optimizer must not turn it back into a call to itself.
[[gnu::optimize("no-tree-loop-distribute-patterns")]] int memcmp(const void* a, const void* b, size_t n) {
  const uint8_t* x = static_cast<const uint8_t*>(a);
  const uint8_t* y = static_cast<const uint8_t*>(b);
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

}  // extern "C"
