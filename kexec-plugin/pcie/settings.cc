// SPDX-License-Identifier: GPL-2.0-only
#include "pcie/settings.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "common/environment.h"
#include "pcie/address.h"

namespace limbo::plugin::pcie {
namespace {

using ull = unsigned long long;

Result<uint32_t> parse_bounded_ms(std::string_view text, uint32_t min, uint32_t max, const char* why_min) {
  const std::string shown(text);
  if (text.empty()) return fail("needs a number of milliseconds");
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
  if (ec == std::errc::result_out_of_range) return fail(format("%s ms is out of range %u..%u", shown.c_str(), min, max));
  if (ec != std::errc() || end != text.data() + text.size()) {
    return fail("\"" + shown + "\" is not a whole number of milliseconds");
  }
  if (value < min) return fail(format("%s ms is below the minimum %u ms (%s)", shown.c_str(), min, why_min));
  if (value > max) return fail(format("%s ms is above the maximum %u ms (Linux's longest reset wait)", shown.c_str(), max));
  return static_cast<uint32_t>(value);
}

bool less(const abi::PciAddress& a, const abi::PciAddress& b) {
  if (a.segment != b.segment) return a.segment < b.segment;
  if (a.bus != b.bus) return a.bus < b.bus;
  return a.devfn < b.devfn;
}

bool window_holds(const abi::EcamWindow& w, uint16_t segment, uint8_t bus) {
  return w.segment == segment && w.start_bus <= bus && bus <= w.end_bus;
}

std::string root_bus_text(const abi::PciAddress& a) { return format("%04x:%02x", a.segment, a.bus); }

}  // namespace

Result<abi::PcieMode> parse_mode(std::string_view text) {
  if (text == "reset") return abi::PcieMode::kReset;
  if (text == "off") return abi::PcieMode::kOff;
  return fail("\"" + std::string(text) + "\" is not a mode: reset or off");
}

Result<abi::PcieOrder> parse_order(std::string_view text) {
  if (text == "serial") return abi::PcieOrder::kSerial;
  if (text == "overlap") return abi::PcieOrder::kOverlap;
  return fail("\"" + std::string(text) + "\" is not an order: serial or overlap");
}

const char* order_name(abi::PcieOrder order) { return order == abi::PcieOrder::kOverlap ? "overlap" : "serial"; }

Result<std::vector<abi::PciAddress>> parse_excluded(std::string_view text) {
  std::vector<abi::PciAddress> out;
  if (text.empty()) return fail("needs SSSS:BB:DD.F[,...]");
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    LIMBO_TRY_ASSIGN(const abi::PciAddress address, parse_function_address(item));
    if (std::none_of(out.begin(), out.end(), [&](const abi::PciAddress& a) { return same_function(a, address); })) {
      out.push_back(address);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (out.size() > abi::kMaxExcludedFunctions) {
    return fail(format("%zu functions, Limbo's configuration holds at most %zu", out.size(), abi::kMaxExcludedFunctions));
  }
  std::sort(out.begin(), out.end(), less);
  return out;
}

namespace {

bool same_rule(const abi::PcieRule& a, const abi::PcieRule& b) {
  return a.kind == b.kind && a.action == b.action && a.value == b.value && a.mask == b.mask;
}

// Exactly `digits` hex digits.
std::optional<uint32_t> hex_digits(std::string_view text, size_t digits) {
  if (text.size() != digits) return std::nullopt;
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Result<abi::PcieRule> parse_identity(std::string_view item, abi::PcieRuleAction action) {
  const std::string shown(item);
  abi::PcieRule rule{};
  rule.action = static_cast<uint8_t>(action);
  if (item.substr(0, 6) == "class:") {
    const std::string_view digits = item.substr(6);
    if (digits.empty() || digits.size() > 6 || digits.size() % 2 != 0 || !hex_digits(digits, digits.size())) {
      return fail("\"" + shown + "\": a class is class:CC, class:CCSS or class:CCSSPP (2, 4 or 6 hex digits)");
    }
    const uint32_t value = *hex_digits(digits, digits.size());
    const size_t shift = 8 * (3 - digits.size() / 2);  // left-align to the 24-bit class code
    rule.kind = static_cast<uint8_t>(abi::PcieRuleKind::kClass);
    rule.value = value << shift;
    rule.mask = (0xffffffu >> shift) << shift;
    return rule;
  }
  const size_t colon = item.find(':');
  if (colon == std::string_view::npos || item.find(':', colon + 1) != std::string_view::npos) {
    return fail("\"" + shown + "\" is not SSSS:BB:DD.F, VVVV:DDDD, VVVV:* or class:CC[SS[PP]]");
  }
  const auto vendor = hex_digits(item.substr(0, colon), 4);
  const std::string_view device_text = item.substr(colon + 1);
  const auto device = device_text == "*" ? std::optional<uint32_t>(0) : hex_digits(device_text, 4);
  if (!vendor) return fail("\"" + shown + "\": the vendor ID is 4 hex digits");
  if (!device) return fail("\"" + shown + "\": the device ID is 4 hex digits or *");
  if (*vendor == 0xffff || *vendor == 0) return fail("\"" + shown + "\": vendor ID " + std::string(item.substr(0, colon)) + " is not a device's");
  rule.kind = static_cast<uint8_t>(abi::PcieRuleKind::kId);
  rule.value = *device << 16 | *vendor;
  rule.mask = device_text == "*" ? 0x0000ffffu : 0xffffffffu;
  return rule;
}

}  // namespace

Result<Selection> parse_selection(std::string_view text, abi::PcieRuleAction action) {
  Selection out;
  if (text.empty()) return fail("needs SSSS:BB:DD.F, VVVV:DDDD, VVVV:* or class:CC[SS[PP]], comma-separated");
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    if (item.find('.') != std::string_view::npos) {
      LIMBO_TRY_ASSIGN(const abi::PciAddress address, parse_function_address(item));
      if (action == abi::PcieRuleAction::kExclude) {
        if (std::none_of(out.addresses.begin(), out.addresses.end(),
                         [&](const abi::PciAddress& a) { return same_function(a, address); })) {
          out.addresses.push_back(address);
        }
      } else {
        abi::PcieRule rule{};
        rule.kind = static_cast<uint8_t>(abi::PcieRuleKind::kAddress);
        rule.action = static_cast<uint8_t>(action);
        rule.value = uint32_t{address.segment} << 16 | uint32_t{address.bus} << 8 | address.devfn;
        rule.mask = 0xffffffffu;
        if (std::none_of(out.rules.begin(), out.rules.end(), [&](const abi::PcieRule& r) { return same_rule(r, rule); })) {
          out.rules.push_back(rule);
        }
      }
    } else {
      LIMBO_TRY_ASSIGN(const abi::PcieRule rule, parse_identity(item, action));
      if (std::none_of(out.rules.begin(), out.rules.end(), [&](const abi::PcieRule& r) { return same_rule(r, rule); })) {
        out.rules.push_back(rule);
      }
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (out.addresses.size() > abi::kMaxExcludedFunctions) {
    return fail(format("%zu functions, Limbo's configuration holds at most %zu", out.addresses.size(), abi::kMaxExcludedFunctions));
  }
  if (out.rules.size() > abi::kMaxPcieRules) {
    return fail(format("%zu rules by ID, class or include, Limbo's configuration holds at most %zu", out.rules.size(),
                       abi::kMaxPcieRules));
  }
  std::sort(out.addresses.begin(), out.addresses.end(), less);
  return out;
}

Result<bool> add_selection(PcieOptions& options, const Selection& more) {
  std::vector<abi::PciAddress> addresses = options.excluded;
  for (const abi::PciAddress& a : more.addresses) {
    if (std::none_of(addresses.begin(), addresses.end(), [&](const abi::PciAddress& b) { return same_function(a, b); })) {
      addresses.push_back(a);
    }
  }
  std::vector<abi::PcieRule> rules = options.rules;
  for (const abi::PcieRule& r : more.rules) {
    if (std::none_of(rules.begin(), rules.end(), [&](const abi::PcieRule& b) { return same_rule(r, b); })) rules.push_back(r);
  }
  if (addresses.size() > abi::kMaxExcludedFunctions) {
    return fail(format("%zu functions, Limbo's configuration holds at most %zu", addresses.size(), abi::kMaxExcludedFunctions));
  }
  if (rules.size() > abi::kMaxPcieRules) {
    return fail(format("%zu rules by ID, class or include, Limbo's configuration holds at most %zu", rules.size(),
                       abi::kMaxPcieRules));
  }
  std::sort(addresses.begin(), addresses.end(), less);
  // Exclusions before includes: the order the purgatory matches them in does
  // not depend on it, but the lists read back the same way.
  std::stable_sort(rules.begin(), rules.end(), [](const abi::PcieRule& a, const abi::PcieRule& b) { return a.action < b.action; });
  options.excluded = std::move(addresses);
  options.rules = std::move(rules);
  return true;
}

std::string format_rule(const abi::PcieRule& r) {
  switch (static_cast<abi::PcieRuleKind>(r.kind)) {
    case abi::PcieRuleKind::kAddress:
      return format_function_address(abi::PciAddress{static_cast<uint16_t>(r.value >> 16), static_cast<uint8_t>(r.value >> 8),
                                                     static_cast<uint8_t>(r.value)});
    case abi::PcieRuleKind::kId:
      return (r.mask >> 16) == 0 ? format("%04x:*", r.value & 0xffff) : format("%04x:%04x", r.value & 0xffff, r.value >> 16);
    case abi::PcieRuleKind::kClass:
      if ((r.mask & 0xff00) == 0) return format("class:%02x", r.value >> 16);
      if ((r.mask & 0xff) == 0) return format("class:%04x", r.value >> 8);
      return format("class:%06x", r.value);
  }
  return "?";
}

Result<uint32_t> parse_settle_ms(std::string_view text) {
  return parse_bounded_ms(text, kMinSettleMs, kMaxSettleMs, "PCIe r6.0 §6.6.1: 100 ms after a reset before the first config request");
}

Result<uint32_t> parse_ready_timeout_ms(std::string_view text) {
  return parse_bounded_ms(text, kMinReadyTimeoutMs, kMaxReadyTimeoutMs, "a device must get some time to answer");
}

Result<PcieOptions> options_from_environment(const EnvLookup& lookup) {
  PcieOptions options;
  auto get = [&](const char* name) -> std::string_view {
    const char* value = lookup(name);
    return value ? std::string_view(value) : std::string_view();
  };
  // A bad value fails as "NAME=VALUE: why".
  auto setting = [](const char* name, std::string_view value) { return std::string(name) + "=" + std::string(value); };
  if (const std::string_view v = get(env::kPcieMode); !v.empty()) {
    LIMBO_TRY_ASSIGN(options.mode, parse_mode(v).context(setting(env::kPcieMode, v)));
  }
  if (const std::string_view v = get(env::kPcieOrder); !v.empty()) {
    LIMBO_TRY_ASSIGN(options.order, parse_order(v).context(setting(env::kPcieOrder, v)));
  }
  if (const std::string_view v = get(env::kPcieExclude); !v.empty()) {
    LIMBO_TRY_ASSIGN(const Selection excluded, parse_selection(v, abi::PcieRuleAction::kExclude).context(setting(env::kPcieExclude, v)));
    LIMBO_TRY(add_selection(options, excluded).context(setting(env::kPcieExclude, v)));
  }
  if (const std::string_view v = get(env::kPcieInclude); !v.empty()) {
    LIMBO_TRY_ASSIGN(const Selection included, parse_selection(v, abi::PcieRuleAction::kInclude).context(setting(env::kPcieInclude, v)));
    LIMBO_TRY(add_selection(options, included).context(setting(env::kPcieInclude, v)));
  }
  if (const std::string_view v = get(env::kPcieIncludeDisplay); !v.empty()) {
    if (v != "0" && v != "1") return fail(setting(env::kPcieIncludeDisplay, v) + ": is 1 or 0");
    options.include_display = v == "1";
  }
  if (const std::string_view v = get(env::kPcieSettleMs); !v.empty()) {
    LIMBO_TRY_ASSIGN(options.settle_ms, parse_settle_ms(v).context(setting(env::kPcieSettleMs, v)));
  }
  if (const std::string_view v = get(env::kPcieReadyTimeoutMs); !v.empty()) {
    LIMBO_TRY_ASSIGN(options.ready_timeout_ms, parse_ready_timeout_ms(v).context(setting(env::kPcieReadyTimeoutMs, v)));
  }
  return options;
}

std::vector<std::pair<std::string, std::string>> options_to_environment(const PcieOptions& options) {
  std::string excluded;
  for (const abi::PciAddress& a : options.excluded) excluded += (excluded.empty() ? "" : ",") + format_function_address(a);
  std::string included;
  for (const abi::PcieRule& r : options.rules) {
    std::string& list = r.action == static_cast<uint8_t>(abi::PcieRuleAction::kInclude) ? included : excluded;
    list += (list.empty() ? "" : ",") + format_rule(r);
  }
  return {
      {env::kPcieMode, options.mode == abi::PcieMode::kReset ? "reset" : "off"},
      {env::kPcieOrder, order_name(options.order)},
      {env::kPcieExclude, excluded},
      {env::kPcieInclude, included},
      {env::kPcieIncludeDisplay, options.include_display ? "1" : "0"},
      {env::kPcieSettleMs, std::to_string(options.settle_ms)},
      {env::kPcieReadyTimeoutMs, std::to_string(options.ready_timeout_ms)},
  };
}

namespace {

// Everything but the decision to load with mode off when no window is known.
FilledSettings build_settings(const PcieOptions& options, const Topology& topology) {
  FilledSettings out;
  abi::PcieSettings& s = out.settings;
  s.mode = static_cast<uint32_t>(abi::PcieMode::kReset);
  s.flags = options.include_display ? abi::kPcieFlagIncludeDisplay : 0;
  s.order = static_cast<uint32_t>(options.order);
  s.settle_ms = options.settle_ms;
  s.ready_timeout_ms = options.ready_timeout_ms;
  static const std::vector<abi::EcamWindow> kNone;
  const std::vector<abi::EcamWindow>& found = topology.ecam ? topology.ecam->windows : kNone;
  const size_t windows = std::min(found.size(), abi::kMaxEcamWindows);
  std::copy_n(found.begin(), windows, s.ecam);
  s.ecam_count = static_cast<uint32_t>(windows);

  std::vector<abi::PciAddress> roots;
  static const std::vector<abi::PciAddress> kNoBus;
  for (const abi::PciAddress& bus : topology.root_buses ? *topology.root_buses : kNoBus) {
    const bool reachable = windows == 0 || std::any_of(s.ecam, s.ecam + windows, [&](const abi::EcamWindow& w) {
                             return window_holds(w, bus.segment, bus.bus);
                           });
    if (reachable) {
      roots.push_back({bus.segment, bus.bus, 0});
    } else {
      out.warnings.push_back("root bus " + root_bus_text(bus) + " is in no ECAM window: its devices are left alone");
    }
  }
  if (!topology.root_buses) {
    out.warnings.push_back("no root bus found in sysfs (" + topology.root_buses.error().message +
                           "): discovery starts at each ECAM window's first bus");
    for (size_t i = 0; i < windows; ++i) roots.push_back({s.ecam[i].segment, s.ecam[i].start_bus, 0});
  }
  if (roots.size() > abi::kMaxRootBuses) {
    out.warnings.push_back(format("%zu root buses, Limbo's configuration holds %zu: devices below %s and later are left alone",
                                  roots.size(), abi::kMaxRootBuses, root_bus_text(roots[abi::kMaxRootBuses]).c_str()));
    roots.resize(abi::kMaxRootBuses);
  }
  std::copy(roots.begin(), roots.end(), s.root_buses);
  s.root_bus_count = static_cast<uint32_t>(roots.size());

  const size_t excluded = std::min(options.excluded.size(), abi::kMaxExcludedFunctions);
  std::copy_n(options.excluded.begin(), excluded, s.excluded);
  s.excluded_count = static_cast<uint32_t>(excluded);
  const size_t rules = std::min(options.rules.size(), abi::kMaxPcieRules);
  std::copy_n(options.rules.begin(), rules, out.rules.rules);
  out.rules.count = static_cast<uint32_t>(rules);
  return out;
}

}  // namespace

FilledSettings fill_settings(const PcieOptions& options, const Topology& topology) {
  if (options.mode == abi::PcieMode::kOff) return FilledSettings{};
  if (!topology.ecam) {
    FilledSettings out;
    out.quiesce_disabled = true;
    out.warnings.push_back("PCIe quiesce is OFF for this load: no ECAM window (" + topology.ecam.error().message +
                           "); the capture kernel still loads, but devices may keep doing DMA across the switch "
                           "(--pcie=off says this is intended)");
    return out;
  }
  return build_settings(options, topology);
}

FilledSettings plan_settings(const PcieOptions& options, const Topology& topology) {
  FilledSettings out = build_settings(options, topology);
  if (options.mode == abi::PcieMode::kOff) out.settings.mode = static_cast<uint32_t>(abi::PcieMode::kOff);
  return out;
}

std::vector<std::string> describe_settings(const abi::PcieSettings& s, const abi::PcieRules* rules) {
  std::vector<std::string> lines;
  if (s.mode != static_cast<uint32_t>(abi::PcieMode::kReset)) {
    lines.push_back("pcie: mode off (no device is touched)");
    return lines;
  }
  lines.push_back(format("pcie: mode reset, settle %u ms, ready timeout %u ms%s", s.settle_ms, s.ready_timeout_ms,
                         s.flags & abi::kPcieFlagIncludeDisplay ? ", display devices included" : ""));
  lines.push_back(s.order == static_cast<uint32_t>(abi::PcieOrder::kOverlap)
                      ? "pcie: order overlap: devices reset before the image is verified, verified during their "
                        "settle time (a damaged image then finds them reset)"
                      : "pcie: order serial: the image verified first, devices reset only after it passed");
  for (uint32_t i = 0; i < s.ecam_count && i < abi::kMaxEcamWindows; ++i) {
    const abi::EcamWindow& w = s.ecam[i];
    lines.push_back(format("pcie: ECAM segment %04x buses %02x-%02x at %#llx", w.segment, w.start_bus, w.end_bus,
                           static_cast<ull>(w.base)));
  }
  std::string roots;
  for (uint32_t i = 0; i < s.root_bus_count && i < abi::kMaxRootBuses; ++i) roots += " " + root_bus_text(s.root_buses[i]);
  lines.push_back("pcie: root buses" + (roots.empty() ? std::string(" none") : roots));
  std::string excluded;
  for (uint32_t i = 0; i < s.excluded_count && i < abi::kMaxExcludedFunctions; ++i) {
    excluded += " " + format_function_address(s.excluded[i]);
  }
  std::string included;
  if (rules != nullptr) {
    for (uint32_t i = 0; i < rules->count && i < abi::kMaxPcieRules; ++i) {
      const abi::PcieRule& r = rules->rules[i];
      (r.action == static_cast<uint8_t>(abi::PcieRuleAction::kInclude) ? included : excluded) += " " + format_rule(r);
    }
  }
  if (!excluded.empty()) lines.push_back("pcie: excluded" + excluded);
  if (!included.empty()) lines.push_back("pcie: included past the known-device table" + included);
  return lines;
}

}  // namespace limbo::plugin::pcie
