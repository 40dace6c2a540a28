// SPDX-License-Identifier: GPL-2.0-only
#include "pcie/address.h"

#include <charconv>

namespace limbo::plugin::pcie {
namespace {

// Exactly 1..max_digits hex digits, all of `text`.
bool parse_hex_field(std::string_view text, size_t max_digits, unsigned long& out) {
  if (text.empty() || text.size() > max_digits) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

Result<abi::PciAddress> parse_function_address(std::string_view text) {
  const std::string shown(text);
  const size_t dot = text.rfind('.');
  if (dot == std::string_view::npos) return fail("\"" + shown + "\" is not SSSS:BB:DD.F (no '.' before the function)");
  const std::string_view head = text.substr(0, dot);
  const std::string_view function_text = text.substr(dot + 1);
  const size_t last_colon = head.rfind(':');
  if (last_colon == std::string_view::npos) return fail("\"" + shown + "\" is not SSSS:BB:DD.F (no bus)");
  const std::string_view device_text = head.substr(last_colon + 1);
  const std::string_view front = head.substr(0, last_colon);
  const size_t first_colon = front.rfind(':');
  const std::string_view bus_text = first_colon == std::string_view::npos ? front : front.substr(first_colon + 1);
  const std::string_view segment_text = first_colon == std::string_view::npos ? std::string_view("0") : front.substr(0, first_colon);
  unsigned long segment = 0, bus = 0, device = 0, function = 0;
  if (!parse_hex_field(segment_text, 4, segment)) return fail("\"" + shown + "\": bad segment (1-4 hex digits)");
  if (!parse_hex_field(bus_text, 2, bus)) return fail("\"" + shown + "\": bad bus (1-2 hex digits)");
  if (!parse_hex_field(device_text, 2, device) || device > kMaxDevice) {
    return fail("\"" + shown + "\": bad device (hex 00-1f)");
  }
  if (!parse_hex_field(function_text, 1, function) || function > kMaxFunction) {
    return fail("\"" + shown + "\": bad function (0-7)");
  }
  return abi::PciAddress{static_cast<uint16_t>(segment), static_cast<uint8_t>(bus),
                         make_devfn(static_cast<unsigned>(device), static_cast<unsigned>(function))};
}

std::string format_function_address(const abi::PciAddress& address) {
  return format("%04x:%02x:%02x.%x", address.segment, address.bus, device_of(address.devfn), function_of(address.devfn));
}

std::optional<abi::PciAddress> parse_host_bridge_name(std::string_view name) {
  constexpr std::string_view kPrefix = "pci";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  const size_t colon = name.find(':');
  if (colon != 4 || name.size() != 7) return std::nullopt;
  unsigned long segment = 0, bus = 0;
  if (!parse_hex_field(name.substr(0, 4), 4, segment) || !parse_hex_field(name.substr(5), 2, bus)) return std::nullopt;
  return abi::PciAddress{static_cast<uint16_t>(segment), static_cast<uint8_t>(bus), 0};
}

}  // namespace limbo::plugin::pcie
