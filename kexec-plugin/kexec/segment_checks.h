// SPDX-License-Identifier: GPL-2.0-only
// The plugin's half: per digested segment, how many bytes carry
// content (the rest is zero fill the purgatory scans instead of hashing), the
// segment's role for the purgatory's diagnosis, and the content's own
// SHA-256, all into Limbo's configuration block; the corruption action and
// the FADT's reset register; and the TEST-ONLY switch that damages one
// segment after every digest was computed.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "abi/limbo_abi.h"
#include "common/result.h"
#include "kexec/segment.h"

namespace limbo::plugin::kexec {

// Addresses that tell the segments apart (kexec-tools bzImage64 and the
// crash-dump code): the kernel entry (entry64_regs.rip), boot_params
// (entry64_regs.rsi), and the backup region (backup_start, 0 = none).
struct RoleHints {
  uint64_t kernel_entry = 0;
  uint64_t boot_params = 0;
  uint64_t backup_start = 0;
};

// The Linux x86 boot protocol fields read from boot_params
// (Documentation/arch/x86/boot.rst; zero-page.rst for the ext_ fields).
inline constexpr size_t kBootExtRamdiskImage = 0x0c0;
inline constexpr size_t kBootExtRamdiskSize = 0x0c4;
inline constexpr size_t kBootExtCmdLinePtr = 0x0c8;
inline constexpr size_t kBootRamdiskImage = 0x218;
inline constexpr size_t kBootRamdiskSize = 0x21c;
inline constexpr size_t kBootCmdLinePtr = 0x228;

// The role of each segment, by index (the purgatory's own is kOther).
std::vector<abi::SegmentRole> classify_segments(std::span<const Segment> segments, const RoleHints& hints);

// `elfcorehdr=` on a command line, with the kernel's memparse suffixes
// (K, M, G); kexec-tools writes "elfcorehdr=<n>K". nullopt when absent.
std::optional<uint64_t> elfcorehdr_address(std::string_view cmdline);

// Content length: the buffer without its trailing zero bytes (those are
// indistinguishable from the fill and are scanned with it).
uint64_t content_length(const Segment& segment);

// Fills config.segments / segment_check_count for every segment but `skip`
// (the purgatory's), in region-table order, as digest_segments lays it out.
Status fill_segment_checks(std::span<const Segment> segments, size_t skip, const RoleHints& hints,
                           abi::Config& config);

// --on-fault=reboot|halt: a fault before the image is verified
// (or in kexec-tools' post-verification work, or inside a fault handler).
Result<abi::OnFault> parse_on_fault(std::string_view text);

// --on-corruption=halt|reboot
Result<abi::OnCorruption> parse_on_corruption(std::string_view text);

// The FADT (ACPI r6.5 §5.2.9): RESET_REG (GAS) at 116, RESET_VALUE at 128,
// Flags bit 10 RESET_REG_SUP. valid = 0 when the table has no usable one.
inline constexpr size_t kFadtFlags = 112;
inline constexpr size_t kFadtResetReg = 116;
inline constexpr size_t kFadtResetValue = 128;
inline constexpr uint32_t kFadtFlagResetRegSup = 1u << 10;
Result<abi::ResetRegister> reset_register_from_fadt(std::span<const uint8_t> table);

// TEST-ONLY (LIMBO_TEST_DAMAGE_SEGMENT / --test-damage-segment=ROLE[:OFFSET]):
// one byte of the first segment with that role is changed after the digests
// were computed. OFFSET is a byte offset in the segment (default 0) or
// "last" (its last byte, in the zero fill when it has one).
struct DamageRequest {
  abi::SegmentRole role = abi::SegmentRole::kOther;
  uint64_t offset = 0;
  bool last = false;
};
Result<DamageRequest> parse_damage(std::string_view text);
const char* role_word(abi::SegmentRole role);  // the word parse_damage takes

// Applies the damage: the chosen segment's buffer is copied into `storage`
// (extended with zeros when the offset is in the fill), one byte is changed,
// and segments[i] points at the copy. Returns the segment index.
Result<size_t> damage_segment(std::vector<Segment>& segments, size_t skip, const abi::Config& config,
                              const DamageRequest& request, std::vector<uint8_t>& storage);

}  // namespace limbo::plugin::kexec
