// SPDX-License-Identifier: GPL-2.0-only
#include "kexec/segment_checks.h"

#include <cstring>

#include "kexec/sha256_engine.h"
#include "lib/sha256.h"

namespace limbo::plugin::kexec {
namespace {

using ull = unsigned long long;

uint64_t read_le(const uint8_t* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// The bytes at [address, address + length) if one segment's buffer holds them.
const uint8_t* find_bytes(std::span<const Segment> segments, uint64_t address, uint64_t length) {
  for (const Segment& s : segments) {
    if (address >= s.mem && address - s.mem + length <= s.bufsz && s.buf) return s.buf + (address - s.mem);
  }
  return nullptr;
}

int index_containing(std::span<const Segment> segments, uint64_t address) {
  if (address == 0) return -1;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].contains(address)) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

std::optional<uint64_t> elfcorehdr_address(std::string_view cmdline) {
  static constexpr std::string_view kKey = "elfcorehdr=";
  for (size_t at = cmdline.find(kKey); at != std::string_view::npos; at = cmdline.find(kKey, at + 1)) {
    if (at != 0 && cmdline[at - 1] != ' ') continue;
    std::string_view value = cmdline.substr(at + kKey.size());
    // elfcorehdr=[size@]address: the address follows an '@' when present.
    const size_t end = value.find(' ');
    value = value.substr(0, end);
    if (const size_t sep = value.find('@'); sep != std::string_view::npos) value = value.substr(sep + 1);
    std::string text(value);
    char* rest = nullptr;
    uint64_t number = std::strtoull(text.c_str(), &rest, 0);
    if (rest == text.c_str()) return std::nullopt;
    switch (*rest) {
      case 'G': case 'g': number <<= 10; [[fallthrough]];
      case 'M': case 'm': number <<= 10; [[fallthrough]];
      case 'K': case 'k': number <<= 10; break;
      default: break;
    }
    return number;
  }
  return std::nullopt;
}

std::vector<abi::SegmentRole> classify_segments(std::span<const Segment> segments, const RoleHints& hints) {
  std::vector<abi::SegmentRole> roles(segments.size(), abi::SegmentRole::kOther);
  auto mark = [&](uint64_t address, abi::SegmentRole role) {
    const int i = index_containing(segments, address);
    if (i >= 0 && roles[i] == abi::SegmentRole::kOther) roles[i] = role;
  };
  mark(hints.kernel_entry, abi::SegmentRole::kKernel);
  mark(hints.boot_params, abi::SegmentRole::kBootParams);
  if (const uint8_t* bp = find_bytes(segments, hints.boot_params, kBootCmdLinePtr + 4)) {
    const uint64_t ramdisk = read_le(bp + kBootRamdiskImage, 4) | read_le(bp + kBootExtRamdiskImage, 4) << 32;
    const uint64_t ramdisk_size = read_le(bp + kBootRamdiskSize, 4) | read_le(bp + kBootExtRamdiskSize, 4) << 32;
    if (ramdisk_size != 0) mark(ramdisk, abi::SegmentRole::kInitrd);
    const uint64_t cmdline = read_le(bp + kBootCmdLinePtr, 4) | read_le(bp + kBootExtCmdLinePtr, 4) << 32;
    for (const Segment& s : segments) {
      if (!s.buf || cmdline < s.mem || cmdline - s.mem >= s.bufsz) continue;
      const char* text = reinterpret_cast<const char*>(s.buf + (cmdline - s.mem));
      const size_t room = s.bufsz - (cmdline - s.mem);
      if (auto elfcorehdr = elfcorehdr_address(std::string_view(text, strnlen(text, room)))) {
        mark(*elfcorehdr, abi::SegmentRole::kElfCoreHeaders);
      }
    }
  }
  mark(hints.backup_start, abi::SegmentRole::kBackup);
  return roles;
}

uint64_t content_length(const Segment& segment) {
  uint64_t length = segment.bufsz;
  while (length > 0 && segment.buf[length - 1] == 0) --length;
  return length;
}

Status fill_segment_checks(std::span<const Segment> segments, size_t skip, const RoleHints& hints,
                           abi::Config& config) {
  const std::vector<abi::SegmentRole> roles = classify_segments(segments, hints);
  size_t region = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i == skip) continue;
    if (region == abi::kSha256RegionCount) {
      return fail(format("%zu segments to check, the region table holds %zu", segments.size() - 1, abi::kSha256RegionCount));
    }
    const Segment& s = segments[i];
    abi::SegmentCheck& check = config.segments[region++];
    check = abi::SegmentCheck{};
    check.content_len = s.buf ? content_length(s) : 0;
    check.role = static_cast<uint32_t>(roles[i]);
    const sha256::Digest d = sha256::hash(s.buf, check.content_len, host_sha256_engine());
    std::memcpy(check.digest, d.bytes, sizeof(check.digest));
  }
  config.segment_check_count = static_cast<uint32_t>(region);
  return Ok{};
}

