// SPDX-License-Identifier: GPL-2.0-only
// A stateful simulated PCIe fabric and a fake clock for the pcie core's host
// tests and benchmark. Each function is a 4 KiB register array with its
// power-on image; setting Secondary Bus Reset on a bridge really resets every
// function on its secondary..subordinate buses (config back to power-on);
// after the clear a device answers Request Retry Status (Vendor ID 0x0001) or
// all ones for a set time, or never. The clock advances on every read. Every
// config access is logged with the time, for the order and timing tests.
// A function may advertise FLR (PCIe Device Capabilities or the
// Advanced Features capability) and then really resets when it is asked to,
// answering nothing until its ready time and counting any config request in
// the 100 ms after the FLR (PCIe r6.0 §6.6.2); an NVMe controller (CAP, CC,
// CSTS) and a virtio device (common configuration's device_status) sit in
// memory space at the BAR their config space holds, decoded only while
// Memory Space is enabled, and may take long or forever to reset.
#pragma once

#include <stdint.h>
#include <string.h>

#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "abi/limbo_abi.h"
#include "lib/pcie/config_space.h"
#include "lib/pcie/function_reset.h"
#include "lib/pcie/registers.h"

namespace limbo::pcie::testing {

class FakeClock {
 public:
  uint64_t now_us() {
    ++reads_;
    const uint64_t t = t_;
    t_ += tick_us;
    return t;
  }
  void relax() { t_ += relax_us; }
  uint64_t peek() const { return t_; }
  void advance(uint64_t us) { t_ += us; }
  uint64_t reads() const { return reads_; }

  uint64_t tick_us = 1;   // each read of the clock moves it on
  uint64_t relax_us = 10; // each poll round's pause

 private:
  uint64_t t_ = 1000000;
  uint64_t reads_ = 0;
};
static_assert(Clock<FakeClock>);

struct Access {
  uint64_t time_us;
  bool write;
  abi::PciAddress address;
  uint16_t offset;
  int size;
  uint32_t value;
};

enum class AfterReset : uint8_t {
  kRetryStatus,  // Vendor ID reads 0x0001 until ready (RRS Software Visibility on)
  kAllOnes,      // reads fail (all ones) until ready
};

struct SimFunction {
  uint8_t config[kConfigSpaceSize] = {};
  uint8_t power_on[kConfigSpaceSize] = {};
  uint64_t ready_after_us = 0;  // after the reset is cleared
  bool never_ready = false;     // after a reset, never answers again
  AfterReset after_reset = AfterReset::kRetryStatus;
  // Reset state.
  bool in_reset = false;
  bool reset_seen = false;
  uint64_t ready_at_us = 0;
  uint32_t resets = 0;
  // Ports: link behaviour.
  uint64_t link_up_after_us = 0;
  uint64_t link_up_at_us = 0;
  bool link_down = false;
  // Hot-plug ports: a Slot Control write sets Command Completed this long
  // after it (PCIe r6.0 §6.7.3.2).
  uint64_t command_completed_after_us = 5;
  uint64_t command_completed_at_us = 0;
  uint32_t slot_control_writes = 0;
  bool slot_control_write_before_completion = false;
  // FLR.
  uint32_t flrs = 0;
  uint64_t flr_at_us = 0;
  uint32_t accesses_within_flr_wait = 0;   // config requests < 100 ms after an FLR
  uint64_t transactions_pending_until_us = 0;
  bool flr_while_transactions_pending = false;
  // Memory-space device models.
  enum class Model : uint8_t { kNone, kNvme, kVirtio } model = Model::kNone;
  uint8_t mmio_bar = 0;           // the BAR its registers are in
  uint32_t mmio_offset = 0;       // offset of the register block in it
  // NVMe: CAP.TO (500 ms units), CC, CSTS; RDY follows EN after this delay.
  uint32_t nvme_cap_to = 2;
  uint32_t nvme_cc = 0;
  uint32_t nvme_csts = 0;
  uint64_t nvme_ready_change_after_us = 2000;
  uint64_t nvme_ready_change_at_us = 0;
  bool nvme_stuck_ready = false;  // CSTS.RDY never leaves 1
  uint32_t nvme_disables = 0;
  // virtio: device_status reads back 0 this long after a write of 0.
  uint8_t virtio_status = 0;
  uint64_t virtio_reset_after_us = 0;
  uint64_t virtio_reset_at_us = 0;
  bool virtio_pending_reset = false;
  bool virtio_stuck = false;      // never reads back 0
  uint32_t virtio_resets = 0;
  uint64_t mmio_accesses = 0;
};

class Fabric {
 public:
  explicit Fabric(FakeClock& clock) : clock_(clock) {}

