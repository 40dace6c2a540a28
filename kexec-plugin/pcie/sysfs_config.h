// SPDX-License-Identifier: GPL-2.0-only
// A read-only configuration space over sysfs
// (/sys/bus/pci/devices/SSSS:BB:DD.F/config): what the plan view runs the
// purgatory's discovery and policy on. It satisfies limbo::pcie::ConfigReader
// and has no write: the plan can never touch a device.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "abi/limbo_abi.h"

namespace limbo::plugin::pcie {

class SysfsConfigReader {
 public:
  // `windows` empty: unknown (no MCFG and no /proc/iomem addresses, e.g. not
  // root): every bus counts as reachable, since sysfs, not ECAM, is read.
  SysfsConfigReader(std::string sysfs_root, std::vector<abi::EcamWindow> windows);

  // A function absent from sysfs, and any byte past what its config file
  // gave (without root the kernel shows only the first 64 bytes), read as
  // all ones, like a config read that no function answers.
  uint8_t read8(abi::PciAddress address, uint16_t offset);
  uint16_t read16(abi::PciAddress address, uint16_t offset);
  uint32_t read32(abi::PciAddress address, uint16_t offset);
  bool in_window(uint16_t segment, uint8_t bus) const;

  // Bytes of config space sysfs gave for a function already read: 0 when
  // absent, 64 without root, 256 for conventional PCI, 4096 for PCIe.
  size_t readable_bytes(abi::PciAddress address);
  // Present functions read so far whose config space was cut short of what
  // the function has (64 bytes: read without root).
  size_t truncated_functions() const { return truncated_; }

 private:
  const std::vector<uint8_t>& bytes_of(abi::PciAddress address);
  uint32_t read(abi::PciAddress address, uint16_t offset, unsigned size);

  std::string devices_dir_;
  std::vector<abi::EcamWindow> windows_;
  std::map<uint32_t, std::vector<uint8_t>> cache_;  // key: segment << 16 | bus << 8 | devfn
  size_t truncated_ = 0;
};

// The config space length under which sysfs shows an unprivileged reader a
// function (Linux drivers/pci/pci-sysfs.c: the first 64 bytes, the standard
// header, without CAP_SYS_ADMIN).
inline constexpr size_t kUnprivilegedConfigBytes = 64;

}  // namespace limbo::plugin::pcie
