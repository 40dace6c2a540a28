// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's ConfigSpace backend (lib/pcie/config_space.h): PCIe
// Enhanced Configuration Access Mechanism, memory-mapped config space at
// base + ((bus - start_bus) << 20 | device << 15 | function << 12 | offset)
// (PCIe r6.0 §7.2.2, PCI Firmware r3.3 §4.1.2), through the windows of the
// configuration block. The windows must be mapped uncached (paging.h) before
// the first access. Each access is one volatile load or store of its width:
// a config request is exactly the size of the access (§7.2.2.2), and the
// compiler must neither merge, split nor drop one.
#pragma once

#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/pcie/config_space.h"

namespace limbo::arch {

class EcamConfigSpace {
 public:
  explicit constexpr EcamConfigSpace(pcie::EcamMap map) : map_(map) {}

  // Outside every window, or across the end of the 4 KiB config space, or
  // misaligned for its width (§7.2.2.2 does not define it): no access at
  // all; reads return all ones, as for an absent function.
  uint8_t read8(abi::PciAddress a, uint16_t offset) { return read<uint8_t>(a, offset); }
  uint16_t read16(abi::PciAddress a, uint16_t offset) { return read<uint16_t>(a, offset); }
  uint32_t read32(abi::PciAddress a, uint16_t offset) { return read<uint32_t>(a, offset); }
  void write8(abi::PciAddress a, uint16_t offset, uint8_t v) { write<uint8_t>(a, offset, v); }
  void write16(abi::PciAddress a, uint16_t offset, uint16_t v) { write<uint16_t>(a, offset, v); }
  void write32(abi::PciAddress a, uint16_t offset, uint32_t v) { write<uint32_t>(a, offset, v); }
  bool in_window(uint16_t segment, uint8_t bus) { return map_.in_window(segment, bus); }

  [[nodiscard]] const pcie::EcamMap& map() const { return map_; }

 private:
  template <class T>
  volatile T* register_at(abi::PciAddress a, uint16_t offset) const {
    if (offset % sizeof(T) != 0 || offset > pcie::kConfigSpaceSize - sizeof(T)) return nullptr;
    const uint64_t phys = map_.physical_address(a, offset);
    return phys == 0 ? nullptr : reinterpret_cast<volatile T*>(phys);
  }
  template <class T>
  T read(abi::PciAddress a, uint16_t offset) {
    volatile T* r = register_at<T>(a, offset);
    return r == nullptr ? static_cast<T>(~T{0}) : *r;
  }
  template <class T>
  void write(abi::PciAddress a, uint16_t offset, T v) {
    volatile T* r = register_at<T>(a, offset);
    if (r != nullptr) *r = v;
  }

  pcie::EcamMap map_;
};

static_assert(pcie::ConfigSpace<EcamConfigSpace>);

}  // namespace limbo::arch
