// SPDX-License-Identifier: GPL-2.0-only
// Fuzz target: the /proc/iomem parsers (kexec-plugin/kexec/memory_map.h
// parse_iomem and find_hole, kexec-plugin/pcie/ecam.h parse_iomem_ecam) over
// arbitrary text. Invariants: every range parse_iomem returns is non-empty
// (start < end); a hole find_hole returns is aligned, above the floor, inside
// one allowed range and clear of every occupied segment; ECAM windows it
// accepts pass validate_windows.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "kexec/memory_map.h"
#include "pcie/ecam.h"

namespace {

[[noreturn]] void violated(const char* what) {
  fprintf(stderr, "iomem_fuzz: invariant violated: %s\n", what);
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace limbo::plugin;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto windows = pcie::parse_iomem_ecam(text);
  if (windows && !pcie::validate_windows(*windows, "fuzz").ok() && !windows->empty()) {
    violated("accepted ECAM windows fail validate_windows");
  }

  auto ranges = kexec::parse_iomem(text);
  if (!ranges) return 0;
  for (const auto& r : *ranges) {
    if (r.start >= r.end) violated("an empty or wrapped range");
  }
  // The plugin's own use: a hole among the "Crash kernel" ranges, with the
  // other ranges of the file standing in for occupied segments.
  const auto allowed = kexec::ranges_named(*ranges, "Crash kernel");
  std::vector<kexec::Segment> occupied;
  for (const auto& r : *ranges) {
    if (r.name != "Crash kernel" && occupied.size() < 16) occupied.push_back({nullptr, 0, r.start, r.end - r.start});
  }
  for (uint64_t hole_size : {uint64_t{0x1000}, uint64_t{0x20000}}) {
    constexpr uint64_t kAlign = 0x1000, kFloor = 0x3000;
    auto hole = kexec::find_hole(allowed, occupied, hole_size, kAlign, kFloor);
    if (!hole) continue;
    if (*hole % kAlign != 0 || *hole < kFloor) violated("hole misaligned or below the floor");
    bool inside = false;
    for (const auto& r : allowed) inside |= *hole >= r.start && *hole + hole_size <= r.end && *hole + hole_size > *hole;
    if (!inside) violated("hole outside every allowed range");
    for (const auto& s : occupied) {
      if (s.overlaps(*hole, hole_size)) violated("hole overlaps an occupied segment");
    }
  }
  return 0;
}
