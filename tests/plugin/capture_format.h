// SPDX-License-Identifier: GPL-2.0-only
// TEST ONLY: the file tests/plugin/capture_load.cc writes: a header, then
// per segment its place and sizes followed by its bufsz bytes.
#pragma once

#include <cstdint>

namespace limbo::test {

inline constexpr uint64_t kCaptureMagic = 0x3165727574706163ull;  // "capture1"

struct CaptureHeader {
  uint64_t magic;
  uint64_t entry;
  uint64_t flags;
  uint64_t nr_segments;
};

struct CaptureSegment {
  uint64_t mem;
  uint64_t memsz;
  uint64_t bufsz;
};

}  // namespace limbo::test