  // ---- building ---------------------------------------------------------
  void add_window(uint16_t segment, uint8_t start, uint8_t end) {
    windows_.push_back(abi::EcamWindow{0xb0000000ull + windows_.size() * 0x10000000ull, segment, start, end, 0});
  }

  struct FunctionSpec {
    uint16_t vendor = 0x8086;
    uint16_t device = 0x10d3;
    uint32_t class_code = 0x020000;
    HeaderLayout layout = HeaderLayout::kEndpoint;
    bool multi_function = false;
    int port_type = -1;          // -1: no PCIe capability (conventional)
    bool extra_capability = true;  // an MSI capability ahead of the PCIe one
    uint8_t secondary = 0, subordinate = 0;
    bool slot_hot_plug = false;
    uint32_t max_link_speed = 1;  // 2.5 GT/s
    bool dll_reporting = false;
    uint16_t pcie_version = 2;     // PCI Express capability version
    bool dll_status_works = true;  // false: DLL Link Active never reads 1 (QEMU 7.2 root ports)
    // The function methods: FLR, class resets, MSI-X.
    bool flr = false;              // Device Capabilities FLR
    bool af_flr = false;           // Advanced Features capability with FLR and TP
    bool msix = false;             // an MSI-X capability
    SimFunction::Model model = SimFunction::Model::kNone;
    uint8_t virtio_bar = 4;        // virtio: common configuration in this BAR...
    uint32_t virtio_offset = 0x1000;  // ...at this offset
    // Extended capabilities.
    int ari_next = -1;             // >= 0: an ARI capability with this Next Function Number
    uint16_t sriov_total_vfs = 0;  // > 0: an SR-IOV capability (VF Enable clear at power-on)
  };
  static constexpr uint16_t kAriCap = 0x100;
  static constexpr uint16_t kSriovCap = 0x110;

  // Capability offsets the fabric uses (the chain: MSI, MSI-X, AF, virtio's
  // common configuration, then the PCI Express capability).
  static constexpr uint8_t kPcieCap = 0x40;
  static constexpr uint8_t kMsiCap = 0x90;
  static constexpr uint8_t kMsixCap = 0xa0;
  static constexpr uint8_t kAfCap = 0xb0;
  static constexpr uint8_t kVirtioCap = 0xc0;

