// SPDX-License-Identifier: GPL-2.0-only
// Discovery: the functions reachable from the root buses, through bridges by
// their secondary and subordinate bus numbers, into a fixed-capacity table the
// caller owns (no heap; kept off the purgatory's 16 KiB stack). Breadth-first
// with an explicit work list (the checker forbids recursion); no bus is read
// twice, a bus outside the ECAM windows is never read, capability lists are
// walked at most kMaxCapabilityWalk steps, functions 1-7 only when function 0
// says multi-function. Reads only: safe for the plan view.
// Below a port with ARI Forwarding enabled, the device's functions
// are found as Linux finds them (next_ari_fn): function 0, then each ARI
// capability's Next Function Number, so functions past 7 and past gaps are
// in the table (and saved and restored with the rest). An SR-IOV Physical
// Function records how many VFs it has enabled (the VFs themselves answer no
// Vendor ID, PCIe r6.0 §9.3.4.1.1, and are not functions of the table).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/pcie/config_space.h"
#include "lib/pcie/registers.h"

namespace limbo::pcie {

inline constexpr size_t kMaxFunctions = 512;
inline constexpr uint16_t kNoFunction = 0xffff;  // no parent: on a root bus
inline constexpr int kDevicesPerBus = 32;
inline constexpr int kFunctionsPerDevice = 8;
// Distinct segments discovery keeps visited-bus bitmaps for.
inline constexpr size_t kMaxSegments = abi::kMaxEcamWindows;

// What became of a bridge's secondary bus.
enum class BusState : uint8_t {
  kNotBridge,        // not a type 1 function
  kScanned,          // every function on it is in the table
  kPending,          // queued, not scanned: the table filled up first
  kOutsideWindow,    // no ECAM window serves it: never read
  kAlreadyVisited,   // another bridge or a root bus claimed it (a cycle or a duplicate)
  kInvalidNumbers,   // secondary 0, secondary <= own bus, or subordinate < secondary
};

// A reset a device class defines for itself (method 3).
enum class ClassReset : uint8_t {
  kNone,
  kNvme,    // class 010802: CC.EN cleared, CSTS.RDY polled to 0 (NVMe Base r2.0 §3.7.2)
  kVirtio,  // virtio 1.x: device_status written 0, read back 0 (virtio 1.1 §2.1, §4.1.4.3.2)
};

// Why a class reset's registers cannot be reached through the BAR the
// crashed kernel programmed: the purgatory then stops the function instead.
enum class MmioRefusal : uint8_t {
  kNone,
  kIoBar,         // the BAR decodes I/O space, not memory
  kUnassigned,    // the BAR reads 0
  kBadBar,        // a BAR index past the last, or a 64-bit BAR in the last slot
  kNoDecode,      // Command's Memory Space Enable is off: the BAR decodes nothing
  kWraps,         // the register block would wrap past 2^64
  kNotMapped,     // (purgatory) the page tables could not map it uncached
};

struct Function {
  abi::PciAddress address;
  uint16_t vendor_id;
  uint16_t device_id;
  uint32_t class_code;     // 24 bits: base class, sub-class, programming interface
  uint16_t parent;         // table index of the bridge whose secondary bus holds it, or kNoFunction
  uint8_t pcie_capability; // offset of the PCI Express capability; 0 = none
  PortType type;
  HeaderLayout header_layout;
  uint8_t secondary_bus;   // type 1 only
  uint8_t subordinate_bus; // type 1 only
  BusState bus_state;
  bool multi_function;
  uint8_t depth;           // 0 on a root bus
  // What the per-function methods need; zero when absent.
  uint8_t msi_capability;
  uint8_t msix_capability;
  uint8_t af_capability;       // Advanced Features with FLR and TP advertised
  bool flr;                    // Device Capabilities: Function Level Reset capable
  ClassReset class_reset;
  MmioRefusal mmio_refusal;    // for class_reset != kNone
  uint64_t mmio_window;        // physical address of the class reset's registers
  // The --pcie-exclude/--pcie-include rules and SR-IOV.
  uint16_t ari_capability;     // extended capability offsets; 0 = none
  uint16_t sriov_capability;
  uint16_t enabled_vfs;        // SR-IOV: NumVFs while VF Enable is set, else 0
  bool ari_bus;                // found by the ARI walk (its port forwards ARI)

