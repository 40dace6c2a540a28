// SPDX-License-Identifier: GPL-2.0-only
#include "pcie/sysfs_config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/file.h"
#include "lib/pcie/config_space.h"
#include "pcie/address.h"

namespace limbo::plugin::pcie {
namespace {

// PCIe r6.0 §7.2.2: 4 KiB per function.
constexpr size_t kConfigSpaceBytes = 4096;

uint32_t key_of(abi::PciAddress a) { return uint32_t{a.segment} << 16 | uint32_t{a.bus} << 8 | a.devfn; }

std::vector<uint8_t> read_config_file(const std::string& path) {
  std::vector<uint8_t> bytes;
  const UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return bytes;
  bytes.resize(kConfigSpaceBytes);
  size_t have = 0;
  while (have < bytes.size()) {
    const ssize_t n = pread(fd.get(), bytes.data() + have, bytes.size() - have, static_cast<off_t>(have));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<size_t>(n);
  }
  bytes.resize(have);
  return bytes;
}

}  // namespace

SysfsConfigReader::SysfsConfigReader(std::string sysfs_root, std::vector<abi::EcamWindow> windows)
    : devices_dir_(std::move(sysfs_root) + "/bus/pci/devices/"), windows_(std::move(windows)) {}

const std::vector<uint8_t>& SysfsConfigReader::bytes_of(abi::PciAddress address) {
  const uint32_t key = key_of(address);
  auto found = cache_.find(key);
  if (found != cache_.end()) return found->second;
  std::vector<uint8_t> bytes = read_config_file(devices_dir_ + format_function_address(address) + "/config");
  if (!bytes.empty() && bytes.size() <= kUnprivilegedConfigBytes) ++truncated_;
  return cache_.emplace(key, std::move(bytes)).first->second;
}

uint32_t SysfsConfigReader::read(abi::PciAddress address, uint16_t offset, unsigned size) {
  const std::vector<uint8_t>& bytes = bytes_of(address);
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    const size_t at = size_t{offset} + i;
    const uint32_t byte = at < bytes.size() ? bytes[at] : 0xffu;
    value |= byte << (8 * i);
  }
  return value;
}

uint8_t SysfsConfigReader::read8(abi::PciAddress address, uint16_t offset) {
  return static_cast<uint8_t>(read(address, offset, 1));
}
uint16_t SysfsConfigReader::read16(abi::PciAddress address, uint16_t offset) {
  return static_cast<uint16_t>(read(address, offset, 2));
}
uint32_t SysfsConfigReader::read32(abi::PciAddress address, uint16_t offset) { return read(address, offset, 4); }

bool SysfsConfigReader::in_window(uint16_t segment, uint8_t bus) const {
  if (windows_.empty()) return true;
  // The purgatory's own window lookup, so that the plan skips what it skips.
  return ::limbo::pcie::EcamMap(windows_.data(), windows_.size()).in_window(segment, bus);
}

size_t SysfsConfigReader::readable_bytes(abi::PciAddress address) { return bytes_of(address).size(); }

}  // namespace limbo::plugin::pcie
