// SPDX-License-Identifier: GPL-2.0-only
// Fuzz target: how the purgatory reads Limbo's configuration block
// (abi::Config) and the sha256_regions table next to it, as the plugin or a
// corrupt load may leave them: flow::check_config, verify::check_plan and
// check_segment, pcie::settings_from_abi, pcie::root_buses and the EcamMap
// the purgatory's config accesses go through. Invariants: a refused block
// yields no TSC figure; a per-segment plan only when every check fits its
// region; check_segment reports a fill offset inside the segment; settings
// are clamped to Linux's limits and the ABI's table sizes; every root bus
// comes from the block; every config address lies inside its window.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "abi/limbo_abi.h"
#include "lib/flow.h"
#include "lib/pcie/config_space.h"
#include "lib/pcie/policy.h"
#include "lib/pcie/quiesce.h"
#include "lib/verify/segments.h"
#include "tests/fuzz/seed_writer.h"

namespace {

[[noreturn]] void violated(const char* what) {
  fprintf(stderr, "config_block_fuzz: invariant violated: %s\n", what);
  abort();
}

}  // namespace

// Seeds: a block as the plugin writes it (two segments with their checks, an
// ECAM window, reset mode), and the same with the per-segment checks off.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace limbo;
  if (fuzz::seed_dir() == nullptr) return 0;
  for (int variant = 0; variant < 2; ++variant) {
    abi::Sha256Region regions[abi::kSha256RegionCount] = {};
    regions[0] = {0x1000000, 0x1000};
    regions[1] = {0x2000000, 0x2000};
    abi::Config c = {};
    c.magic = abi::kConfigMagic;
    c.version = abi::kConfigVersion;
    c.size = sizeof(abi::Config);
    c.tsc_hz = 2'500'000'000;
    std::vector<uint8_t> content(0x800, 0x5a);
    if (variant == 0) {
      c.segment_check_count = 2;
      c.segments[0].content_len = content.size();
      c.segments[0].role = static_cast<uint32_t>(abi::SegmentRole::kKernel);
      const sha256::Digest d = sha256::hash(content.data(), content.size());
      std::memcpy(c.segments[0].digest, d.bytes, sizeof(d.bytes));
      c.segments[1].content_len = 0x10;
      c.segments[1].role = static_cast<uint32_t>(abi::SegmentRole::kBootParams);
    }
    c.pcie.mode = static_cast<uint32_t>(abi::PcieMode::kReset);
    // The plugin's block asks for the overlapped order.
    if (variant == 0) c.pcie.order = static_cast<uint32_t>(abi::PcieOrder::kOverlap);
    c.pcie.ecam_count = 1;
    c.pcie.ecam[0] = abi::EcamWindow{0xb0000000, 0, 0, 255, 0};
    c.pcie.excluded_count = 1;
    c.pcie.excluded[0] = pcie::make_address(0, 1, 0, 0);
    c.pcie_rules.count = 1;  // --pcie-exclude=8086:10d3
    c.pcie_rules.rules[0] = abi::PcieRule{static_cast<uint8_t>(abi::PcieRuleKind::kId),
                                          static_cast<uint8_t>(abi::PcieRuleAction::kExclude), 0, 0x10d38086u, 0xffffffffu};
    std::vector<uint8_t> seed;
    fuzz::append(seed, regions);
    fuzz::append(seed, c);
    seed.insert(seed.end(), content.begin(), content.end());
    fuzz::write_seed(variant == 0 ? "plugin-block" : "no-segment-checks", seed);
  }
  exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace limbo;
  abi::Sha256Region regions[abi::kSha256RegionCount] = {};
  abi::Config config = {};
  // Layout of an input: the region table, then the block, then segment bytes.
  size_t at = 0;
  auto take = [&](void* out, size_t n) {
    const size_t k = size - at < n ? size - at : n;
    if (k != 0) std::memcpy(out, data + at, k);
    at += k;
  };
  take(regions, sizeof(regions));
  take(&config, sizeof(config));
  const uint8_t* rest = data + at;
  const size_t rest_size = size - at;

  const flow::ConfigCheck check = flow::check_config(config);
  if (!check.accepted && check.tsc_hz != 0) violated("a refused block still gives a TSC frequency");
  if (check.accepted && (config.magic != abi::kConfigMagic || config.size != sizeof(abi::Config))) {
    violated("a block with a wrong magic or size accepted");
  }

  const verify::Plan plan = verify::check_plan(regions, config);
  if (verify::plan_text(plan) == nullptr) violated("a plan without text");
  if (plan == verify::Plan::kPerSegment) {
    if (config.segment_check_count == 0 || config.segment_check_count > abi::kSha256RegionCount) {
      violated("per-segment plan with a count outside the table");
    }
    for (uint32_t i = 0; i < config.segment_check_count; ++i) {
      const abi::SegmentCheck& c = config.segments[i];
      if (regions[i].len == 0 || c.content_len > regions[i].len) violated("per-segment plan with a check larger than its region");
      if (verify::role_name(c.role) == nullptr) violated("a role without a name");
      // The segment's bytes: what follows in the input, then zeros; only
      // small regions are materialised.
      if (regions[i].len > (1u << 16)) continue;
      std::vector<uint8_t> segment(regions[i].len, 0);
      std::memcpy(segment.data(), rest, rest_size < segment.size() ? rest_size : segment.size());
      const verify::SegmentResult r = verify::check_segment(segment.data(), segment.size(), c, sha256::compress_portable);
      if (r.fill_damaged && (r.first_changed < c.content_len || r.first_changed >= segment.size() ||
                             segment[r.first_changed] == 0)) {
        violated("fill damage reported at a wrong offset");
      }
      bool fill_zero = true;
      for (size_t k = c.content_len; k < segment.size(); ++k) fill_zero &= segment[k] == 0;
      if (fill_zero == r.fill_damaged) violated("fill damage reported wrongly");
      const bool same = std::memcmp(r.computed.bytes, c.digest, sizeof(c.digest)) == 0;
      if (same == r.content_damaged) violated("content damage reported wrongly");
    }
  }

  // Only exactly "overlap" with mode reset resets before the
  // verdict; any other order value is serial.
  if (flow::overlap_requested(&config) !=
      (config.pcie.mode == static_cast<uint32_t>(abi::PcieMode::kReset) &&
       config.pcie.order == static_cast<uint32_t>(abi::PcieOrder::kOverlap))) {
    violated("an order other than overlap (or mode off) taken as overlap");
  }
  if (flow::overlap_requested(nullptr)) violated("a refused block taken as overlap");

  const pcie::Settings s = pcie::settings_from_abi(config.pcie);
  if (s.settle_ms == 0 || s.settle_ms > pcie::kLinuxResetReadyPollMaxMs) violated("settle time not clamped");
  if (s.ready_timeout_ms == 0 || s.ready_timeout_ms > pcie::kLinuxResetReadyPollMaxMs) violated("ready timeout not clamped");
  if (s.excluded_count > abi::kMaxExcludedFunctions) violated("exclusion count not clamped");
  // The rules appended in version 3.
  const pcie::Settings with_rules = pcie::settings_from_abi(config.pcie, &config.pcie_rules);
  if (with_rules.rule_count > abi::kMaxPcieRules) violated("rule count not clamped");
  if (with_rules.rule_count != 0 && with_rules.rules != config.pcie_rules.rules) violated("rules not read from the block");

  // Sized like the purgatory's own array (quiesce.h's caller).
  abi::PciAddress roots[abi::kMaxRootBuses > abi::kMaxEcamWindows ? abi::kMaxRootBuses : abi::kMaxEcamWindows];
  const size_t root_count = pcie::root_buses(config.pcie, roots);
  if (root_count > abi::kMaxRootBuses) violated("more root buses than the ABI holds");

  const pcie::EcamMap map(config.pcie.ecam, config.pcie.ecam_count);
  for (size_t r = 0; r < root_count; ++r) {
    for (uint8_t devfn : {uint8_t{0}, uint8_t{0xff}}) {
      for (uint16_t offset : {uint16_t{0}, uint16_t{0xffc}}) {
        const abi::PciAddress a{roots[r].segment, roots[r].bus, devfn};
        const uint64_t phys = map.physical_address(a, offset);
        if (phys == 0) continue;
        const abi::EcamWindow* w = map.find(a.segment, a.bus);
        if (w == nullptr) violated("an address without a window");
        const uint64_t span = pcie::EcamMap::window_size(*w);
        if (phys < w->base || phys - w->base >= span || w->base + span < w->base) {
          fprintf(stderr, "window base %#llx buses %02x-%02x, address %04x:%02x devfn %02x offset %#x -> %#llx\n",
                  static_cast<unsigned long long>(w->base), w->start_bus, w->end_bus, a.segment, a.bus, a.devfn,
                  offset, static_cast<unsigned long long>(phys));
          violated("a config address outside its ECAM window (or a window that wraps)");
        }
      }
    }
  }
  return 0;
}
