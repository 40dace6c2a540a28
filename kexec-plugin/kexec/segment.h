// SPDX-License-Identifier: GPL-2.0-only
// A kexec segment as the kexec_load system call takes it (uapi
// <linux/kexec.h> struct kexec_segment), as a value type the pure logic uses.
#pragma once

#include <cstdint>
#include <linux/kexec.h>

namespace limbo::plugin::kexec {

struct Segment {
  const uint8_t* buf = nullptr;
  uint64_t bufsz = 0;
  uint64_t mem = 0;    // physical destination
  uint64_t memsz = 0;  // page-aligned; bytes past bufsz are zero-filled by the kernel

  uint64_t end() const { return mem + memsz; }
  bool contains(uint64_t address) const { return address >= mem && address - mem < memsz; }
  bool overlaps(uint64_t start, uint64_t size) const { return start < end() && mem < start + size; }

  static Segment from_kernel(const kexec_segment& s) {
    return {static_cast<const uint8_t*>(s.buf), s.bufsz, reinterpret_cast<uint64_t>(s.mem), s.memsz};
  }
  kexec_segment to_kernel() const {
    return {buf, bufsz, reinterpret_cast<const void*>(mem), memsz};
  }
};

// kexec_load flags (uapi <linux/kexec.h>): KEXEC_ON_CRASH marks a capture
// kernel load (`kexec -p`); the high 16 bits carry the architecture.
inline bool is_crash_load(uint64_t flags) { return (flags & KEXEC_ON_CRASH) != 0; }

}  // namespace limbo::plugin::kexec
