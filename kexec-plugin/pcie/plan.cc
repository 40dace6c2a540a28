// SPDX-License-Identifier: GPL-2.0-only
#include "pcie/plan.h"

#include <algorithm>
#include <memory>

#include "lib/pcie/discovery.h"
#include "lib/pcie/function_reset.h"
#include "lib/pcie/policy.h"
#include "lib/pcie/quiesce.h"
#include "pcie/sysfs_config.h"

namespace limbo::plugin::pcie {
namespace {

namespace core = ::limbo::pcie;

// A limbo::fmt sink that appends to a string, so that the tree is the
// purgatory's own (core::print_tree).
struct StringSink {
  std::string& text;
  void put(char c) { text.push_back(c); }
};

struct Tables {
  core::Topology topology;
  core::Plan plan;
};

}  // namespace

PlanSummary make_plan(const std::string& sysfs_root, const abi::PcieSettings& settings, const abi::PcieRules* rules) {
  PlanSummary summary;
  const uint32_t window_count = settings.ecam_count > abi::kMaxEcamWindows ? abi::kMaxEcamWindows : settings.ecam_count;
  SysfsConfigReader reader(sysfs_root, std::vector<abi::EcamWindow>(settings.ecam, settings.ecam + window_count));
  // The core's tables are sized for the purgatory's static workspace: too big
  // for a thread's stack, fine on the heap.
  auto tables = std::make_unique<Tables>();
  abi::PciAddress roots[abi::kMaxRootBuses > abi::kMaxEcamWindows ? abi::kMaxRootBuses : abi::kMaxEcamWindows];
  const size_t root_count = core::root_buses(settings, roots);
  summary.discovery_truncated =
      !core::discover(reader, roots, root_count, tables->topology, core::scan_below_ports(settings));
  core::decide(tables->topology, core::settings_from_abi(settings, rules), tables->plan);

  const core::Topology& t = tables->topology;
  std::string& out = summary.text;
  // "-[0000:00]-" per root bus, then the core's tree of what is below it.
  StringSink sink{out};
  for (size_t r = 0; r < root_count; ++r) {
    const bool any = std::any_of(t.functions, t.functions + t.count, [&](const core::Function& f) {
      return f.parent == core::kNoFunction && f.address.segment == roots[r].segment && f.address.bus == roots[r].bus;
    });
    out += format("-[%04x:%02x]-%s\n", roots[r].segment, roots[r].bus,
                  reader.in_window(roots[r].segment, roots[r].bus) ? (any ? "" : " (no function)")
                                                                   : " (in no ECAM window: not walked)");
    core::print_tree(sink, t, tables->plan, roots[r]);
  }
  summary.ports = tables->plan.port_count;
  summary.endpoints = tables->plan.endpoint_count;
  summary.function_resets = tables->plan.function_reset_count;
  summary.stopped = tables->plan.stop_count;
  summary.skipped = tables->plan.skip_count;
  summary.functions = t.count;
  summary.config_reads = t.config_reads;
  summary.truncated_config = reader.truncated_functions();
  out += format("plan: %u port%s to reset (%u endpoint%s), %u function%s reset by flr or class reset, %u function%s "
                "stopped (bus master off), %u function%s skipped, %u found in %u config reads\n",
                summary.ports, summary.ports == 1 ? "" : "s", summary.endpoints, summary.endpoints == 1 ? "" : "s",
                summary.function_resets, summary.function_resets == 1 ? "" : "s", summary.stopped,
                summary.stopped == 1 ? "" : "s", summary.skipped, summary.skipped == 1 ? "" : "s", summary.functions,
                summary.config_reads);
  // Class resets reach registers in a BAR the purgatory reads from config
  // space after the crash; a BAR it cannot use is named here already.
  for (uint16_t i = 0; i < t.count; ++i) {
    const core::Function& f = t.functions[i];
    if (f.class_reset != core::ClassReset::kNone && f.mmio_refusal == core::MmioRefusal::kNone &&
        tables->plan.decisions[i].action == core::Action::kReset && core::is_class_reset(tables->plan.decisions[i].method)) {
      out += format("plan: %02x:%02x.%x %s registers at 0x%llx (mapped uncached by the purgatory)\n", f.address.bus,
                    core::device_of(f.address), core::function_of(f.address), core::to_string(tables->plan.decisions[i].method),
                    static_cast<unsigned long long>(f.mmio_window));
    }
  }
  // A PF's VFs are gone after its reset; the capture kernel finds
  // the PF with VF Enable clear.
  for (uint16_t i = 0; i < t.count; ++i) {
    const core::Function& f = t.functions[i];
    if (f.enabled_vfs == 0) continue;
    const bool cleared = core::clears_vfs(tables->plan.decisions[i]);
    out += format("plan: %02x:%02x.%x sr-iov pf with %u vfs enabled: %s\n", f.address.bus, core::device_of(f.address),
                  core::function_of(f.address), f.enabled_vfs,
                  cleared ? "its reset clears VF Enable, nothing is restored into the vfs: the capture kernel sees the pf only"
                          : "not reset by a bus reset or flr: the vfs stay enabled");
  }
  if (summary.discovery_truncated) {
    summary.notes.push_back(format("more than %zu functions: the purgatory leaves the rest alone", core::kMaxFunctions));
  }
  if (summary.truncated_config > 0) {
    summary.notes.push_back(format("%zu function%s showed only the first %zu bytes of config space (not root): "
                                   "capabilities unread, so they look like conventional PCI; run as root for the real plan",
                                   summary.truncated_config, summary.truncated_config == 1 ? "" : "s",
                                   kUnprivilegedConfigBytes));
  }
  return summary;
}

}  // namespace limbo::plugin::pcie
