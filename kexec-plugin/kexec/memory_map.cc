// SPDX-License-Identifier: GPL-2.0-only
#include "kexec/memory_map.h"

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "elf/rel_object.h"

namespace limbo::plugin::kexec {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool parse_hex(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

Result<std::vector<MemoryRange>> parse_iomem(std::string_view text) {
  std::vector<MemoryRange> ranges;
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_number;
    line = trim(line);
    if (line.empty()) continue;
    const size_t dash = line.find('-');
    const size_t colon = line.find(" : ");
    uint64_t first = 0;
    uint64_t last = 0;
    if (dash == std::string_view::npos || colon == std::string_view::npos || dash > colon ||
        !parse_hex(line.substr(0, dash), first) || !parse_hex(trim(line.substr(dash + 1, colon - dash - 1)), last) ||
        last < first) {
      return fail(format("/proc/iomem line %zu is not \"start-end : name\"", line_number));
    }
    // An end of ffffffffffffffff has no exclusive bound in 64 bits: it used to
    // wrap to 0, an empty range (found by tests/fuzz/iomem_fuzz); the last
    // byte of the address space is given up instead.
    const uint64_t end = last == UINT64_MAX ? UINT64_MAX : last + 1;
    ranges.push_back({first, end, std::string(trim(line.substr(colon + 3)))});
  }
  return ranges;
}

std::vector<MemoryRange> ranges_named(std::span<const MemoryRange> ranges, std::string_view name) {
  std::vector<MemoryRange> out;
  for (const MemoryRange& range : ranges) {
    if (range.name == name) out.push_back(range);
  }
  return out;
}

Result<uint64_t> find_hole(std::span<const MemoryRange> allowed, std::span<const Segment> occupied,
                           uint64_t size, uint64_t align, uint64_t min_address) {
  // Top-down, as kexec-tools places its purgatory (add_buffer with end = -1).
  std::vector<MemoryRange> sorted(allowed.begin(), allowed.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.end > b.end; });
  auto align_down = [align](uint64_t value) { return value & ~(align - 1); };
  for (const MemoryRange& range : sorted) {
    const uint64_t floor = std::max(range.start, min_address);
    if (range.end < size || range.end - size < floor) continue;
    uint64_t candidate = align_down(range.end - size);
    // Each overlap moves the candidate below that segment; at most one move per segment.
    for (size_t tries = 0; tries <= occupied.size(); ++tries) {
      if (candidate < floor) break;
      const Segment* blocker = nullptr;
      for (const Segment& segment : occupied) {
        if (segment.overlaps(candidate, size)) {
          blocker = &segment;
          break;
        }
      }
      if (!blocker) return candidate;
      if (blocker->mem < size) break;
      candidate = align_down(blocker->mem - size);
    }
  }
  return fail(format("no room: no free %#llx-byte hole aligned to %#llx", static_cast<unsigned long long>(size),
                     static_cast<unsigned long long>(align)),
              EADDRNOTAVAIL);
}

}  // namespace limbo::plugin::kexec
