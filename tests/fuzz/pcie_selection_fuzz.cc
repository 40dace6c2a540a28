// SPDX-License-Identifier: GPL-2.0-only
// Fuzz target: the --pcie-exclude / --pcie-include syntax
// (kexec-plugin/pcie/settings.h parse_selection, add_selection, format_rule)
// over arbitrary text. The first byte's low bit chooses exclude or include;
// the rest is the option's value. Invariants checked:
//  - a refusal has a message;
//  - what is accepted fits the configuration block (at most 32 addresses and
//    32 rules), every rule has a known kind, the action asked for, and a
//    value within its mask (so the purgatory's match is exact);
//  - formatting the accepted rules and addresses and parsing that text again
//    gives the same rules (what limbo-kexec passes the plugin through the
//    environment is what it parsed);
//  - add_selection into an empty set keeps every rule and address, in
//    exclusion-then-include order, and refuses nothing parse_selection took.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pcie/address.h"
#include "pcie/settings.h"

namespace {

[[noreturn]] void violated(const char* what) {
  fprintf(stderr, "pcie_selection_fuzz: invariant violated: %s\n", what);
  abort();
}

bool same(const limbo::abi::PcieRule& a, const limbo::abi::PcieRule& b) {
  return a.kind == b.kind && a.action == b.action && a.value == b.value && a.mask == b.mask;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace limbo;
  using namespace limbo::plugin::pcie;
  if (size == 0) return 0;
  const abi::PcieRuleAction action = (data[0] & 1) ? abi::PcieRuleAction::kInclude : abi::PcieRuleAction::kExclude;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto sel = parse_selection(text, action);
  if (!sel) {
    if (sel.error().message.empty()) violated("a refusal without a message");
    return 0;
  }
  if (sel->addresses.size() > abi::kMaxExcludedFunctions || sel->rules.size() > abi::kMaxPcieRules) {
    violated("more than the configuration block holds");
  }
  if (action == abi::PcieRuleAction::kInclude && !sel->addresses.empty()) violated("an include kept as an excluded address");
  std::string again;
  for (const abi::PcieRule& r : sel->rules) {
    const auto kind = static_cast<abi::PcieRuleKind>(r.kind);
    if (kind != abi::PcieRuleKind::kAddress && kind != abi::PcieRuleKind::kId && kind != abi::PcieRuleKind::kClass) {
      violated("a rule of an unknown kind");
    }
    if (r.action != static_cast<uint8_t>(action)) violated("a rule with another action");
    if ((r.value & ~r.mask) != 0) violated("a rule value outside its mask");
    if (kind == abi::PcieRuleKind::kClass && (r.mask & ~0xffffffu) != 0) violated("a class rule past 24 bits");
    if (kind == abi::PcieRuleKind::kId && ((r.mask & 0xffff) != 0xffff || (r.value & 0xffff) == 0xffff)) {
      violated("an id rule without an exact, valid vendor");
    }
    again += (again.empty() ? "" : ",") + format_rule(r);
  }
  for (const abi::PciAddress& a : sel->addresses) again += (again.empty() ? "" : ",") + format_function_address(a);
  if (again.empty()) violated("an accepted selection that selects nothing");
  auto back = parse_selection(again, action);
  if (!back) violated("the formatted selection does not parse again");
  if (back->rules.size() != sel->rules.size() || back->addresses.size() != sel->addresses.size()) {
    violated("the formatted selection parses to another count");
  }
  for (size_t i = 0; i < sel->rules.size(); ++i) {
    if (!same(back->rules[i], sel->rules[i])) violated("the formatted selection parses to other rules");
  }
  for (size_t i = 0; i < sel->addresses.size(); ++i) {
    if (!same_function(back->addresses[i], sel->addresses[i])) violated("the formatted selection parses to other addresses");
  }
  PcieOptions options;
  if (!add_selection(options, *sel)) violated("add_selection refused what parse_selection accepted");
  if (options.rules.size() != sel->rules.size() || options.excluded.size() != sel->addresses.size()) {
    violated("add_selection lost or duplicated items");
  }
  return 0;
}