  SimFunction& add(abi::PciAddress a, const FunctionSpec& spec) {
    auto& slot = functions_[key(a)];
    slot = std::make_unique<SimFunction>();
    SimFunction& f = *slot;
    uint8_t* c = f.power_on;
    put16(c, VendorId::kOffset, spec.vendor);
    put16(c, DeviceId::kOffset, spec.device);
    put32(c, RevisionClass::kOffset, spec.class_code << 8 | 0x01);
    c[HeaderType::kOffset] = HeaderType{}.set_layout(spec.layout).set_multi_function(spec.multi_function).value;
    // The capability chain, in order.
    uint8_t chain[6];
    int links = 0;
    if (spec.port_type >= 0 && spec.extra_capability) chain[links++] = kMsiCap;
    if (spec.msix) chain[links++] = kMsixCap;
    if (spec.af_flr) chain[links++] = kAfCap;
    if (spec.model == SimFunction::Model::kVirtio) chain[links++] = kVirtioCap;
    if (spec.port_type >= 0) chain[links++] = kPcieCap;
    if (links > 0) {
      put16(c, Status::kOffset, Status{}.set_capabilities_list(true).value);
      c[CapabilitiesPointer::kOffset] = chain[0];
      for (int k = 0; k < links; ++k) c[chain[k] + 1] = k + 1 < links ? chain[k + 1] : 0;
    }
    if (spec.port_type >= 0 && spec.extra_capability) c[kMsiCap] = kCapabilityIdMsi;
    if (spec.msix) c[kMsixCap] = kCapabilityIdMsix;
    if (spec.af_flr) {
      c[kAfCap] = kCapabilityIdAdvancedFeatures;
      c[kAfCap + 2] = 6;  // length
      c[kAfCap + AfCapabilities::kOffset] = AfCapabilities{}.set_function_level_reset_capable(true)
                                               .set_transactions_pending_capable(true).value;
    }
    if (spec.model == SimFunction::Model::kVirtio) {
      c[kVirtioCap] = kCapabilityIdVendor;
      c[kVirtioCap + 2] = 16;
      c[kVirtioCap + VirtioCapType::kOffset] = kVirtioCommonCfgType;
      c[kVirtioCap + VirtioCapBar::kOffset] = spec.virtio_bar;
      put32(c, kVirtioCap + VirtioCapOffset::kOffset, spec.virtio_offset);
      put32(c, kVirtioCap + VirtioCapLength::kOffset, 0x38);
    }
    f.model = spec.model;
    f.mmio_bar = spec.model == SimFunction::Model::kVirtio ? spec.virtio_bar : 0;
    f.mmio_offset = spec.model == SimFunction::Model::kVirtio ? spec.virtio_offset : 0;
    if (spec.port_type >= 0) {
      uint8_t pcie = kPcieCap;
      put32(c, pcie + DeviceCapabilities::kOffset, DeviceCapabilities{}.set_function_level_reset_capable(spec.flr).value);
      c[pcie] = kCapabilityIdPciExpress;
      c[pcie + 1] = 0;
      put16(c, pcie + PcieCapabilities::kOffset,
            PcieCapabilities{}.set_version(spec.pcie_version).set_port_type(static_cast<PortType>(spec.port_type))
                .set_slot_implemented(spec.slot_hot_plug).value);
      put32(c, pcie + LinkCapabilities::kOffset,
            LinkCapabilities{}.set_max_link_speed(spec.max_link_speed).set_max_link_width(1)
                .set_dll_link_active_reporting_capable(spec.dll_reporting).value);
      put16(c, pcie + LinkStatus::kOffset,
            LinkStatus{}.set_current_link_speed(spec.max_link_speed).set_negotiated_link_width(1)
                .set_dll_link_active(spec.dll_reporting && spec.dll_status_works).value);
      if (spec.slot_hot_plug) {
        put32(c, pcie + SlotCapabilities::kOffset, SlotCapabilities{}.set_hot_plug_capable(true).value);
        put16(c, pcie + SlotStatus::kOffset, SlotStatus{}.set_presence_detect_state(true).value);
      }
    }
    {
      uint16_t previous = 0;  // the header whose next offset (bits 31:20) links to the next
      auto chain_ext = [&](uint16_t at, uint16_t id) {
        put32(c, at, ExtendedCapabilityHeader{}.set_id(id).set_version(1).value);
        if (previous != 0) {
          uint32_t prev;
          memcpy(&prev, c + previous, 4);
          put32(c, previous, ExtendedCapabilityHeader::from_value(prev).set_next_offset(at).value);
        }
        previous = at;
      };
      if (spec.ari_next >= 0) {
        chain_ext(kAriCap, kExtendedCapabilityIdAri);
        put16(c, kAriCap + AriCapability::kOffset,
              AriCapability{}.set_next_function_number(static_cast<uint16_t>(spec.ari_next)).value);
      }
      if (spec.sriov_total_vfs > 0) {
        // The list starts at 100h: without ARI, a vendor-specific extended
        // capability (ID 000Bh, PCIe r6.0 §7.9.5) there leads to it.
        if (previous == 0) chain_ext(kAriCap, 0x000b);
        chain_ext(kSriovCap, kExtendedCapabilityIdSriov);
        put16(c, kSriovCap + SriovTotalVfs::kOffset, spec.sriov_total_vfs);
      }
    }
    if (spec.layout == HeaderLayout::kBridge) {
      put32(c, BusNumbers::kOffset,
            BusNumbers{}.set_primary_bus(a.bus).set_secondary_bus(spec.secondary).set_subordinate_bus(spec.subordinate).value);
    }
    memcpy(f.config, f.power_on, sizeof(f.config));
    return f;
  }

  // What firmware or the old kernel programmed (lost by a reset).
  void program16(abi::PciAddress a, uint16_t offset, uint16_t v) { put16(fn(a).config, offset, v); }
  void program32(abi::PciAddress a, uint16_t offset, uint32_t v) { put32(fn(a).config, offset, v); }
  void program8(abi::PciAddress a, uint16_t offset, uint8_t v) { fn(a).config[offset] = v; }

