// SPDX-License-Identifier: GPL-2.0-only
// Topologies for the pcie core's tests and benchmark, built on the simulated
// fabric: each one of the classes the issue lists.
#pragma once

#include "lib/pcie/config_space.h"
#include "lib/pcie/registers.h"
#include "tests/pcie/fabric.h"

namespace limbo::pcie::testing {

inline abi::PciAddress bdf(uint8_t bus, uint8_t dev, uint8_t fn = 0, uint16_t seg = 0) {
  return make_address(seg, bus, dev, fn);
}

inline Fabric::FunctionSpec root_port(uint8_t secondary, uint8_t subordinate, bool hot_plug = false) {
  Fabric::FunctionSpec s;
  s.vendor = 0x1b36;
  s.device = 0x000c;
  s.class_code = 0x060400;
  s.layout = HeaderLayout::kBridge;
  s.port_type = static_cast<int>(PortType::kRootPort);
  s.secondary = secondary;
  s.subordinate = subordinate;
  s.slot_hot_plug = hot_plug;
  return s;
}
inline Fabric::FunctionSpec switch_port(PortType type, uint8_t secondary, uint8_t subordinate) {
  Fabric::FunctionSpec s = root_port(secondary, subordinate);
  s.vendor = 0x104c;
  s.device = type == PortType::kSwitchUpstreamPort ? 0x8232 : 0x8233;
  s.port_type = static_cast<int>(type);
  return s;
}
inline Fabric::FunctionSpec endpoint(uint16_t vendor = 0x8086, uint16_t device = 0x10d3, uint32_t class_code = 0x020000) {
  Fabric::FunctionSpec s;
  s.vendor = vendor;
  s.device = device;
  s.class_code = class_code;
  s.port_type = static_cast<int>(PortType::kEndpoint);
  return s;
}
inline Fabric::FunctionSpec conventional(uint16_t vendor = 0x8086, uint16_t device = 0x100e, uint32_t class_code = 0x020000) {
  Fabric::FunctionSpec s;
  s.vendor = vendor;
  s.device = device;
  s.class_code = class_code;
  return s;
}

// The QEMU scenario's topology: e1000e and NVMe on their own root ports, a
// display device behind a switch downstream port, a conventional device
// behind a PCIe-to-PCI bridge, an RCiEP and the host bridge on bus 0.
inline void build_qemu_like(Fabric& f) {
  f.add_window(0, 0, 255);
  f.add(bdf(0, 0), conventional(0x8086, 0x29c0, 0x060000));  // host bridge
  Fabric::FunctionSpec rciep = endpoint(0x1af4, 0x1041, 0x020000);
  rciep.port_type = static_cast<int>(PortType::kRcIntegratedEndpoint);
  f.add(bdf(0, 1), rciep);
  f.add(bdf(0, 2), root_port(1, 1, true));
  f.add(bdf(1, 0), endpoint(0x8086, 0x10d3, 0x020000));  // e1000e
  f.add(bdf(0, 3), root_port(2, 2, true));
  f.add(bdf(2, 0), endpoint(0x1b36, 0x0010, 0x010802));  // NVMe
  f.add(bdf(0, 4), root_port(3, 5));
  f.add(bdf(3, 0), switch_port(PortType::kSwitchUpstreamPort, 4, 5));
  f.add(bdf(4, 0), switch_port(PortType::kSwitchDownstreamPort, 5, 5));
  f.add(bdf(5, 0), endpoint(0x1234, 0x1111, 0x030000));  // display
  f.add(bdf(0, 5), root_port(6, 7));
  Fabric::FunctionSpec bridge = root_port(7, 7);
  bridge.vendor = 0x1b36;
  bridge.device = 0x000e;
  bridge.port_type = static_cast<int>(PortType::kPcieToPciBridge);
  f.add(bdf(6, 0), bridge);
  f.add(bdf(7, 1), conventional(0x8086, 0x100e, 0x020000));  // e1000 behind the bridge
}

// `ports` root ports on bus 0 (8 functions per device), each with one
// endpoint on its own bus.
inline void build_many_ports(Fabric& f, int ports) {
  f.add_window(0, 0, 255);
  for (int p = 0; p < ports; ++p) {
    const uint8_t bus = static_cast<uint8_t>(1 + p);
    Fabric::FunctionSpec rp = root_port(bus, bus);
    rp.multi_function = true;
    f.add(bdf(0, static_cast<uint8_t>(1 + p / 8), static_cast<uint8_t>(p % 8)), rp);
    f.add(bdf(bus, 0), endpoint(0x8086, static_cast<uint16_t>(0x1000 + p)));
  }
}

// ---- Functions no bus reset reaches -------------------------------

inline Fabric::FunctionSpec rc_integrated(Fabric::FunctionSpec s) {
  s.port_type = static_cast<int>(PortType::kRcIntegratedEndpoint);
  return s;
}
inline Fabric::FunctionSpec nvme_controller(bool flr) {
  Fabric::FunctionSpec s = endpoint(0x1b36, 0x0010, kClassNvmExpress);
  s.flr = flr;
  s.msix = true;
  s.model = SimFunction::Model::kNvme;
  return s;
}
inline Fabric::FunctionSpec virtio_net(bool flr) {
  Fabric::FunctionSpec s = endpoint(kVirtioVendorId, 0x1041, 0x020000);
  s.flr = flr;
  s.msix = true;
  s.model = SimFunction::Model::kVirtio;
  return s;
}

// What the crashed kernel left: BAR0 (and a 64-bit BAR4 for virtio) at
// `bar`, memory decode and Bus Master on, MSI-X enabled, the device running.
inline void make_live(Fabric& f, abi::PciAddress a, uint32_t bar) {
  f.program32(a, Bar::kOffset, bar);
  f.program32(a, Bar::kOffset + 16, bar | Bar{}.set_memory_type(Bar::kType64Bit).value);  // BAR4, 64-bit
  f.program32(a, Bar::kOffset + 20, 0);
  f.program16(a, Command::kOffset, Command{}.set_memory_space(true).set_bus_master(true).value);
  if (f.peek(a, Fabric::kMsixCap, 1) == kCapabilityIdMsix) {
    f.program16(a, Fabric::kMsixCap + MsixControl::kOffset, MsixControl{}.set_msix_enable(true).set_table_size(3).value);
  }
  if (f.peek(a, Fabric::kMsiCap, 1) == kCapabilityIdMsi) {
    f.program16(a, Fabric::kMsiCap + MsiControl::kOffset, MsiControl{}.set_msi_enable(true).value);
  }
  SimFunction& fn = f.fn(a);
  if (fn.model == SimFunction::Model::kNvme) f.run_nvme(a);
  if (fn.model == SimFunction::Model::kVirtio) f.run_virtio(a);
}

// The QEMU flat scenario's topology (qemu/harness/machine.py, flat_qemu_args): NVMe,
// e1000e and virtio-net on the root bus (RCiEPs), one NVMe behind a root
// port. `flr`: whether the RCiEP NVMe and virtio advertise FLR.
inline void build_flat(Fabric& f, bool flr) {
  f.add_window(0, 0, 255);
  f.add(bdf(0, 0), conventional(0x8086, 0x29c0, 0x060000));  // host bridge
  f.add(bdf(0, 1), rc_integrated(nvme_controller(flr)));
  make_live(f, bdf(0, 1), 0xfe000000);
  Fabric::FunctionSpec e1000e = rc_integrated(endpoint(0x8086, 0x10d3, 0x020000));
  e1000e.msix = true;
  f.add(bdf(0, 2), e1000e);
  make_live(f, bdf(0, 2), 0xfe100000);
  f.add(bdf(0, 3), rc_integrated(virtio_net(flr)));
  make_live(f, bdf(0, 3), 0xfe200000);
  f.add(bdf(0, 4), root_port(1, 1));
  f.add(bdf(1, 0), nvme_controller(false));
  make_live(f, bdf(1, 0), 0xfe400000);
}

}  // namespace limbo::pcie::testing
