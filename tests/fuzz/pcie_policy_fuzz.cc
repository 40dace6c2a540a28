// SPDX-License-Identifier: GPL-2.0-only
// Fuzz target: PCIe discovery and the reset policy (purgatory/lib/pcie
// discovery.h, policy.h) over a simulated fabric whose config space comes
// from the fuzzer's bytes: ECAM windows, root buses, settings and every
// function's first 256 bytes of config space. Invariants checked:
//  - config reads are bounded (counted here and compared with discovery's
//    own count and with a per-bus ceiling);
//  - every bus read lies inside an ECAM window, and each bus is walked once;
//  - no port is selected for reset that has anything but endpoints below it:
//    its children are all endpoints, and no discovered function on any bus
//    of its secondary..subordinate range belongs to another parent;
//  - every decision carries a known reason that fits its action, and the
//    reset tables agree with the decisions;
//  - an excluded function matches an exclusion; no port is reset
//    that the table of known devices forbids (itself or a child) unless an
//    include names it; no FLR of a device whose FLR is known broken.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "lib/pcie/clock.h"
#include "lib/pcie/config_space.h"
#include "lib/pcie/discovery.h"
#include "lib/pcie/policy.h"
#include "tests/fuzz/seed_writer.h"
#include "tests/pcie/topologies.h"

namespace {

using namespace limbo;
using namespace limbo::pcie;

[[noreturn]] void violated(const char* what) {
  fprintf(stderr, "pcie_policy_fuzz: invariant violated: %s\n", what);
  abort();
}

// The input, in order: window count, windows (segment, start, end), root
// count, roots (segment, bus), settings flags, exclusion count, exclusions
// (segment, bus, devfn), rule count, rules (kind, action, value and mask,
// 4 bytes each, little-endian), then function records (bus,
// devfn, page, length - 1, that many config bytes from offset 0, or from
// 100h when the page's low bit is set, so that extended capabilities (ARI,
// SR-IOV) can be built; segment = window 0's segment).
struct Input {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  uint8_t byte() { return at < size ? data[at++] : 0; }
  bool done() const { return at >= size; }
};

class FuzzFabric {
 public:
  std::vector<abi::EcamWindow> windows;
  std::map<uint32_t, std::vector<uint8_t>> functions;  // key: segment << 16 | bus << 8 | devfn
  uint64_t reads = 0;
  std::set<uint32_t> buses_read;  // segment << 8 | bus

  static uint32_t key(abi::PciAddress a) { return uint32_t{a.segment} << 16 | uint32_t{a.bus} << 8 | a.devfn; }

  bool in_window(uint16_t segment, uint8_t bus) {
    for (const auto& w : windows) {
      if (w.segment == segment && w.start_bus <= bus && bus <= w.end_bus) return true;
    }
    return false;
  }
  uint8_t read8(abi::PciAddress a, uint16_t o) { return static_cast<uint8_t>(read(a, o, 1)); }
  uint16_t read16(abi::PciAddress a, uint16_t o) { return static_cast<uint16_t>(read(a, o, 2)); }
  uint32_t read32(abi::PciAddress a, uint16_t o) { return read(a, o, 4); }