  [[nodiscard]] constexpr bool is_bridge() const { return header_layout == HeaderLayout::kBridge; }
  [[nodiscard]] constexpr uint8_t base_class() const { return static_cast<uint8_t>(class_code >> 16); }
};

// Plain data (no default member initialisers): a global of it is all zero
// and can live in .bss; discover() resets what it uses.
struct Topology {
  Function functions[kMaxFunctions];
  uint16_t count;
  bool truncated;                  // more functions than kMaxFunctions: the rest are unknown
  uint16_t root_buses_scanned;
  uint16_t root_buses_ignored; // outside every window, or repeated
  uint32_t config_reads;           // reads discovery issued

  // Work list of buses to scan: each bus enters once (visited at push), so
  // the list never holds more than one entry per bridge plus the root buses.
  struct PendingBus {
    uint16_t segment;
    uint8_t bus;
    uint16_t parent;
  };
  PendingBus pending[kMaxFunctions + abi::kMaxRootBuses];
  // Visited buses per segment: one bit per bus number.
  uint16_t visited_segment[kMaxSegments];
  uint64_t visited[kMaxSegments][4];
  uint8_t visited_segments;
};

namespace detail {

// A bus claimed before? Claims it. False also when the segment table is full
// (more segments than windows cannot be served anyway).
[[nodiscard]] inline bool claim_bus(Topology& t, uint16_t segment, uint8_t bus) {
  size_t slot = 0;
  while (slot < t.visited_segments && t.visited_segment[slot] != segment) ++slot;
  if (slot == t.visited_segments) {
    if (slot == kMaxSegments) return false;
    t.visited_segment[slot] = segment;
    for (uint64_t& word : t.visited[slot]) word = 0;
    ++t.visited_segments;
  }
  uint64_t& word = t.visited[slot][bus >> 6];
  const uint64_t bit = uint64_t{1} << (bus & 63);
  if ((word & bit) != 0) return false;
  word |= bit;
  return true;
}

// The register's Device/Port Type, or kUnknown for a reserved encoding.
[[nodiscard]] constexpr PortType port_type_of(PcieCapabilities caps) {
  switch (const PortType type = caps.port_type()) {
    case PortType::kEndpoint:
    case PortType::kLegacyEndpoint:
    case PortType::kRootPort:
    case PortType::kSwitchUpstreamPort:
    case PortType::kSwitchDownstreamPort:
    case PortType::kPcieToPciBridge:
    case PortType::kPciToPcieBridge:
    case PortType::kRcIntegratedEndpoint:
    case PortType::kRcEventCollector:
      return type;
    case PortType::kConventional:
    case PortType::kUnknown:
      break;
  }
  return PortType::kUnknown;
}

// Counts every read, for the report and the benchmark.
template <ConfigReader Space>
struct CountingReader {
  Space& space;
  uint32_t& reads;
  uint8_t read8(abi::PciAddress a, uint16_t offset) { ++reads; return space.read8(a, offset); }
  uint16_t read16(abi::PciAddress a, uint16_t offset) { ++reads; return space.read16(a, offset); }
  uint32_t read32(abi::PciAddress a, uint16_t offset) { ++reads; return space.read32(a, offset); }
  bool in_window(uint16_t segment, uint8_t bus) { return space.in_window(segment, bus); }  // not a read
};

}  // namespace detail

// Offset of the capability `id` in the function's capability list, or 0. At
// most kMaxCapabilityWalk entries are visited, so a looping list ends.
template <ConfigReader Reader>
[[nodiscard]] uint8_t find_capability(Reader& space, abi::PciAddress a, uint8_t id) {
  if (!Status::ReadFrom(space, a).capabilities_list()) return 0;
  uint8_t offset = CapabilitiesPointer::ReadFrom(space, a).offset();
  for (int step = 0; step < kMaxCapabilityWalk && offset >= kCapabilityFirstOffset; ++step) {
    // ID and next pointer in one read.
    const CapabilityHeader entry = CapabilityHeader::ReadFrom(space, a, offset);
    if (entry.id() == id) return offset;
    offset = entry.next_pointer();
  }
  return 0;
}

namespace detail {

// One walk of the capability list (at most kMaxCapabilityWalk entries)
// recording what discovery and the per-function methods use.
template <ConfigReader Reader>
void walk_capabilities(Reader& space, Function& f, uint8_t& virtio_common_cfg) {
  const abi::PciAddress a = f.address;
  virtio_common_cfg = 0;
  if (!Status::ReadFrom(space, a).capabilities_list()) return;
  uint8_t offset = CapabilitiesPointer::ReadFrom(space, a).offset();
  const bool virtio = f.vendor_id == kVirtioVendorId && f.device_id >= kVirtioFirstDeviceId &&
                      f.device_id <= kVirtioLastDeviceId;
  for (int step = 0; step < kMaxCapabilityWalk && offset >= kCapabilityFirstOffset; ++step) {
    const CapabilityHeader entry = CapabilityHeader::ReadFrom(space, a, offset);
    const uint8_t id = static_cast<uint8_t>(entry.id());
    if (id == kCapabilityIdPciExpress && f.pcie_capability == 0) f.pcie_capability = offset;
    else if (id == kCapabilityIdMsi && f.msi_capability == 0) f.msi_capability = offset;
    else if (id == kCapabilityIdMsix && f.msix_capability == 0) f.msix_capability = offset;
    else if (id == kCapabilityIdAdvancedFeatures && f.af_capability == 0) {
      const AfCapabilities af = AfCapabilities::ReadFrom(space, a, offset);
      if (af.function_level_reset_capable() && af.transactions_pending_capable()) f.af_capability = offset;
    } else if (id == kCapabilityIdVendor && virtio && virtio_common_cfg == 0 &&
               VirtioCapType::ReadFrom(space, a, offset).value == kVirtioCommonCfgType) {
      virtio_common_cfg = offset;
    }
    offset = entry.next_pointer();
  }
}

// The physical address of `offset` in BAR `bar` as the crashed kernel left
// it, or why it cannot be used (PCI r3.0 §6.2.5.1).
template <ConfigReader Reader>
void locate_mmio_window(Reader& space, Function& f, uint8_t bar, uint32_t offset, uint32_t length) {
  const abi::PciAddress a = f.address;
  f.mmio_window = 0;
  if (bar >= kType0BarCount) {
    f.mmio_refusal = MmioRefusal::kBadBar;
    return;
  }
  const Bar low = Bar::ReadFrom(space, a, bar);
  if (low.io_space()) {
    f.mmio_refusal = MmioRefusal::kIoBar;
    return;
  }
  uint64_t base = low.value & ~uint32_t{0xf};
  if (low.is_64bit_memory()) {
    if (bar + 1 >= kType0BarCount) {
      f.mmio_refusal = MmioRefusal::kBadBar;
      return;
    }
    base |= uint64_t{Bar::ReadFrom(space, a, bar + 1).value} << 32;
  }
  if (base == 0) {
    f.mmio_refusal = MmioRefusal::kUnassigned;
    return;
  }
  if (!Command::ReadFrom(space, a).memory_space()) {
    f.mmio_refusal = MmioRefusal::kNoDecode;
    return;
  }
  const uint64_t window = base + offset;
  if (window < base || window + length < window) {
    f.mmio_refusal = MmioRefusal::kWraps;
    return;
  }
  f.mmio_refusal = MmioRefusal::kNone;
  f.mmio_window = window;
}

// The extended capabilities of a PCI Express function: ARI and
// SR-IOV, and the PF's enabled VFs.
template <ConfigReader Reader>
void walk_extended_capabilities(Reader& space, Function& f) {
  uint16_t offset = kExtendedCapabilityFirstOffset;
  for (int step = 0; step < kMaxExtendedCapabilityWalk && offset >= kExtendedCapabilityFirstOffset; ++step) {
    const ExtendedCapabilityHeader h = ExtendedCapabilityHeader::ReadFrom(space, f.address, offset);
    if (h.value == 0 || h.value == 0xffffffffu) return;
    // Only a structure that ends inside the function's 4 KiB is used: a read
    // past it would reach the next function's config space (ECAM).
    if (h.id() == kExtendedCapabilityIdAri && f.ari_capability == 0 && uint32_t{offset} + kAriCapabilityBytes <= kConfigSpaceSize) {
      f.ari_capability = offset;
    }
    if (h.id() == kExtendedCapabilityIdSriov && f.sriov_capability == 0 &&
        uint32_t{offset} + kSriovCapabilityBytes <= kConfigSpaceSize) {
      f.sriov_capability = offset;
    }
    offset = static_cast<uint16_t>(h.next_offset() & ~3u);
  }
}

template <ConfigReader Reader>
void probe_sriov(Reader& space, Function& f) {
  if (f.sriov_capability == 0) return;
  if (SriovControl::ReadFrom(space, f.address, f.sriov_capability).vf_enable()) {
    f.enabled_vfs = SriovNumVfs::ReadFrom(space, f.address, f.sriov_capability).value;
  }
}

// ARI Forwarding Enable on a root or downstream port (Device Control 2,
// present from version 2 of the PCI Express capability).
template <ConfigReader Reader>
[[nodiscard]] bool forwards_ari(Reader& space, const Function& port) {
  if (port.pcie_capability == 0 || !port.is_bridge()) return false;
  if (port.type != PortType::kRootPort && port.type != PortType::kSwitchDownstreamPort) return false;
  if (PcieCapabilities::ReadFrom(space, port.address, port.pcie_capability).version() < kPcieCapabilityVersion2) {
    return false;
  }
  return DeviceControl2::ReadFrom(space, port.address, port.pcie_capability).ari_forwarding_enable();
}

// Reads what the function methods need: FLR support, and for NVMe and
// virtio the place of the registers their class reset uses.
template <ConfigReader Reader>
void probe_methods(Reader& space, Function& f, uint8_t virtio_common_cfg) {
  if (f.pcie_capability != 0) {
    f.flr = DeviceCapabilities::ReadFrom(space, f.address, f.pcie_capability).function_level_reset_capable();
  }
  if (f.class_code == kClassNvmExpress) {
    f.class_reset = ClassReset::kNvme;
    locate_mmio_window(space, f, 0, 0, nvme::kRegisterWindowBytes);
  } else if (virtio_common_cfg != 0) {
    f.class_reset = ClassReset::kVirtio;
    const uint8_t bar = VirtioCapBar::ReadFrom(space, f.address, virtio_common_cfg).value;
    const uint32_t offset = VirtioCapOffset::ReadFrom(space, f.address, virtio_common_cfg).value;
    locate_mmio_window(space, f, bar, offset, virtio::kRegisterWindowBytes);
  }
}

}  // namespace detail

// A PCI Express root port or switch downstream port: its secondary bus is
// its link, with one device on it (device 0).
[[nodiscard]] constexpr bool leads_to_one_device(const Function& port) {
  return port.is_bridge() && (port.type == PortType::kRootPort || port.type == PortType::kSwitchDownstreamPort);
}

// What discovery reads on a root port's or downstream port's secondary bus:
// every device number (the serial order, as it always did), or device 0
// only (--pcie-order=overlap, where each read before the resets
// keeps the devices running; Linux's own default scan). A device past 0
// below such a port, which only a platform needing Linux's pci=pcie_scan_all
// has, is then not seen: its port is reset without its state saved.
enum class ScanBelowPorts : uint8_t { kEveryDevice, kDeviceZero };

// Fills `t` from the given root buses (abi::PciAddress: segment and bus
// count). Returns false when the table filled up (t.truncated): functions
// past the capacity are unknown, and bridges whose bus was not scanned say
// so (BusState::kPending), which the policy treats as "leave alone".
template <ConfigReader Space>
[[nodiscard]] bool discover(Space& raw_space, const abi::PciAddress* roots, size_t root_count, Topology& t,
                            ScanBelowPorts below_ports = ScanBelowPorts::kEveryDevice) {
  t.count = 0;
  t.truncated = false;
  t.root_buses_scanned = 0;
  t.root_buses_ignored = 0;
  t.config_reads = 0;
  t.visited_segments = 0;
  detail::CountingReader<Space> space{raw_space, t.config_reads};

  size_t head = 0;
  size_t tail = 0;
  constexpr size_t kPendingCapacity = sizeof(t.pending) / sizeof(t.pending[0]);
  if (root_count > abi::kMaxRootBuses) root_count = abi::kMaxRootBuses;
  for (size_t r = 0; r < root_count; ++r) {
    const abi::PciAddress root = roots[r];
    if (!raw_space.in_window(root.segment, root.bus) || !detail::claim_bus(t, root.segment, root.bus)) {
      ++t.root_buses_ignored;
      continue;
    }
    t.pending[tail++] = Topology::PendingBus{root.segment, root.bus, kNoFunction};
    ++t.root_buses_scanned;
  }

  // One function: absent, not ready (Retry Status), added, or the table full.
  enum class Probe : uint8_t { kAbsent, kRetry, kAdded, kFull };
  auto probe = [&](const Topology::PendingBus& bus, uint8_t depth, abi::PciAddress a) -> Probe {
    const Identifiers ids = Identifiers::ReadFrom(space, a);
    const uint16_t vendor = static_cast<uint16_t>(ids.vendor_id());
    if (vendor == kVendorIdAbsent || vendor == kVendorIdInvalid) return Probe::kAbsent;
    if (t.count == kMaxFunctions) {
      t.truncated = true;
      return Probe::kFull;
    }
    Function& f = t.functions[t.count];
    f = Function{};
    f.address = a;
    f.vendor_id = vendor;
    f.device_id = static_cast<uint16_t>(ids.device_id());
    f.parent = bus.parent;
    f.depth = depth;
    f.bus_state = BusState::kNotBridge;
    f.type = PortType::kUnknown;
    const uint16_t index = t.count++;
    // Not ready (Request Retry Status): nothing else is readable; an unknown
    // function keeps its port from being reset.
    if (vendor == kVendorIdRetry) return Probe::kRetry;
    const HeaderType header = HeaderType::ReadFrom(space, a);
    f.header_layout = header.layout();
    f.multi_function = header.multi_function();
    f.class_code = RevisionClass::ReadFrom(space, a).class_code();
    uint8_t virtio_common_cfg = 0;
    detail::walk_capabilities(space, f, virtio_common_cfg);
    f.type = f.pcie_capability == 0
                 ? PortType::kConventional
                 : detail::port_type_of(PcieCapabilities::ReadFrom(space, a, f.pcie_capability));
    if (!f.is_bridge() && f.type != PortType::kUnknown) {
      detail::probe_methods(space, f, virtio_common_cfg);
      // Extended config space exists only for PCI Express functions.
      if (f.pcie_capability != 0) {
        detail::walk_extended_capabilities(space, f);
        detail::probe_sriov(space, f);
      }
    }
    if (f.is_bridge()) {
      const BusNumbers numbers = BusNumbers::ReadFrom(space, a);
      f.secondary_bus = static_cast<uint8_t>(numbers.secondary_bus());
      f.subordinate_bus = static_cast<uint8_t>(numbers.subordinate_bus());
      if (f.secondary_bus == 0 || f.secondary_bus <= bus.bus || f.subordinate_bus < f.secondary_bus) {
        f.bus_state = BusState::kInvalidNumbers;
      } else if (!raw_space.in_window(bus.segment, f.secondary_bus)) {
        f.bus_state = BusState::kOutsideWindow;
      } else if (tail == kPendingCapacity || !detail::claim_bus(t, bus.segment, f.secondary_bus)) {
        f.bus_state = BusState::kAlreadyVisited;
      } else {
        f.bus_state = BusState::kPending;
        t.pending[tail++] = Topology::PendingBus{bus.segment, f.secondary_bus, index};
      }
    }
    return Probe::kAdded;
  };

  while (head < tail) {
    const Topology::PendingBus bus = t.pending[head++];
    const uint8_t depth = bus.parent == kNoFunction ? 0 : static_cast<uint8_t>(t.functions[bus.parent].depth + 1);
    if (bus.parent != kNoFunction && detail::forwards_ari(space, t.functions[bus.parent])) {
      // ARI (PCIe r6.0 §6.13): one device, functions 0-255 linked by Next
      // Function Number, as Linux's next_ari_fn follows them: a function
      // without the ARI capability, a 0, or a step backwards ends the list.
      int fn = 0;
      for (int step = 0; step < kAriFunctionsPerDevice; ++step) {
        const abi::PciAddress a = make_address(bus.segment, bus.bus, static_cast<uint8_t>(fn >> 3), static_cast<uint8_t>(fn & 7));
        const Probe p = probe(bus, depth, a);
        if (p == Probe::kFull) return false;
        if (p != Probe::kAdded) break;
        Function& f = t.functions[t.count - 1];
        f.ari_bus = true;
        if (f.ari_capability == 0) break;
        const int next = AriCapability::ReadFrom(space, a, f.ari_capability).next_function_number();
        if (next <= fn) break;
        fn = next;
      }
    } else {
      // Below a root port or a switch downstream port the link leads to one
      // device, device 0 (PCIe r6.0 §7.3.1; Linux's only_one_child() scans
      // no other number there unless pci=pcie_scan_all). kDeviceZero skips
      // the other 31 numbers, a config read each.
      const bool one_device = below_ports == ScanBelowPorts::kDeviceZero && bus.parent != kNoFunction &&
                              leads_to_one_device(t.functions[bus.parent]);
      const int devices = one_device ? 1 : kDevicesPerBus;
      for (int dev = 0; dev < devices; ++dev) {
        for (int fn = 0; fn < kFunctionsPerDevice; ++fn) {
          const abi::PciAddress a =
              make_address(bus.segment, bus.bus, static_cast<uint8_t>(dev), static_cast<uint8_t>(fn));
          const Probe p = probe(bus, depth, a);
          if (p == Probe::kFull) return false;
          if (p != Probe::kAdded) {
            if (fn == 0) break;  // no device (or not ready): functions 1-7 are not looked at
            continue;
          }
          if (fn == 0 && !t.functions[t.count - 1].multi_function) break;
        }
      }
    }
    if (bus.parent != kNoFunction) t.functions[bus.parent].bus_state = BusState::kScanned;
  }
  return true;
}

[[nodiscard]] constexpr const char* to_string(PortType type) {
  switch (type) {
    case PortType::kEndpoint: return "endpoint";
    case PortType::kLegacyEndpoint: return "legacy endpoint";
    case PortType::kRootPort: return "root port";
    case PortType::kSwitchUpstreamPort: return "switch upstream port";
    case PortType::kSwitchDownstreamPort: return "switch downstream port";
    case PortType::kPcieToPciBridge: return "pcie-to-pci bridge";
    case PortType::kPciToPcieBridge: return "pci-to-pcie bridge";
    case PortType::kRcIntegratedEndpoint: return "root complex integrated endpoint";
    case PortType::kRcEventCollector: return "root complex event collector";
    case PortType::kConventional: return "conventional pci";
    case PortType::kUnknown: return "unknown";
  }
  return "unknown";
}

[[nodiscard]] constexpr const char* to_string(BusState state) {
  switch (state) {
    case BusState::kNotBridge: return "not a bridge";
    case BusState::kScanned: return "scanned";
    case BusState::kPending: return "not scanned (table full)";
    case BusState::kOutsideWindow: return "outside the ecam windows";
    case BusState::kAlreadyVisited: return "already visited (bus number cycle)";
    case BusState::kInvalidNumbers: return "invalid bus numbers";
  }
  return "unknown";
}

}  // namespace limbo::pcie
