// SPDX-License-Identifier: GPL-2.0-only
// How discovery, policy and the reset reach configuration space: a template
// parameter, never a virtual call. Three backends: ECAM MMIO in the purgatory,
// the simulated fabric in host tests, sysfs config files in the plan view
// (read only: the plan path never writes).
#pragma once

#include <concepts>
#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"

namespace limbo::pcie {

// Reads at (function, byte offset in its config space). A read of an absent
// function returns all ones, as a PCIe root complex does (PCIe r6.0 §2.3.2).
// `in_window(segment, bus)` says whether the bus is reachable at all (inside
// an ECAM window); discovery never reads a bus outside it.
template <class T>
concept ConfigReader = requires(T& space, abi::PciAddress address, uint16_t offset, uint16_t segment,
                                uint8_t bus) {
  { space.read8(address, offset) } -> std::same_as<uint8_t>;
  { space.read16(address, offset) } -> std::same_as<uint16_t>;
  { space.read32(address, offset) } -> std::same_as<uint32_t>;
  { space.in_window(segment, bus) } -> std::same_as<bool>;
};

// A ConfigReader that can also write: what the reset sequence needs.
template <class T>
concept ConfigSpace = ConfigReader<T> && requires(T& space, abi::PciAddress address, uint16_t offset,
                                                  uint8_t v8, uint16_t v16, uint32_t v32) {
  { space.write8(address, offset, v8) } -> std::same_as<void>;
  { space.write16(address, offset, v16) } -> std::same_as<void>;
  { space.write32(address, offset, v32) } -> std::same_as<void>;
};

[[nodiscard]] constexpr abi::PciAddress make_address(uint16_t segment, uint8_t bus, uint8_t device,
                                                     uint8_t function) {
  return abi::PciAddress{segment, bus, static_cast<uint8_t>((device & 0x1f) << 3 | (function & 0x7))};
}
[[nodiscard]] constexpr uint8_t device_of(abi::PciAddress a) { return a.devfn >> 3; }
[[nodiscard]] constexpr uint8_t function_of(abi::PciAddress a) { return a.devfn & 0x7; }
[[nodiscard]] constexpr bool operator==(abi::PciAddress a, abi::PciAddress b) {
  return a.segment == b.segment && a.bus == b.bus && a.devfn == b.devfn;
}

// ECAM bytes per bus (32 devices x 8 functions x 4 KiB; PCIe r6.0 §7.2.2).
inline constexpr uint64_t kEcamBusStride = uint64_t{1} << 20;
inline constexpr uint32_t kConfigSpaceSize = 4096;

// The ECAM windows of the configuration block (abi::EcamWindow, from the ACPI
// MCFG table): which window serves a (segment, bus), and the physical address
// of a config register. What an ECAM backend is built on.
class EcamMap {
 public:
  constexpr EcamMap() = default;
  constexpr EcamMap(const abi::EcamWindow* windows, size_t count)
      : windows_(windows), count_(count > abi::kMaxEcamWindows ? abi::kMaxEcamWindows : count) {}

  // The window serving (segment, bus), or nullptr.
  [[nodiscard]] constexpr const abi::EcamWindow* find(uint16_t segment, uint8_t bus) const {
    for (size_t i = 0; i < count_; ++i) {
      const abi::EcamWindow& w = windows_[i];
      // A window whose last byte would wrap past 2^64 (only a corrupt block
      // has one: the plugin refuses it) serves nothing (found by
      // tests/fuzz/config_block_fuzz).
      if (w.segment == segment && w.start_bus <= bus && bus <= w.end_bus && w.base != 0 &&
          w.base + (window_size(w) - 1) >= w.base) {
        return &w;
      }
    }
    return nullptr;
  }
  [[nodiscard]] constexpr bool in_window(uint16_t segment, uint8_t bus) const {
    return find(segment, bus) != nullptr;
  }
  // Physical address of `offset` in the function's config space; 0 when no
  // window serves its bus or the offset is beyond 4 KiB.
  [[nodiscard]] constexpr uint64_t physical_address(abi::PciAddress a, uint16_t offset) const {
    const abi::EcamWindow* w = find(a.segment, a.bus);
    if (w == nullptr || offset >= kConfigSpaceSize) return 0;
    return w->base + (uint64_t{a.bus} - w->start_bus) * kEcamBusStride + (uint64_t{a.devfn} << 12) + offset;
  }
  // The bytes a window spans: what the page tables map uncached.
  [[nodiscard]] static constexpr uint64_t window_size(const abi::EcamWindow& w) {
    return w.end_bus >= w.start_bus ? (uint64_t{w.end_bus} - w.start_bus + 1) * kEcamBusStride : 0;
  }
  [[nodiscard]] constexpr size_t count() const { return count_; }
  [[nodiscard]] constexpr const abi::EcamWindow& window(size_t i) const { return windows_[i]; }

 private:
  const abi::EcamWindow* windows_ = nullptr;
  size_t count_ = 0;
};

}  // namespace limbo::pcie