  SimFunction& fn(abi::PciAddress a) { return *functions_.at(key(a)); }
  bool has(abi::PciAddress a) const { return functions_.count(key(a)) != 0; }

  // ---- ConfigSpace --------------------------------------------------------
  uint8_t read8(abi::PciAddress a, uint16_t o) { return static_cast<uint8_t>(read(a, o, 1)); }
  uint16_t read16(abi::PciAddress a, uint16_t o) { return static_cast<uint16_t>(read(a, o, 2)); }
  uint32_t read32(abi::PciAddress a, uint16_t o) { return read(a, o, 4); }
  void write8(abi::PciAddress a, uint16_t o, uint8_t v) { write(a, o, 1, v); }
  void write16(abi::PciAddress a, uint16_t o, uint16_t v) { write(a, o, 2, v); }
  void write32(abi::PciAddress a, uint16_t o, uint32_t v) { write(a, o, 4, v); }
  bool in_window(uint16_t segment, uint8_t bus) const {
    if (all_ones) return true;
    for (const auto& w : windows_) {
      if (w.segment == segment && w.start_bus <= bus && bus <= w.end_bus) return true;
    }
    return false;
  }

  // ---- observation ----------------------------------------------------------
  std::vector<Access> log;
  bool logging = true;
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t reads_outside_window = 0;
  bool all_ones = false;  // a fabric where every read returns all ones
  const std::vector<abi::EcamWindow>& windows() const { return windows_; }

  // Peek at config without a logged access (for assertions).
  uint32_t peek(abi::PciAddress a, uint16_t o, int size) const {
    const SimFunction& f = *functions_.at(key(a));
    uint32_t v = 0;
    memcpy(&v, f.config + o, size);
    return v;
  }

 private:
  static uint64_t key(abi::PciAddress a) { return uint64_t{a.segment} << 16 | uint64_t{a.bus} << 8 | a.devfn; }
  static void put16(uint8_t* c, uint16_t o, uint16_t v) { memcpy(c + o, &v, 2); }
  static void put32(uint8_t* c, uint16_t o, uint32_t v) { memcpy(c + o, &v, 4); }

  uint32_t ones(int size) const { return size == 4 ? 0xffffffffu : size == 2 ? 0xffffu : 0xffu; }

  uint32_t read(abi::PciAddress a, uint16_t o, int size) {
    ++reads;
    const uint64_t now = clock_.now_us();
    uint32_t value = ones(size);
    if (!in_window(a.segment, a.bus)) ++reads_outside_window;
    if (!all_ones) {
      auto it = functions_.find(key(a));
      if (it != functions_.end()) {
        SimFunction& f = *it->second;
        note_flr_wait(f, now);
        if (f.in_reset || (f.reset_seen && (f.never_ready || now < f.ready_at_us))) {
          // Link down, or Retry Status: only the Vendor ID says 0x0001.
          if (!f.in_reset && f.after_reset == AfterReset::kRetryStatus && o == VendorId::kOffset) {
            value = size == 4 ? 0xffff0001u : size == 2 ? kVendorIdRetry : 0x01;
          }
        } else {
          complete_slot_command(f, now);
          memcpy(&value, f.config + o, size);
          value = live_link_status(f, o, size, value, now);
        }
      }
    }
    if (logging) log.push_back(Access{now, false, a, o, size, value});
    return value;
  }

  void complete_slot_command(SimFunction& f, uint64_t now) {
    if (f.command_completed_at_us != 0 && now >= f.command_completed_at_us) {
      f.command_completed_at_us = 0;
      f.config[kPcieCap + SlotStatus::kOffset] |= SlotStatus::kCommandCompletedMask;
    }
  }

  // A port's DLL Link Active bit is 0 while its bus is in reset and until its
  // link comes back.
  uint32_t live_link_status(SimFunction& f, uint16_t o, int size, uint32_t value, uint64_t now) {
    const uint16_t link_status = kPcieCap + LinkStatus::kOffset;
    if (size == 2 && o == link_status && f.link_down) {
      if (now >= f.link_up_at_us && f.link_up_at_us != 0) {
        f.link_down = false;
      } else {
        value &= ~uint32_t{LinkStatus{}.set_dll_link_active(true).value};
      }
    }
    return value;
  }