 private:
  uint32_t read(abi::PciAddress a, uint16_t o, int size) {
    ++reads;
    if (!in_window(a.segment, a.bus)) violated("a config read outside every ECAM window");
    if (o + size > static_cast<int>(kConfigSpaceSize) || o % size != 0) violated("a read beyond or misaligned in config space");
    buses_read.insert(uint32_t{a.segment} << 8 | a.bus);
    auto it = functions.find(key(a));
    if (it == functions.end()) return size == 4 ? 0xffffffffu : size == 2 ? 0xffffu : 0xffu;
    uint32_t v = 0;
    if (o + size <= static_cast<int>(it->second.size())) std::memcpy(&v, it->second.data() + o, size);
    return v;
  }
};
static_assert(ConfigReader<FuzzFabric>);

// Reads discovery may make per function: IDs, header type, class, the
// capability walk (status, pointer, then id and next per step), the PCIe
// capabilities register, the bus numbers.
// ids, header, class; status, pointer; per capability its entry and at most
// one more byte (AF capabilities, virtio cfg_type); PCIe capabilities, bus
// numbers; the function methods' Device Capabilities, virtio BAR and offset, two BAR
// dwords and Command.
// The extended capability walk, SR-IOV Control and NumVFs, the
// ARI Next Function Number, and a port's capability version and Device
// Control 2 (once per bus it leads to).
constexpr uint64_t kMaxReadsPerFunction = 3 + 2 + 2 * kMaxCapabilityWalk + 1 + 1 + 6 + kMaxExtendedCapabilityWalk + 2 + 1 + 2;

struct Work {
  Topology topology;
  Plan plan;
};

bool reason_fits(Action action, Reason reason) {
  switch (reason) {
    case Reason::kPortSelected:
    case Reason::kBelowSelectedPort: return action == Action::kReset;
    case Reason::kModeOff: return action != Action::kReset;
    case Reason::kDisplay:
    case Reason::kNotReady:
    case Reason::kNoDma: return action == Action::kSkip;
    // No bus reset, so FLR or a class reset (kReset), or stopped.
    case Reason::kConventional:
    case Reason::kRcIntegrated:
    case Reason::kNoPort:
    case Reason::kSharesPort: return action == Action::kReset || action == Action::kStop;
    case Reason::kExcluded: return action != Action::kReset;
    // A function falls to the next method; a port itself is left.
    case Reason::kKnownNoBusReset: return action != Action::kSkip;
    default: return action == Action::kLeave;
  }
}

void write_seeds() {
  using namespace limbo::pcie::testing;
  auto serialise = [](Fabric& f, const std::vector<abi::PciAddress>& roots, uint8_t flags) {
    std::vector<uint8_t> out;
    out.push_back(static_cast<uint8_t>(f.windows().size()));
    for (const auto& w : f.windows()) {
      out.push_back(static_cast<uint8_t>(w.segment));
      out.push_back(w.start_bus);
      out.push_back(w.end_bus);
    }
    out.push_back(static_cast<uint8_t>(roots.size()));
    for (const auto& r : roots) {
      out.push_back(static_cast<uint8_t>(r.segment));
      out.push_back(r.bus);
    }
    out.push_back(flags);
    out.push_back(0);  // no exclusions
    out.push_back(0);  // no rules
    for (int bus = 0; bus < 256; ++bus) {
      for (int devfn = 0; devfn < 256; ++devfn) {
        const abi::PciAddress a{0, static_cast<uint8_t>(bus), static_cast<uint8_t>(devfn)};
        if (!f.has(a)) continue;
        out.push_back(static_cast<uint8_t>(bus));
        out.push_back(static_cast<uint8_t>(devfn));
        out.push_back(0);  // page 0
        out.push_back(0xff);
        for (uint16_t o = 0; o < 256; ++o) out.push_back(static_cast<uint8_t>(f.peek(a, o, 1)));
      }
    }
    return out;
  };
  FakeClock clock;
  Fabric qemu(clock);
  build_qemu_like(qemu);
  fuzz::write_seed("qemu-like", serialise(qemu, {{0, 0, 0}}, 1));
  fuzz::write_seed("qemu-like-display", serialise(qemu, {{0, 0, 0}}, 3));
  Fabric many(clock);
  build_many_ports(many, 12);
  fuzz::write_seed("many-ports", serialise(many, {{0, 0, 0}}, 1));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (fuzz::seed_dir() != nullptr) {
    write_seeds();
    exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Work* work = new Work;  // large: not on the stack
  Input in{data, size};
  FuzzFabric fabric;
  const size_t window_count = in.byte() % 4;
  for (size_t i = 0; i < window_count; ++i) {
    const uint16_t segment = in.byte() % 2;
    const uint8_t start = in.byte();
    const uint8_t end = in.byte();
    fabric.windows.push_back(abi::EcamWindow{0xb0000000ull + i * 0x10000000ull, segment, start, end, 0});
  }
  std::vector<abi::PciAddress> roots(in.byte() % 5);
  for (auto& r : roots) {
    r.segment = in.byte() % 2;
    r.bus = in.byte();
    r.devfn = 0;
  }
  const uint8_t flags = in.byte();
  abi::PcieSettings abi_settings = {};
  abi_settings.mode = static_cast<uint32_t>((flags & 1) ? abi::PcieMode::kReset : abi::PcieMode::kOff);
  abi_settings.flags = (flags & 2) ? abi::kPcieFlagIncludeDisplay : 0;
  abi_settings.excluded_count = in.byte() % 4;
  for (uint32_t i = 0; i < abi_settings.excluded_count; ++i) {
    abi_settings.excluded[i] = abi::PciAddress{static_cast<uint16_t>(in.byte() % 2), in.byte(), in.byte()};
  }
  abi::PcieRules rules = {};
  rules.count = in.byte() % 5;
  for (uint32_t i = 0; i < rules.count; ++i) {
    abi::PcieRule& r = rules.rules[i];
    r.kind = in.byte() % 5;  // 0 and 4 are not kinds: they must match nothing
    r.action = static_cast<uint8_t>(1 + in.byte() % 2);
    for (int k = 0; k < 4; ++k) r.value |= uint32_t{in.byte()} << (8 * k);
    for (int k = 0; k < 4; ++k) r.mask |= uint32_t{in.byte()} << (8 * k);
  }
  const uint16_t record_segment = fabric.windows.empty() ? 0 : fabric.windows[0].segment;
  while (!in.done()) {
    const uint8_t bus = in.byte();
    const uint8_t devfn = in.byte();
    const size_t length = size_t{in.byte()} + 1;
    const uint8_t page = in.byte();
    std::vector<uint8_t>& config = fabric.functions[FuzzFabric::key(abi::PciAddress{record_segment, bus, devfn})];
    config.resize(512, 0);  // a function given twice keeps both pages
    const size_t base = (page & 1) ? 256 : 0;
    for (size_t k = 0; k < length; ++k) config[base + k] = in.byte();
  }

  Topology& t = work->topology;
  Plan& plan = work->plan;
  const bool complete = discover(fabric, roots.data(), roots.size(), t);
  if (!complete && !t.truncated) violated("an incomplete discovery that does not say so");
  if (t.config_reads != fabric.reads) violated("discovery's read count differs from the reads made");
  if (fabric.reads > fabric.buses_read.size() * kDevicesPerBus * kFunctionsPerDevice * kMaxReadsPerFunction) {
    violated("more config reads than the walked buses allow");
  }
  // Each bus walked at most once: buses read are root buses or bridges' secondaries.
  size_t claimed = t.root_buses_scanned;
  for (uint16_t i = 0; i < t.count; ++i) {
    const Function& f = t.functions[i];
    if (f.is_bridge() && (f.bus_state == BusState::kScanned || f.bus_state == BusState::kPending)) ++claimed;
    if (f.parent != kNoFunction && (f.parent >= i || !t.functions[f.parent].is_bridge())) {
      violated("a function whose parent is not an earlier bridge");
    }
  }
  if (fabric.buses_read.size() > claimed) violated("a bus read that no root or bridge claimed");

  const Settings settings = settings_from_abi(abi_settings, &rules);
  decide(t, settings, plan);
  uint16_t skips = 0;
  for (uint16_t i = 0; i < t.count; ++i) {
    const Decision& d = plan.decisions[i];
    if (std::strcmp(to_string(d.reason), "unknown") == 0 || std::strcmp(to_string(d.action), "unknown") == 0) {
      violated("a decision without a known reason");
    }
    if (!reason_fits(d.action, d.reason)) violated("a decision whose reason does not fit its action");
    skips += d.action == Action::kSkip;
  }
  if (skips != plan.skip_count) violated("skip count differs from the decisions");
  uint16_t stops = 0, function_resets = 0;
  for (uint16_t i = 0; i < t.count; ++i) {
    const Decision& d = plan.decisions[i];
    stops += d.action == Action::kStop;
    if (d.action == Action::kStop && d.method != Method::kBusMasterOff) violated("a stop that is not bus master off");
    if (d.action == Action::kReset && !t.functions[i].is_bridge() && d.method == Method::kNone) {
      violated("a reset function without a method");
    }
    if (d.action == Action::kReset && d.method != Method::kBusReset && d.method != Method::kNone) {
      ++function_resets;
      if (t.functions[i].is_bridge()) violated("a bridge reset by a function method");
    }
  }
  if (stops != plan.stop_count) violated("stop count differs from the decisions");
  if (function_resets != plan.function_reset_count) violated("function reset count differs from the decisions");
  if (!(abi_settings.mode == static_cast<uint32_t>(abi::PcieMode::kReset)) && plan.port_count != 0) {
    violated("a port reset with PCIe mode off");
  }
  if (plan.port_count > kMaxResetPorts || plan.endpoint_count > kMaxResetEndpoints) violated("reset tables overflow");
  for (uint16_t p = 0; p < plan.port_count; ++p) {
    const uint16_t port_index = plan.ports[p];
    const Function& port = t.functions[port_index];
    if (plan.decisions[port_index].action != Action::kReset) violated("a listed port not decided reset");
    if (!port.is_bridge() || !is_resettable_port(port.type)) violated("a reset that is not a root or downstream port");
    if (port.bus_state != BusState::kScanned) violated("a reset port whose bus was not scanned");
    for (uint16_t j = 0; j < t.count; ++j) {
      const Function& f = t.functions[j];
      const bool below = f.address.segment == port.address.segment && f.address.bus >= port.secondary_bus &&
                         f.address.bus <= port.subordinate_bus;
      if (f.parent == port_index) {
        if (f.is_bridge() || !is_endpoint(f.type)) violated("a reset port with a non-endpoint child");
        if (plan.decisions[j].action != Action::kReset) violated("a child of a reset port not reset");
      } else if (below) {
        violated("a reset port with a function of another parent inside its bus range");
      }
    }
  }
  // The --pcie-exclude/--pcie-include rules.
  auto included = [&](uint16_t i) { return find_inclusion(settings, t.functions[i]).found(); };
  auto known = [&](uint16_t i) {
    const Function& f = t.functions[i];
    return f.type == PortType::kUnknown ? uint8_t{0} : known_flags(find_known_device(f.vendor_id, f.device_id));
  };
  for (uint16_t i = 0; i < t.count; ++i) {
    const Decision& d = plan.decisions[i];
    if (d.reason == Reason::kExcluded && !find_exclusion(settings, t.functions[i]).found()) {
      violated("excluded without a matching exclusion");
    }
    if (d.rule_source == RuleSource::kExcludedAddress && d.rule >= settings.excluded_count) violated("rule index past the addresses");
    if (d.rule_source == RuleSource::kRule && d.rule >= settings.rule_count) violated("rule index past the rules");
    if ((d.method == Method::kFlr || d.method == Method::kAfFlr) && (known(i) & kKnownNoFlr) != 0 && !included(i)) {
      violated("an FLR of a device known to break by it");
    }
  }
  for (uint16_t p = 0; p < plan.port_count; ++p) {
    const uint16_t port_index = plan.ports[p];
    if ((known(port_index) & kKnownNoBusReset) != 0 && !included(port_index)) violated("a known no-bus-reset port reset");
    for (uint16_t j = 0; j < t.count; ++j) {
      if (t.functions[j].parent == port_index && (known(j) & kKnownNoBusReset) != 0 && !included(j) &&
          !included(port_index)) {
        violated("a port reset above a device known not to survive it");
      }
    }
  }
  for (uint16_t e = 0; e < plan.endpoint_count; ++e) {
    const uint16_t j = plan.endpoints[e];
    const Decision& d = plan.decisions[j];
    if (d.action != Action::kReset || d.related >= t.count || t.functions[j].parent != d.related ||
        plan.decisions[d.related].action != Action::kReset) {
      violated("a listed endpoint not tied to a reset port");
    }
  }
  return 0;
}
