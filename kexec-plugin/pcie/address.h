// SPDX-License-Identifier: GPL-2.0-only
// PCI function addresses as people and sysfs write them: "SSSS:BB:DD.F"
// (lspci -D, /sys/bus/pci/devices), and host bridges "pciSSSS:BB" (/sys/devices).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "abi/limbo_abi.h"
#include "common/result.h"

namespace limbo::plugin::pcie {

// PCI Local Bus r3.0 §3.2.2.3.1: 5 bits of device, 3 of function.
inline constexpr unsigned kMaxDevice = 31;
inline constexpr unsigned kMaxFunction = 7;

inline constexpr uint8_t make_devfn(unsigned device, unsigned function) {
  return static_cast<uint8_t>(device << 3 | function);
}
inline constexpr unsigned device_of(uint8_t devfn) { return devfn >> 3; }
inline constexpr unsigned function_of(uint8_t devfn) { return devfn & 7u; }

// "SSSS:BB:DD.F" (hex; segment up to 4 digits, bus 2, device 2, function 1),
// or "BB:DD.F" for segment 0 as lspci prints it without -D. The error says
// which part is wrong.
Result<abi::PciAddress> parse_function_address(std::string_view text);

// "SSSS:BB:DD.F", lower-case hex, as sysfs names devices.
std::string format_function_address(const abi::PciAddress& address);

// "pciSSSS:BB" (a host bridge in /sys/devices): its root bus, devfn 0.
// Nothing for any other name (including VMD's 5-digit domains, which no MCFG
// window covers).
std::optional<abi::PciAddress> parse_host_bridge_name(std::string_view name);

inline bool same_function(const abi::PciAddress& a, const abi::PciAddress& b) {
  return a.segment == b.segment && a.bus == b.bus && a.devfn == b.devfn;
}

}  // namespace limbo::plugin::pcie