  void write(abi::PciAddress a, uint16_t o, int size, uint32_t v) {
    ++writes;
    const uint64_t now = clock_.peek();
    if (logging) log.push_back(Access{now, true, a, o, size, v});
    auto it = functions_.find(key(a));
    if (all_ones || it == functions_.end()) return;
    SimFunction& f = *it->second;
    note_flr_wait(f, now);
    if (f.in_reset || (f.reset_seen && (f.never_ready || now < f.ready_at_us))) return;  // dropped
    uint8_t* c = f.config;
    // Read-only and write-1-to-clear registers.
    auto w1c = [&](uint16_t reg, uint16_t mask) {
      if (o == reg && size == 2) {
        uint16_t cur;
        memcpy(&cur, c + reg, 2);
        cur = static_cast<uint16_t>(cur & ~(v & mask));
        memcpy(c + reg, &cur, 2);
        return true;
      }
      return false;
    };
    if (o < 4 || (o >= RevisionClass::kOffset && o < RevisionClass::kOffset + 4) || o == HeaderType::kOffset) return;
    if (w1c(Status::kOffset, Status::kWriteOneToClearMask)) return;
    const bool bridge = HeaderType::from_value(c[HeaderType::kOffset]).layout() == HeaderLayout::kBridge;
    if (bridge && w1c(SecondaryStatus::kOffset, SecondaryStatus::kWriteOneToClearMask)) return;
    if (w1c(kPcieCap + SlotStatus::kOffset, SlotStatus::kWriteOneToClearMask)) return;
    if (o == kPcieCap + LinkStatus::kOffset) return;
    if (bridge && o == kPcieCap + SlotControl::kOffset && size == 2) {
      complete_slot_command(f, now);
      if (f.slot_control_writes > 0 && (f.command_completed_at_us != 0)) f.slot_control_write_before_completion = true;
      ++f.slot_control_writes;
      f.command_completed_at_us = now + f.command_completed_after_us;
    }
    // FLR: Device Control's Initiate FLR (on a function that advertises it),
    // or the AF capability's.
    if (!bridge && size == 2 && o == kPcieCap + DeviceControl::kOffset &&
        DeviceControl::from_value(static_cast<uint16_t>(v)).initiate_flr() &&
        DeviceCapabilities::from_value(peek_raw(f, kPcieCap + DeviceCapabilities::kOffset)).function_level_reset_capable() &&
        c[kPcieCap] == kCapabilityIdPciExpress) {
      function_level_reset(f, now);
      return;
    }
    if (!bridge && size == 1 && o == kAfCap + AfControl::kOffset && c[kAfCap] == kCapabilityIdAdvancedFeatures &&
        AfControl::from_value(static_cast<uint8_t>(v)).initiate_flr()) {
      function_level_reset(f, now);
      return;
    }
    uint16_t old_bridge_control = 0;
    memcpy(&old_bridge_control, c + BridgeControl::kOffset, 2);
    memcpy(c + o, &v, size);
    if (bridge && o == BridgeControl::kOffset && size == 2) {
      const bool was = BridgeControl::from_value(old_bridge_control).secondary_bus_reset();
      const bool now_set = BridgeControl::from_value(static_cast<uint16_t>(v)).secondary_bus_reset();
      if (!was && now_set) assert_reset(a.segment, f, now);
      if (was && !now_set) clear_reset(a.segment, f, now);
    }
  }

  template <class Each>
  void below(uint16_t segment, const SimFunction& port, Each each) {
    const BusNumbers n = BusNumbers::from_value(peek_raw(port, BusNumbers::kOffset));
    for (auto& [k, f] : functions_) {
      const uint16_t seg = static_cast<uint16_t>(k >> 16);
      const uint8_t bus = static_cast<uint8_t>(k >> 8);
      if (seg == segment && bus >= n.secondary_bus() && bus <= n.subordinate_bus() && f.get() != &port) each(*f);
    }
  }
  static uint32_t peek_raw(const SimFunction& f, uint16_t o) {
    uint32_t v;
    memcpy(&v, f.config + o, 4);
    return v;
  }

