// SPDX-License-Identifier: GPL-2.0-only
#include "pcie/ecam.h"

#include <charconv>
#include <cstring>

#include "kexec/memory_map.h"

namespace limbo::plugin::pcie {
namespace {

using ull = unsigned long long;

template <typename T>
T read_le(std::span<const uint8_t> bytes, size_t offset) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value |= static_cast<T>(bytes[offset + i]) << (8 * i);
  return value;
}

constexpr uint64_t kBusBytes = uint64_t{1} << kEcamBusShift;

uint64_t window_bytes(const abi::EcamWindow& w) { return (uint64_t{w.end_bus} - w.start_bus + 1) << kEcamBusShift; }

bool parse_hex_exact(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

// "0000 [bus 00-ff]" after the "PCI MMCONFIG " / "PCI ECAM " prefix.
bool parse_iomem_window_name(std::string_view rest, uint16_t& segment, uint8_t& start_bus, uint8_t& end_bus) {
  const size_t space = rest.find(' ');
  if (space == std::string_view::npos) return false;
  uint64_t seg = 0, start = 0, end = 0;
  if (!parse_hex_exact(rest.substr(0, space), seg) || seg > 0xffff) return false;
  std::string_view buses = rest.substr(space + 1);
  constexpr std::string_view kOpen = "[bus ";
  if (buses.substr(0, kOpen.size()) != kOpen || buses.empty() || buses.back() != ']') return false;
  buses = buses.substr(kOpen.size(), buses.size() - kOpen.size() - 1);
  const size_t dash = buses.find('-');
  if (dash == std::string_view::npos) return false;
  if (!parse_hex_exact(buses.substr(0, dash), start) || !parse_hex_exact(buses.substr(dash + 1), end)) return false;
  if (start > 0xff || end > 0xff) return false;
  segment = static_cast<uint16_t>(seg);
  start_bus = static_cast<uint8_t>(start);
  end_bus = static_cast<uint8_t>(end);
  return true;
}

}  // namespace

Status validate_windows(std::span<const abi::EcamWindow> windows, const char* source) {
  if (windows.size() > abi::kMaxEcamWindows) {
    return fail(format("%s: %zu ECAM windows, Limbo's configuration holds at most %zu", source, windows.size(),
                       abi::kMaxEcamWindows));
  }
  for (size_t i = 0; i < windows.size(); ++i) {
    const abi::EcamWindow& w = windows[i];
    if (w.start_bus > w.end_bus) {
      return fail(format("%s: window %zu (segment %04x): start bus %02x is above end bus %02x", source, i, w.segment,
                         w.start_bus, w.end_bus));
    }
    if (w.base == 0) return fail(format("%s: window %zu (segment %04x): base address 0", source, i, w.segment));
    if (w.base % kBusBytes != 0) {
      return fail(format("%s: window %zu (segment %04x): base %#llx is not 1 MiB aligned", source, i, w.segment,
                         static_cast<ull>(w.base)));
    }
    if (w.base + window_bytes(w) - 1 < w.base) {
      return fail(format("%s: window %zu (segment %04x): base %#llx + %llu MiB overflows", source, i, w.segment,
                         static_cast<ull>(w.base), static_cast<ull>(window_bytes(w) >> kEcamBusShift)));
    }
    for (size_t j = 0; j < i; ++j) {
      const abi::EcamWindow& o = windows[j];
      if (o.segment == w.segment && o.start_bus <= w.end_bus && w.start_bus <= o.end_bus) {
        return fail(format("%s: windows %zu and %zu both claim buses of segment %04x (%02x-%02x, %02x-%02x)", source, j, i,
                           w.segment, o.start_bus, o.end_bus, w.start_bus, w.end_bus));
      }
    }
  }
  return Ok{};
}

Result<std::vector<abi::EcamWindow>> parse_mcfg(std::span<const uint8_t> table) {
  if (table.size() < kAcpiHeaderSize) {
    return fail(format("MCFG: %zu bytes, shorter than the %zu-byte ACPI header", table.size(), kAcpiHeaderSize));
  }
  if (std::memcmp(table.data(), "MCFG", 4) != 0) return fail("MCFG: signature is not \"MCFG\"");
  const uint32_t length = read_le<uint32_t>(table, kAcpiLengthOffset);
  if (length != table.size()) {
    return fail(format("MCFG: header length %u, the table has %zu bytes", length, table.size()));
  }
  if (length < kMcfgEntriesOffset) {
    return fail(format("MCFG: length %u, shorter than header and reserved bytes (%zu)", length, kMcfgEntriesOffset));
  }
  if ((length - kMcfgEntriesOffset) % kMcfgEntrySize != 0) {
    return fail(format("MCFG: %zu bytes of entries, not a multiple of %zu", length - kMcfgEntriesOffset, kMcfgEntrySize));
  }
  uint8_t sum = 0;
  for (uint8_t byte : table) sum = static_cast<uint8_t>(sum + byte);
  if (sum != 0) return fail(format("MCFG: checksum error (bytes sum to %#04x, not 0)", sum));
  const size_t count = (length - kMcfgEntriesOffset) / kMcfgEntrySize;
  if (count == 0) return fail("MCFG: no allocation entries");
  if (count > abi::kMaxEcamWindows) {
    return fail(format("MCFG: %zu allocation entries, Limbo's configuration holds at most %zu", count, abi::kMaxEcamWindows));
  }
  std::vector<abi::EcamWindow> windows;
  for (size_t i = 0; i < count; ++i) {
    const size_t at = kMcfgEntriesOffset + i * kMcfgEntrySize;
    const uint64_t bus0_base = read_le<uint64_t>(table, at);
    abi::EcamWindow w{};
    w.segment = read_le<uint16_t>(table, at + 8);
    w.start_bus = table[at + 10];
    w.end_bus = table[at + 11];
    if (bus0_base == 0) return fail(format("MCFG: entry %zu (segment %04x): base address 0", i, w.segment));
    const uint64_t offset = uint64_t{w.start_bus} << kEcamBusShift;
    if (bus0_base + offset < bus0_base) {
      return fail(format("MCFG: entry %zu (segment %04x): base %#llx overflows", i, w.segment, static_cast<ull>(bus0_base)));
    }
    // MCFG's base addresses bus 0; Limbo's window addresses its start bus.
    w.base = bus0_base + offset;
    windows.push_back(w);
  }
  LIMBO_TRY(validate_windows(windows, "MCFG"));
  return windows;
}

Result<std::vector<abi::EcamWindow>> parse_iomem_ecam(std::string_view iomem) {
  LIMBO_TRY_ASSIGN(const std::vector<kexec::MemoryRange> ranges, kexec::parse_iomem(iomem));
  // Without CAP_SYS_ADMIN the kernel prints every range as 00000000-00000000.
  bool any_address = false;
  for (const kexec::MemoryRange& range : ranges) any_address = any_address || range.start != 0 || range.end > 1;
  std::vector<abi::EcamWindow> windows;
  for (const kexec::MemoryRange& range : ranges) {
    std::string_view name = range.name;
    std::string_view rest;
    for (std::string_view prefix : {std::string_view("PCI MMCONFIG "), std::string_view("PCI ECAM ")}) {
      if (name.substr(0, prefix.size()) == prefix) rest = name.substr(prefix.size());
    }
    if (rest.empty()) continue;
    if (!any_address) {
      return fail("/proc/iomem shows every address as 0: it was read without CAP_SYS_ADMIN (run as root)", EACCES);
    }
    abi::EcamWindow w{};
    if (!parse_iomem_window_name(rest, w.segment, w.start_bus, w.end_bus)) {
      return fail(format("/proc/iomem: \"%s\" is not \"PCI MMCONFIG SSSS [bus BB-BB]\"", range.name.c_str()));
    }
    w.base = range.start;
    if (w.start_bus <= w.end_bus && range.end - range.start != window_bytes(w)) {
      return fail(format("/proc/iomem: \"%s\" spans %#llx bytes, %u buses need %#llx", range.name.c_str(),
                         static_cast<ull>(range.end - range.start), w.end_bus - w.start_bus + 1u,
                         static_cast<ull>(window_bytes(w))));
    }
    bool duplicate = false;
    for (const abi::EcamWindow& seen : windows) {
      duplicate = duplicate || (seen.base == w.base && seen.segment == w.segment && seen.start_bus == w.start_bus &&
                                seen.end_bus == w.end_bus);
    }
    if (!duplicate) windows.push_back(w);
  }
  LIMBO_TRY(validate_windows(windows, "/proc/iomem"));
  return windows;
}

}  // namespace limbo::plugin::pcie
