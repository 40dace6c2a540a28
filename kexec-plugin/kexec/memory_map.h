// SPDX-License-Identifier: GPL-2.0-only
// Physical memory as /proc/iomem describes it, and the search for a free,
// aligned hole for Limbo's segment among the other kexec segments.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "kexec/segment.h"

namespace limbo::plugin::kexec {

struct MemoryRange {
  uint64_t start = 0;
  uint64_t end = 0;  // exclusive
  std::string name;
};

// Every line of /proc/iomem at any nesting depth ("  a0000000-afffffff : Crash kernel").
Result<std::vector<MemoryRange>> parse_iomem(std::string_view text);

// The ranges whose name is exactly `name` ("Crash kernel", "System RAM").
std::vector<MemoryRange> ranges_named(std::span<const MemoryRange> ranges, std::string_view name);

// What /proc/iomem calls the memory a segment of this load may use.
inline const char* allowed_range_name(bool crash) { return crash ? "Crash kernel" : "System RAM"; }

// The highest address >= min_address, aligned to `align`, where `size` bytes
// lie inside one of `allowed` and overlap none of `occupied` (top-down, like
// kexec-tools' own placement of the purgatory).
Result<uint64_t> find_hole(std::span<const MemoryRange> allowed, std::span<const Segment> occupied,
                           uint64_t size, uint64_t align, uint64_t min_address);

}  // namespace limbo::plugin::kexec
