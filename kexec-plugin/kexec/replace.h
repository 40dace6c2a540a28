// SPDX-License-Identifier: GPL-2.0-only
// The decode-and-replace path, without any system call: recognise the stock
// purgatory segment of a kexec_load, prove it is kexec-tools' layout of the
// embedded stock object, read the values kexec-tools wrote into it, and build
// the segment list that carries Limbo's purgatory with the same values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "abi/limbo_abi.h"
#include "common/result.h"
#include "elf/rel_object.h"
#include "kexec/digest.h"
#include "kexec/memory_map.h"
#include "kexec/segment.h"
#include "kexec/segment_checks.h"

namespace limbo::plugin::kexec {

// A loader-written variable read back from the stock segment.
struct AbiValue {
  std::string name;
  std::vector<uint8_t> bytes;
};

struct StockDecode {
  size_t purgatory_index = 0;  // the segment holding the entry
  elf::LoadedImage replay;     // the stock object laid out and relocated at that segment
  std::vector<AbiValue> values;  // every kSymbols entry kexec-tools writes that the stock object has
  abi::Entry64Regs regs{};
  uint64_t stack_end = 0;      // address of the stock `stack_end`
  uint32_t skip_checks = 0;
  SegmentDigest digest;        // sha256_regions / sha256_digest as kexec-tools wrote them

  const AbiValue* value(const std::string& name) const;
};

// Fails (EINVAL) when the entry is in no segment, when the segment is not the
// embedded object laid out by kexec-tools' rules, or when the loader did not
// set entry64_regs.
Result<StockDecode> decode_stock(uint64_t entry, std::span<const Segment> segments, const elf::RelObject& stock);

struct ReplaceOptions {
  bool crash = false;
  std::vector<MemoryRange> allowed;  // "Crash kernel" (crash) or "System RAM" (normal) ranges
  abi::Config config{};              // filled in except magic/version/size, which are set here
  bool corrupt_digest = false;       // TEST-ONLY: flip one bit of the digest Limbo gets
  bool segment_checks = true;        // per-segment content length, role and digest
  std::optional<DamageRequest> damage;  // TEST-ONLY: damage one segment after the digests
  uint64_t min_address = 0x3000;     // kexec-tools' lowest purgatory address (bzImage64)
};

struct Replacement {
  size_t index = 0;               // position of Limbo's segment (the stock one's)
  elf::LoadedImage image;         // Limbo relocated; the segment's contents
  uint64_t memsz = 0;
  uint64_t entry = 0;             // Limbo's purgatory_start
  bool in_stock_slot = false;     // placed where the stock purgatory was
  SegmentDigest digest;           // recomputed (equal to the stock one)
  std::vector<Segment> segments;  // the new list; segments[index].buf is image.bytes
  std::vector<uint8_t> damaged_bytes;  // TEST-ONLY: the damaged segment's copy (options.damage)
  int damaged_index = -1;              // TEST-ONLY: which segment it is
  abi::Config config{};                // the limbo_config written into the image

  // The list for kexec_load; valid while *this lives and is not moved.
  std::vector<kexec_segment> kernel_segments() const;
};

Result<Replacement> build_replacement(const StockDecode& stock, std::span<const Segment> segments,
                                      const elf::RelObject& limbo, const ReplaceOptions& options);

// The checks the kernel makes in sanity_check_segment_list (kernel/kexec_core.c):
// page-aligned mem and memsz, bufsz <= memsz, no overlap, and for a crash
// load every segment inside the reservation.
Status check_segments(std::span<const Segment> segments, bool crash, std::span<const MemoryRange> allowed);

}  // namespace limbo::plugin::kexec