  void assert_reset(uint16_t segment, SimFunction& port, uint64_t now) {
    (void)now;
    port.link_down = true;
    port.link_up_at_us = 0;
    below(segment, port, [&](SimFunction& f) {
      reset_device(f);
      f.in_reset = true;
      f.reset_seen = true;
      ++f.resets;
    });
    // A hot-plug port sees the link go down and come back: PDC and DLLSC.
    uint16_t slot_status;
    memcpy(&slot_status, port.config + kPcieCap + SlotStatus::kOffset, 2);
    uint16_t pcie_caps;
    memcpy(&pcie_caps, port.config + kPcieCap + PcieCapabilities::kOffset, 2);
    if (PcieCapabilities::from_value(pcie_caps).slot_implemented()) {
      slot_status |= SlotStatus::kResetEventMask;
      memcpy(port.config + kPcieCap + SlotStatus::kOffset, &slot_status, 2);
    }
    uint16_t secondary_status;
    memcpy(&secondary_status, port.config + SecondaryStatus::kOffset, 2);
    secondary_status |= SecondaryStatus{}.set_received_master_abort(true).value;
    memcpy(port.config + SecondaryStatus::kOffset, &secondary_status, 2);
  }

  void clear_reset(uint16_t segment, SimFunction& port, uint64_t now) {
    port.link_up_at_us = now + port.link_up_after_us + 1;
    below(segment, port, [&](SimFunction& f) {
      f.in_reset = false;
      f.ready_at_us = now + f.ready_after_us;
    });
  }

  void note_flr_wait(SimFunction& f, uint64_t now) {
    if (f.flr_at_us != 0 && now < f.flr_at_us + uint64_t{kFlrCompletionMs} * 1000) ++f.accesses_within_flr_wait;
  }

  // The function's state as after a reset: config to power-on, device
  // registers cleared, not answering until ready_after_us.
  void reset_device(SimFunction& f) {
    memcpy(f.config, f.power_on, sizeof(f.config));
    f.nvme_cc = 0;
    f.nvme_csts = 0;
    f.nvme_ready_change_at_us = 0;
    f.virtio_status = 0;
    f.virtio_pending_reset = false;
  }

  void function_level_reset(SimFunction& f, uint64_t now) {
    if (now < f.transactions_pending_until_us) f.flr_while_transactions_pending = true;
    reset_device(f);
    ++f.flrs;
    ++f.resets;
    f.flr_at_us = now;
    f.reset_seen = true;
    f.in_reset = false;
    f.ready_at_us = now + f.ready_after_us;
  }

  // The function whose register block (BAR as programmed, memory decode on)
  // holds `address`; its offset in the block in `offset`.
  SimFunction* mmio_target(uint64_t address, uint64_t& offset) {
    for (auto& [k, fp] : functions_) {
      SimFunction& f = *fp;
      if (f.model == SimFunction::Model::kNone) continue;
      if (!Command::from_value(static_cast<uint16_t>(peek_raw(f, Command::kOffset))).memory_space()) continue;
      const uint16_t bar_offset = static_cast<uint16_t>(Bar::kOffset + 4 * f.mmio_bar);
      const Bar low = Bar::from_value(peek_raw(f, bar_offset));
      uint64_t base = low.value & ~uint32_t{0xf};
      if (low.is_64bit_memory()) base |= uint64_t{peek_raw(f, bar_offset + 4)} << 32;
      if (base == 0 || low.io_space()) continue;
      const uint64_t window = base + f.mmio_offset;
      if (address >= window && address < window + 0x1000) {
        offset = address - window;
        return &f;
      }
    }
    return nullptr;
  }

  void advance_device(SimFunction& f, uint64_t now) {
    if (f.nvme_ready_change_at_us != 0 && now >= f.nvme_ready_change_at_us) {
      f.nvme_ready_change_at_us = 0;
      f.nvme_csts = nvme::ControllerStatus::from_value(f.nvme_csts)
                        .set_ready(nvme::ControllerConfiguration::from_value(f.nvme_cc).enable()).value;
    }
    if (f.virtio_pending_reset && now >= f.virtio_reset_at_us) {
      f.virtio_pending_reset = false;
      f.virtio_status = 0;
    }
  }