Result<abi::OnFault> parse_on_fault(std::string_view text) {
  if (text == "reboot") return abi::OnFault::kReboot;
  if (text == "halt") return abi::OnFault::kHalt;
  return fail("--on-fault takes reboot or halt, not '" + std::string(text) + "'");
}

Result<abi::OnCorruption> parse_on_corruption(std::string_view text) {
  if (text == "halt") return abi::OnCorruption::kHalt;
  if (text == "reboot") return abi::OnCorruption::kReboot;
  return fail("--on-corruption takes halt or reboot, not '" + std::string(text) + "'");
}

Result<abi::ResetRegister> reset_register_from_fadt(std::span<const uint8_t> table) {
  if (table.size() < 36 || std::memcmp(table.data(), "FACP", 4) != 0) {
    return fail("not an ACPI FADT (signature FACP)");
  }
  abi::ResetRegister reg{};
  if (table.size() < kFadtResetValue + 1) return reg;  // ACPI 1.0 FADT: no reset register
  const uint32_t flags = static_cast<uint32_t>(read_le(table.data() + kFadtFlags, 4));
  if ((flags & kFadtFlagResetRegSup) == 0) return reg;
  const uint8_t* gas = table.data() + kFadtResetReg;
  reg.address_space = gas[0];
  reg.bit_width = gas[1];
  reg.bit_offset = gas[2];
  reg.access_size = gas[3];
  reg.address = read_le(gas + 4, 8);
  reg.value = table[kFadtResetValue];
  reg.valid = reg.address != 0 ? 1 : 0;
  return reg;
}

const char* role_word(abi::SegmentRole role) {
  switch (role) {
    case abi::SegmentRole::kKernel: return "kernel";
    case abi::SegmentRole::kInitrd: return "initrd";
    case abi::SegmentRole::kBootParams: return "boot-params";
    case abi::SegmentRole::kElfCoreHeaders: return "elfcorehdr";
    case abi::SegmentRole::kBackup: return "backup";
    case abi::SegmentRole::kOther: break;
  }
  return "other";
}

Result<DamageRequest> parse_damage(std::string_view text) {
  DamageRequest out;
  const size_t colon = text.find(':');
  const std::string_view word = text.substr(0, colon);
  bool known = false;
  for (abi::SegmentRole role : {abi::SegmentRole::kKernel, abi::SegmentRole::kInitrd, abi::SegmentRole::kBootParams,
                                abi::SegmentRole::kElfCoreHeaders, abi::SegmentRole::kBackup, abi::SegmentRole::kOther}) {
    if (word == role_word(role)) {
      out.role = role;
      known = true;
    }
  }
  if (!known) {
    return fail("test damage: unknown segment role '" + std::string(word) +
                "' (kernel, initrd, boot-params, elfcorehdr, backup, other)");
  }
  if (colon == std::string_view::npos) return out;
  const std::string offset(text.substr(colon + 1));
  if (offset == "last") {
    out.last = true;
    return out;
  }
  char* rest = nullptr;
  out.offset = std::strtoull(offset.c_str(), &rest, 0);
  if (offset.empty() || *rest != '\0') return fail("test damage: bad offset '" + offset + "' (a number or 'last')");
  return out;
}

Result<size_t> damage_segment(std::vector<Segment>& segments, size_t skip, const abi::Config& config,
                              const DamageRequest& request, std::vector<uint8_t>& storage) {
  size_t region = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i == skip) continue;
    const size_t r = region++;
    if (r >= config.segment_check_count || config.segments[r].role != static_cast<uint32_t>(request.role)) continue;
    Segment& s = segments[i];
    const uint64_t offset = request.last ? s.memsz - 1 : request.offset;
    if (offset >= s.memsz) {
      return fail(format("test damage: offset %#llx is beyond the %s segment's %#llx bytes", static_cast<ull>(offset),
                         role_word(request.role), static_cast<ull>(s.memsz)));
    }
    storage.assign(s.buf, s.buf + s.bufsz);
    if (offset >= storage.size()) storage.resize(offset + 1, 0);
    storage[offset] ^= 0x01;
    s.buf = storage.data();
    s.bufsz = storage.size();
    return i;
  }
  return fail(std::string("test damage: no digested segment has the role ") + role_word(request.role));
}

}  // namespace limbo::plugin::kexec