 public:
  // ---- Mmio (lib/pcie/function_reset.h) -------------------------------------
  bool map_uncached(const MmioRange* ranges, size_t count) {
    ++map_calls;
    if (!mappable) return false;
    for (size_t i = 0; i < count; ++i) mapped.push_back(ranges[i]);
    return true;
  }
  uint8_t read8(uint64_t address) { return static_cast<uint8_t>(mmio_read(address, 1)); }
  uint32_t read32(uint64_t address) { return mmio_read(address, 4); }
  void write8(uint64_t address, uint8_t v) { mmio_write(address, 1, v); }
  void write32(uint64_t address, uint32_t v) { mmio_write(address, 4, v); }

  bool mappable = true;             // false: map_uncached refuses
  uint32_t map_calls = 0;
  std::vector<MmioRange> mapped;
  uint64_t unmapped_mmio_accesses = 0;  // accesses outside every range mapped

  // What the old kernel left running: an NVMe controller enabled (CC.EN,
  // CSTS.RDY), a virtio device driven (DRIVER_OK).
  void run_nvme(abi::PciAddress a) {
    SimFunction& f = fn(a);
    f.nvme_cc = nvme::ControllerConfiguration{}.set_enable(true).value | 0x00460000u;
    f.nvme_csts = nvme::ControllerStatus{}.set_ready(true).value;
  }
  void run_virtio(abi::PciAddress a) { fn(a).virtio_status = 0x0f; }

 private:
  bool is_mapped(uint64_t address, int size) const {
    for (const MmioRange& r : mapped) {
      if (address >= r.base && address + size <= r.base + r.size) return true;
    }
    return false;
  }

  uint32_t mmio_read(uint64_t address, int size) {
    const uint64_t now = clock_.now_us();
    if (!is_mapped(address, size)) ++unmapped_mmio_accesses;
    uint64_t offset = 0;
    SimFunction* f = mmio_target(address, offset);
    if (f == nullptr || f->in_reset || (f->reset_seen && (f->never_ready || now < f->ready_at_us))) {
      return size == 4 ? 0xffffffffu : 0xff;
    }
    ++f->mmio_accesses;
    advance_device(*f, now);
    if (f->model == SimFunction::Model::kNvme && size == 4) {
      if (offset == 0) return nvme::ControllerCapabilities{}.set_timeout(f->nvme_cap_to).set_max_queue_entries_supported(1023).value & 0xffffffffu;
      if (offset == 4) return 0x00000020u;  // CSS: NVM command set
      if (offset == nvme::ControllerConfiguration::kOffset) return f->nvme_cc;
      if (offset == nvme::ControllerStatus::kOffset) return f->nvme_csts;
      return 0;
    }
    if (f->model == SimFunction::Model::kVirtio && size == 1 && offset == virtio::DeviceStatus::kOffset) {
      return f->virtio_status;
    }
    return 0;
  }

  void mmio_write(uint64_t address, int size, uint32_t v) {
    const uint64_t now = clock_.peek();
    if (!is_mapped(address, size)) ++unmapped_mmio_accesses;
    uint64_t offset = 0;
    SimFunction* f = mmio_target(address, offset);
    if (f == nullptr || f->in_reset || (f->reset_seen && (f->never_ready || now < f->ready_at_us))) return;
    ++f->mmio_accesses;
    advance_device(*f, now);
    if (f->model == SimFunction::Model::kNvme && size == 4 && offset == nvme::ControllerConfiguration::kOffset) {
      const bool was = nvme::ControllerConfiguration::from_value(f->nvme_cc).enable();
      f->nvme_cc = v;
      const bool on = nvme::ControllerConfiguration::from_value(v).enable();
      if (was && !on) ++f->nvme_disables;
      if (was != on && !(f->nvme_stuck_ready && !on)) f->nvme_ready_change_at_us = now + f->nvme_ready_change_after_us;
      return;
    }
    if (f->model == SimFunction::Model::kVirtio && size == 1 && offset == virtio::DeviceStatus::kOffset) {
      if (v == 0) {
        ++f->virtio_resets;
        if (!f->virtio_stuck) {
          f->virtio_pending_reset = true;
          f->virtio_reset_at_us = now + f->virtio_reset_after_us;
        }
      } else {
        f->virtio_status = static_cast<uint8_t>(f->virtio_status | v);
      }
    }
  }

  FakeClock& clock_;
  std::vector<abi::EcamWindow> windows_;
  std::map<uint64_t, std::unique_ptr<SimFunction>> functions_;
};
static_assert(ConfigSpace<Fabric>);
static_assert(Mmio<Fabric>);

}  // namespace limbo::pcie::testing
