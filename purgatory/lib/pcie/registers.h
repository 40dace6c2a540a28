// SPDX-License-Identifier: GPL-2.0-only
// PCI and PCI Express configuration registers as small types: the offsets and
// bits discovery, policy and the secondary bus reset touch, each with the spec
// section it comes from, and the timing constants of the reset.
// References: PCI Local Bus Specification r3.0 (PCI r3.0), PCI Express Base
// Specification r6.0 (PCIe r6.0).
#pragma once

#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/pcie/config_space.h"
#include "lib/reg.h"

namespace limbo::pcie {

// ---- Registers bound to their place ----------------------------------------
// Each type below carries its offset and width (`kOffset`, the Int of the
// register) and is read and written only through them, as the UART's
// registers are (lib/uart16550.h). A header register is read at its offset
// in the function's config space, `Command::ReadFrom(space, function)`; a
// register of a capability at its offset in that capability, so the
// capability's offset must be given: `DeviceControl::ReadFrom(space,
// function, f.pcie_capability)`.
enum class Structure : uint8_t {
  kHeader,      // the configuration header (PCIe r6.0 §7.5.1)
  kCapability,  // a capability or extended capability: offsets from its start
};

template <class Derived, class Int, uint16_t Offset, Structure In>
struct ConfigRegister : reg::Register<Derived, Int> {
  static constexpr uint16_t kOffset = Offset;
  static_assert(sizeof(Int) == 1 || sizeof(Int) == 2 || sizeof(Int) == 4);

  template <ConfigReader Space>
  [[nodiscard]] static Derived ReadFrom(Space& space, abi::PciAddress function)
    requires(In == Structure::kHeader)
  {
    return ReadAt(space, function, Offset);
  }
  template <ConfigReader Space>
  [[nodiscard]] static Derived ReadFrom(Space& space, abi::PciAddress function, uint16_t capability)
    requires(In == Structure::kCapability)
  {
    return ReadAt(space, function, static_cast<uint16_t>(capability + Offset));
  }
  template <ConfigSpace Space>
  void WriteTo(Space& space, abi::PciAddress function) const
    requires(In == Structure::kHeader)
  {
    WriteAt(space, function, Offset);
  }
  template <ConfigSpace Space>
  void WriteTo(Space& space, abi::PciAddress function, uint16_t capability) const
    requires(In == Structure::kCapability)
  {
    WriteAt(space, function, static_cast<uint16_t>(capability + Offset));
  }

 protected:
  template <class Space>
  [[nodiscard]] static Derived ReadAt(Space& space, abi::PciAddress function, uint16_t at) {
    if constexpr (sizeof(Int) == 1) return Derived::from_value(space.read8(function, at));
    else if constexpr (sizeof(Int) == 2) return Derived::from_value(space.read16(function, at));
    else return Derived::from_value(space.read32(function, at));
  }
  template <class Space>
  void WriteAt(Space& space, abi::PciAddress function, uint16_t at) const {
    if constexpr (sizeof(Int) == 1) space.write8(function, at, this->value);
    else if constexpr (sizeof(Int) == 2) space.write16(function, at, this->value);
    else space.write32(function, at, this->value);
  }
};
template <class Derived, class Int, uint16_t Offset>
using HeaderRegister = ConfigRegister<Derived, Int, Offset, Structure::kHeader>;
template <class Derived, class Int, uint16_t Offset>
using CapabilityRegister = ConfigRegister<Derived, Int, Offset, Structure::kCapability>;

// ---- Common header, both layouts (PCIe r6.0 §7.5.1.1, PCI r3.0 §6.1) ----
struct VendorId : HeaderRegister<VendorId, uint16_t, 0x00> {};  // §7.5.1.1.1
struct DeviceId : HeaderRegister<DeviceId, uint16_t, 0x02> {};  // §7.5.1.1.2
// Both in one dword: what a probe reads, so that a function is asked once.
struct Identifiers : HeaderRegister<Identifiers, uint32_t, 0x00> {
  LIMBO_REG_FIELD(31, 16, device_id)
  LIMBO_REG_FIELD(15, 0, vendor_id)
};

// Vendor ID values that are not a device (PCIe r6.0 §2.3.2, §7.5.1.1.1):
// all ones is what a read of an absent function (or one failing with a
// completion error) returns; 0x0001 is what a function answering Request
// Retry Status returns when Root Control's RRS Software Visibility is on
// (Linux turns it on during enumeration). 0x0000 is never a valid vendor.
inline constexpr uint16_t kVendorIdAbsent = 0xffff;
inline constexpr uint16_t kVendorIdRetry = 0x0001;
inline constexpr uint16_t kVendorIdInvalid = 0x0000;

// A device that answers: neither absent, nor retrying, nor zero.
[[nodiscard]] constexpr bool vendor_id_answers(uint16_t vendor_id) {
  return vendor_id != kVendorIdAbsent && vendor_id != kVendorIdRetry && vendor_id != kVendorIdInvalid;
}

// Command register (PCIe r6.0 §7.5.1.1.3, PCI r3.0 §6.2.2).
struct Command : HeaderRegister<Command, uint16_t, 0x04> {
  LIMBO_REG_BIT(10, interrupt_disable)
  LIMBO_REG_BIT(8, serr_enable)
  LIMBO_REG_BIT(6, parity_error_response)
  LIMBO_REG_BIT(2, bus_master)
  LIMBO_REG_BIT(1, memory_space)
  LIMBO_REG_BIT(0, io_space)
  // What the reset restores (docs/pcie.md): address decode only. Bus Master
  // stays off until the next kernel's driver sets it.
  static constexpr uint16_t kDecodeMask = memory_space_mask | io_space_mask;
};

// Status register (PCIe r6.0 §7.5.1.1.4, PCI r3.0 §6.2.3). Bits 15:11 and 8
// are write-1-to-clear error flags.
struct Status : HeaderRegister<Status, uint16_t, 0x06> {
  LIMBO_REG_BIT(15, detected_parity_error)
  LIMBO_REG_BIT(14, signaled_system_error)
  LIMBO_REG_BIT(13, received_master_abort)
  LIMBO_REG_BIT(12, received_target_abort)
  LIMBO_REG_BIT(11, signaled_target_abort)
  LIMBO_REG_BIT(8, master_data_parity_error)
  LIMBO_REG_BIT(4, capabilities_list)
  static constexpr uint16_t kWriteOneToClearMask = detected_parity_error_mask | signaled_system_error_mask |
                                                   received_master_abort_mask | received_target_abort_mask |
                                                   signaled_target_abort_mask | master_data_parity_error_mask;
};

// Revision ID and Class Code as one dword (PCIe r6.0 §7.5.1.1.5-6).
struct RevisionClass : HeaderRegister<RevisionClass, uint32_t, 0x08> {
  LIMBO_REG_FIELD(31, 8, class_code)  // base class 23:16, sub-class 15:8, prog-if 7:0
  LIMBO_REG_FIELD(31, 24, base_class)
  LIMBO_REG_FIELD(23, 16, sub_class)
  LIMBO_REG_FIELD(7, 0, revision)
};
inline constexpr uint8_t kBaseClassDisplay = 0x03;  // PCI Code and ID Assignment r1.x §1.4
inline constexpr uint8_t kBaseClassBridge = 0x06;   // §1.7

// Cache Line Size (PCIe r6.0 §7.5.1.1.7): restored after a reset.
struct CacheLineSize : HeaderRegister<CacheLineSize, uint8_t, 0x0c> {};

// Header Type (PCIe r6.0 §7.5.1.1.9, PCI r3.0 §6.2.1): which header layout
// follows the common part.
enum class HeaderLayout : uint8_t {
  kEndpoint = 0,  // type 0
  kBridge = 1,    // type 1 (PCI-to-PCI bridge, PCIe port)
  kCardBus = 2,
};
struct HeaderType : HeaderRegister<HeaderType, uint8_t, 0x0e> {
  LIMBO_REG_BIT(7, multi_function)
  LIMBO_REG_ENUM_FIELD(6, 0, HeaderLayout, layout)
};

// Capabilities Pointer (PCIe r6.0 §7.5.1.1.11): bits 1:0 are reserved (the
// list is dword aligned) and masked off, as every next pointer's.
struct CapabilitiesPointer : HeaderRegister<CapabilitiesPointer, uint8_t, 0x34> {
  LIMBO_REG_FIELD(1, 0, reserved)
  [[nodiscard]] constexpr uint8_t offset() const { return static_cast<uint8_t>(value & ~reserved_mask); }
};

// Interrupt Line (PCIe r6.0 §7.5.1.1.12): restored after a reset.
struct InterruptLine : HeaderRegister<InterruptLine, uint8_t, 0x3c> {};

// ---- Type 0 header (PCI r3.0 §6.2.5) --------------------------------------
inline constexpr int kType0BarCount = 6;

// A Base Address Register (PCI r3.0 §6.2.5.1): six dwords from 10h; a 64-bit
// memory BAR takes the next BAR as its upper 32 bits. `kOffset` is BAR0's;
// the BAR is chosen by its index.
struct Bar : HeaderRegister<Bar, uint32_t, 0x10> {
  static constexpr uint32_t kType64Bit = 0b10;
  LIMBO_REG_BIT(3, prefetchable)
  LIMBO_REG_FIELD(2, 1, memory_type)
  LIMBO_REG_BIT(0, io_space)
  [[nodiscard]] constexpr bool is_64bit_memory() const { return !io_space() && memory_type() == kType64Bit; }

  [[nodiscard]] static constexpr uint16_t offset_of(int index) { return static_cast<uint16_t>(kOffset + 4 * index); }
  template <ConfigReader Space>
  [[nodiscard]] static Bar ReadFrom(Space& space, abi::PciAddress function, int index) {
    return ReadAt(space, function, offset_of(index));
  }
  template <ConfigSpace Space>
  void WriteTo(Space& space, abi::PciAddress function, int index) const {
    WriteAt(space, function, offset_of(index));
  }
};

// Expansion ROM Base Address (PCI r3.0 §6.2.5.2): restored after a reset.
struct Type0ExpansionRom : HeaderRegister<Type0ExpansionRom, uint32_t, 0x30> {};

// ---- Type 1 header (PCIe r6.0 §7.5.1.3) -----------------------------------
// Bus number register dword at 0x18 (§7.5.1.3.2-5).
struct BusNumbers : HeaderRegister<BusNumbers, uint32_t, 0x18> {
  LIMBO_REG_FIELD(31, 24, secondary_latency_timer)
  LIMBO_REG_FIELD(23, 16, subordinate_bus)
  LIMBO_REG_FIELD(15, 8, secondary_bus)
  LIMBO_REG_FIELD(7, 0, primary_bus)
};

// Secondary Status (PCIe r6.0 §7.5.1.3.7): the same write-1-to-clear error
// flags as Status, seen on the secondary side; a reset can leave them set.
struct SecondaryStatus : HeaderRegister<SecondaryStatus, uint16_t, 0x1e> {
  LIMBO_REG_BIT(15, detected_parity_error)
  LIMBO_REG_BIT(14, received_system_error)
  LIMBO_REG_BIT(13, received_master_abort)
  LIMBO_REG_BIT(12, received_target_abort)
  LIMBO_REG_BIT(11, signaled_target_abort)
  LIMBO_REG_BIT(8, master_data_parity_error)
  static constexpr uint16_t kWriteOneToClearMask = detected_parity_error_mask | received_system_error_mask |
                                                   received_master_abort_mask | received_target_abort_mask |
                                                   signaled_target_abort_mask | master_data_parity_error_mask;
};

// Expansion ROM Base Address of a bridge (PCIe r6.0 §7.5.1.3.12).
struct Type1ExpansionRom : HeaderRegister<Type1ExpansionRom, uint32_t, 0x38> {};

// Bridge Control (PCIe r6.0 §7.5.1.3.13, PCI-to-PCI Bridge r1.2 §3.2.5.18).
struct BridgeControl : HeaderRegister<BridgeControl, uint16_t, 0x3e> {
  LIMBO_REG_BIT(6, secondary_bus_reset)  // hot reset of everything below the port
  LIMBO_REG_BIT(5, master_abort_mode)
  LIMBO_REG_BIT(4, vga_16bit_decode)
  LIMBO_REG_BIT(3, vga_enable)
  LIMBO_REG_BIT(2, isa_enable)
  LIMBO_REG_BIT(1, serr_enable)
  LIMBO_REG_BIT(0, parity_error_response)
};

// ---- Capability list (PCIe r6.0 §7.5.1.1.11, PCI r3.0 §6.7) ----------------
// Each entry: ID byte at +0, next pointer byte at +1, read as one word.
struct CapabilityHeader : CapabilityRegister<CapabilityHeader, uint16_t, 0x00> {
  LIMBO_REG_FIELD(15, 10, next_pointer_dword)
  LIMBO_REG_FIELD(9, 8, next_pointer_reserved)  // the list is dword aligned
  LIMBO_REG_FIELD(7, 0, id)
  [[nodiscard]] constexpr uint8_t next_pointer() const {
    return static_cast<uint8_t>((value & next_pointer_dword_mask) >> 8);
  }
};
// The list lives in 0x40..0xff: a pointer below 0x40 ends it.
inline constexpr uint8_t kCapabilityFirstOffset = 0x40;
// At most (256 - 64) / 4 = 48 capabilities fit: a longer walk is a loop.
inline constexpr int kMaxCapabilityWalk = 48;

inline constexpr uint8_t kCapabilityIdPciExpress = 0x10;  // PCIe r6.0 §7.5.3.1
inline constexpr uint8_t kCapabilityIdMsi = 0x05;
inline constexpr uint8_t kCapabilityIdMsix = 0x11;

// ---- PCI Express Capability structure (PCIe r6.0 §7.5.3) -----------------
// Each register's kOffset counts from the capability's own offset.

// Device/Port Type values of the PCI Express Capabilities register
// (PCIe r6.0 §7.5.3.2, bits 7:4).
enum class PortType : uint8_t {
  kEndpoint = 0,
  kLegacyEndpoint = 1,
  kRootPort = 4,
  kSwitchUpstreamPort = 5,
  kSwitchDownstreamPort = 6,
  kPcieToPciBridge = 7,
  kPciToPcieBridge = 8,
  kRcIntegratedEndpoint = 9,
  kRcEventCollector = 10,
  // Not register values: Limbo's classification of what has no PCIe capability.
  kConventional = 0xfe,  // conventional PCI function (no PCI Express capability)
  kUnknown = 0xff,       // a reserved type value, or a function that never answered
};

// PCI Express Capabilities register (PCIe r6.0 §7.5.3.2).
struct PcieCapabilities : CapabilityRegister<PcieCapabilities, uint16_t, 0x02> {
  LIMBO_REG_FIELD(13, 9, interrupt_message_number)
  LIMBO_REG_BIT(8, slot_implemented)
  LIMBO_REG_ENUM_FIELD(7, 4, PortType, port_type)  // a reserved value is none of the names
  LIMBO_REG_FIELD(3, 0, version)
};

// Device Capabilities 2 / Device Control 2 and the later registers exist only
// in a version 2 capability (PCIe r6.0 §7.5.3.2: Capability Version); a
// version 1 endpoint structure ends at 0x14 and what follows may be another
// capability (Linux pcie_capability_reg_implemented).
inline constexpr uint16_t kPcieCapabilityVersion2 = 2;

// Device Control (PCIe r6.0 §7.5.3.4): max payload (7:5) and max read
// request (14:12) must again match the port after a reset, so it is restored.
// Writing Initiate Function Level Reset starts an FLR on a function whose
// Device Capabilities advertise it (§6.6.2); the bit always reads 0.
struct DeviceControl : CapabilityRegister<DeviceControl, uint16_t, 0x08> {
  LIMBO_REG_BIT(15, initiate_flr)  // bridge retry enable on PCI Express-to-PCI bridges
  LIMBO_REG_FIELD(14, 12, max_read_request_size)
  LIMBO_REG_BIT(11, no_snoop)
  LIMBO_REG_BIT(8, extended_tag)
  LIMBO_REG_FIELD(7, 5, max_payload_size)
  LIMBO_REG_BIT(4, relaxed_ordering)
  LIMBO_REG_BIT(3, unsupported_request_reporting)
  LIMBO_REG_BIT(2, fatal_error_reporting)
  LIMBO_REG_BIT(1, non_fatal_error_reporting)
  LIMBO_REG_BIT(0, correctable_error_reporting)
};

// Device Status (PCIe r6.0 §7.5.3.5).
struct DeviceStatus : CapabilityRegister<DeviceStatus, uint16_t, 0x0a> {
  LIMBO_REG_BIT(5, transactions_pending)
  LIMBO_REG_BIT(3, unsupported_request_detected)
  LIMBO_REG_BIT(2, fatal_error_detected)
  LIMBO_REG_BIT(1, non_fatal_error_detected)
  LIMBO_REG_BIT(0, correctable_error_detected)
};

// Link speed encodings of Max Link Speed / Current Link Speed (PCIe r6.0
// §7.5.3.6: an index into the Supported Link Speeds Vector; 1 = 2.5 GT/s,
// 2 = 5.0 GT/s, 3 = 8.0 GT/s and up).
inline constexpr uint32_t kLinkSpeed5GT = 2;

// Link Capabilities (PCIe r6.0 §7.5.3.6).
struct LinkCapabilities : CapabilityRegister<LinkCapabilities, uint32_t, 0x0c> {
  LIMBO_REG_FIELD(31, 24, port_number)
  LIMBO_REG_BIT(21, link_bandwidth_notification_capable)
  LIMBO_REG_BIT(20, dll_link_active_reporting_capable)
  LIMBO_REG_BIT(19, surprise_down_error_reporting_capable)
  LIMBO_REG_FIELD(11, 10, aspm_support)
  LIMBO_REG_FIELD(9, 4, max_link_width)
  LIMBO_REG_FIELD(3, 0, max_link_speed)
};

// Link Control (PCIe r6.0 §7.5.3.7): ASPM and common clock, cleared by reset.
struct LinkControl : CapabilityRegister<LinkControl, uint16_t, 0x10> {
  LIMBO_REG_BIT(11, link_autonomous_bandwidth_interrupt_enable)
  LIMBO_REG_BIT(10, link_bandwidth_management_interrupt_enable)
  LIMBO_REG_BIT(9, hardware_autonomous_width_disable)
  LIMBO_REG_BIT(8, enable_clock_power_management)
  LIMBO_REG_BIT(7, extended_synch)
  LIMBO_REG_BIT(6, common_clock_configuration)
  LIMBO_REG_BIT(5, retrain_link)
  LIMBO_REG_BIT(4, link_disable)
  LIMBO_REG_BIT(3, read_completion_boundary)
  LIMBO_REG_FIELD(1, 0, aspm_control)
};

// Link Status (PCIe r6.0 §7.5.3.8).
struct LinkStatus : CapabilityRegister<LinkStatus, uint16_t, 0x12> {
  LIMBO_REG_BIT(15, link_autonomous_bandwidth_status)
  LIMBO_REG_BIT(14, link_bandwidth_management_status)
  LIMBO_REG_BIT(13, dll_link_active)
  LIMBO_REG_BIT(12, slot_clock_configuration)
  LIMBO_REG_BIT(11, link_training)
  LIMBO_REG_FIELD(9, 4, negotiated_link_width)
  LIMBO_REG_FIELD(3, 0, current_link_speed)
};

// Slot Capabilities (PCIe r6.0 §7.5.3.9).
struct SlotCapabilities : CapabilityRegister<SlotCapabilities, uint32_t, 0x14> {
  LIMBO_REG_FIELD(31, 19, physical_slot_number)
  LIMBO_REG_BIT(18, no_command_completed_support)
  LIMBO_REG_BIT(6, hot_plug_capable)
  LIMBO_REG_BIT(5, hot_plug_surprise)
  LIMBO_REG_BIT(3, attention_indicator_present)
  LIMBO_REG_BIT(1, power_controller_present)
  LIMBO_REG_BIT(0, attention_button_present)
};

// Slot Control (PCIe r6.0 §7.5.3.10): the enables that turn a reset's link
// down/up into a hot-plug event.
struct SlotControl : CapabilityRegister<SlotControl, uint16_t, 0x18> {
  LIMBO_REG_BIT(12, dll_state_changed_enable)
  LIMBO_REG_BIT(10, power_controller_control)
  LIMBO_REG_BIT(5, hot_plug_interrupt_enable)
  LIMBO_REG_BIT(4, command_completed_interrupt_enable)
  LIMBO_REG_BIT(3, presence_detect_changed_enable)
  LIMBO_REG_BIT(2, mrl_sensor_changed_enable)
  LIMBO_REG_BIT(1, power_fault_detected_enable)
  LIMBO_REG_BIT(0, attention_button_pressed_enable)
  // Masked while the reset runs, as Linux's pciehp_reset_slot masks them.
  static constexpr uint16_t kResetEventMask = dll_state_changed_enable_mask | presence_detect_changed_enable_mask;
};

// Slot Status (PCIe r6.0 §7.5.3.11): bits 8 and 4:0 are write-1-to-clear.
struct SlotStatus : CapabilityRegister<SlotStatus, uint16_t, 0x1a> {
  LIMBO_REG_BIT(8, dll_state_changed)
  LIMBO_REG_BIT(6, presence_detect_state)  // read only
  LIMBO_REG_BIT(5, mrl_sensor_state)       // read only
  LIMBO_REG_BIT(4, command_completed)
  LIMBO_REG_BIT(3, presence_detect_changed)
  LIMBO_REG_BIT(2, mrl_sensor_changed)
  LIMBO_REG_BIT(1, power_fault_detected)
  LIMBO_REG_BIT(0, attention_button_pressed)
  // What a reset leaves behind on a hot-plug port: the link went down and up.
  static constexpr uint16_t kResetEventMask = dll_state_changed_mask | presence_detect_changed_mask;
  static constexpr uint16_t kCommandCompletedMask = command_completed_mask;
  static constexpr uint16_t kWriteOneToClearMask = dll_state_changed_mask | command_completed_mask |
                                                   presence_detect_changed_mask | mrl_sensor_changed_mask |
                                                   power_fault_detected_mask | attention_button_pressed_mask;
};

// Root Control (PCIe r6.0 §7.5.3.12).
struct RootControl : CapabilityRegister<RootControl, uint16_t, 0x1c> {
  LIMBO_REG_BIT(4, rrs_software_visibility_enable)  // Vendor ID reads 0x0001 while a device retries
  LIMBO_REG_BIT(3, pme_interrupt_enable)
  LIMBO_REG_BIT(2, system_error_on_fatal_error_enable)
  LIMBO_REG_BIT(1, system_error_on_non_fatal_error_enable)
  LIMBO_REG_BIT(0, system_error_on_correctable_error_enable)
};

// Device Control 2 (PCIe r6.0 §7.5.3.16): completion timeout, ARI, LTR,
// 10-bit tags: restored as saved.
struct DeviceControl2 : CapabilityRegister<DeviceControl2, uint16_t, 0x28> {
  LIMBO_REG_BIT(12, ten_bit_tag_requester_enable)
  LIMBO_REG_BIT(10, ltr_mechanism_enable)
  LIMBO_REG_BIT(5, ari_forwarding_enable)
  LIMBO_REG_BIT(4, completion_timeout_disable)
  LIMBO_REG_FIELD(3, 0, completion_timeout_value)
};

// Link Control 2 (PCIe r6.0 §7.5.3.19).
struct LinkControl2 : CapabilityRegister<LinkControl2, uint16_t, 0x30> {
  LIMBO_REG_BIT(5, hardware_autonomous_speed_disable)
  LIMBO_REG_BIT(4, enter_compliance)
  LIMBO_REG_FIELD(3, 0, target_link_speed)
};

// Device Capabilities (PCIe r6.0 §7.5.3.3), in the PCI Express capability.
struct DeviceCapabilities : CapabilityRegister<DeviceCapabilities, uint32_t, 0x04> {
  LIMBO_REG_BIT(28, function_level_reset_capable)
  LIMBO_REG_BIT(15, role_based_error_reporting)
  LIMBO_REG_FIELD(2, 0, max_payload_size_supported)
};


// Advanced Features capability (PCI Code and ID Assignment r1.11 §2,
// capability ID 13h; the "Advanced Capabilities for Conventional PCI" ECN):
// FLR for functions without a PCI Express capability. Linux pci_af_flr uses
// it only when both TP and FLR are advertised.
inline constexpr uint8_t kCapabilityIdAdvancedFeatures = 0x13;
struct AfCapabilities : CapabilityRegister<AfCapabilities, uint8_t, 0x03> {
  LIMBO_REG_BIT(1, function_level_reset_capable)
  LIMBO_REG_BIT(0, transactions_pending_capable)
};
struct AfControl : CapabilityRegister<AfControl, uint8_t, 0x04> {
  LIMBO_REG_BIT(0, initiate_flr)
};
struct AfStatus : CapabilityRegister<AfStatus, uint8_t, 0x05> {
  LIMBO_REG_BIT(0, transactions_pending)
};

// ---- Extended capabilities (PCIe r6.0 §7.6.3), from offset 100h ---------
// ARI and SR-IOV. A header of 0 (or all ones, a failed read) ends
// the list; so does a next offset below 100h; at most
// kMaxExtendedCapabilityWalk entries are visited, so a looping list ends.
inline constexpr uint16_t kExtendedCapabilityFirstOffset = 0x100;
inline constexpr int kMaxExtendedCapabilityWalk = 96;
struct ExtendedCapabilityHeader : CapabilityRegister<ExtendedCapabilityHeader, uint32_t, 0x00> {
  LIMBO_REG_FIELD(31, 20, next_offset)
  LIMBO_REG_FIELD(19, 16, version)
  LIMBO_REG_FIELD(15, 0, id)
};
inline constexpr uint16_t kExtendedCapabilityIdAri = 0x000e;    // PCIe r6.0 §7.8.7
inline constexpr uint16_t kExtendedCapabilityIdSriov = 0x0010;  // PCIe r6.0 §9.3.3
inline constexpr uint16_t kAriCapabilityBytes = 0x08;            // §7.8.7: header, capability, control
inline constexpr uint16_t kSriovCapabilityBytes = 0x40;          // §9.3.3: header through VF Migration State Array Offset

// ARI Capability register (PCIe r6.0 §7.8.7.2): the next function of the
// device, 0 at the last.
struct AriCapability : CapabilityRegister<AriCapability, uint16_t, 0x04> {
  LIMBO_REG_FIELD(15, 8, next_function_number)
  LIMBO_REG_BIT(1, acs_function_groups_capability)
  LIMBO_REG_BIT(0, mfvc_function_groups_capability)
};
// ARI: 8 bits of function number, the device number field included
// (PCIe r6.0 §2.2.4.2, §6.13).
inline constexpr int kAriFunctionsPerDevice = 256;

// SR-IOV Control and NumVFs (PCIe r6.0 §9.3.3.3, §9.3.3.7): VFs exist while
// VF Enable is set; a Conventional Reset or FLR of the PF clears it
// (§9.3.3.3.1), and then every VF is gone with its state.
struct SriovControl : CapabilityRegister<SriovControl, uint16_t, 0x08> {
  LIMBO_REG_BIT(3, vf_memory_space_enable)
  LIMBO_REG_BIT(0, vf_enable)
};
struct SriovNumVfs : CapabilityRegister<SriovNumVfs, uint16_t, 0x10> {};
struct SriovTotalVfs : CapabilityRegister<SriovTotalVfs, uint16_t, 0x0e> {};

// MSI Message Control (PCI r3.0 §6.8.1.3), at MSI capability + 2.
struct MsiControl : CapabilityRegister<MsiControl, uint16_t, 0x02> {
  LIMBO_REG_BIT(8, per_vector_masking_capable)
  LIMBO_REG_BIT(7, address_64bit_capable)
  LIMBO_REG_FIELD(6, 4, multiple_message_enable)
  LIMBO_REG_FIELD(3, 1, multiple_message_capable)
  LIMBO_REG_BIT(0, msi_enable)
};
// MSI-X Message Control (PCI r3.0 §6.8.2.3), at MSI-X capability + 2.
struct MsixControl : CapabilityRegister<MsixControl, uint16_t, 0x02> {
  LIMBO_REG_BIT(15, msix_enable)
  LIMBO_REG_BIT(14, function_mask)
  LIMBO_REG_FIELD(10, 0, table_size)
};


// Virtio PCI capability (virtio 1.1 §4.1.4, struct virtio_pci_cap): a
// vendor-specific capability (ID 09h) whose cfg_type says which structure it
// locates; the common configuration is type 1, in BAR `bar` at `offset`.
inline constexpr uint8_t kCapabilityIdVendor = 0x09;
inline constexpr uint16_t kVirtioVendorId = 0x1af4;                 // virtio 1.1 §4.1.2
inline constexpr uint16_t kVirtioFirstDeviceId = 0x1000;            // transitional 1000h-103Fh
inline constexpr uint16_t kVirtioLastDeviceId = 0x107f;             // modern 1040h-107Fh
inline constexpr uint8_t kVirtioCommonCfgType = 1;                  // VIRTIO_PCI_CAP_COMMON_CFG
struct VirtioCapType : CapabilityRegister<VirtioCapType, uint8_t, 0x03> {};
struct VirtioCapBar : CapabilityRegister<VirtioCapBar, uint8_t, 0x04> {};
struct VirtioCapOffset : CapabilityRegister<VirtioCapOffset, uint32_t, 0x08> {};
struct VirtioCapLength : CapabilityRegister<VirtioCapLength, uint32_t, 0x0c> {};

// ---- Device registers in memory space (class resets) ----------------------
// The same binding for registers in a BAR: `ReadFrom(mmio, window)` where
// `window` is the physical address of the register block. An Mmio backend has
// read8/read32/write8/write32 at physical addresses.
template <class Derived, class Int, uint32_t Offset>
struct MmioRegister : reg::Register<Derived, Int> {
  static constexpr uint32_t kOffset = Offset;
  static_assert(sizeof(Int) == 1 || sizeof(Int) == 4 || sizeof(Int) == 8);

  template <class Mmio>
  [[nodiscard]] static Derived ReadFrom(Mmio& mmio, uint64_t window) {
    if constexpr (sizeof(Int) == 1) {
      return Derived::from_value(mmio.read8(window + Offset));
    } else if constexpr (sizeof(Int) == 4) {
      return Derived::from_value(mmio.read32(window + Offset));
    } else {
      // Two dword reads, low first (NVMe Base r2.0 §3.1.2: a 64-bit register
      // may be read as two 32-bit accesses).
      const uint64_t low = mmio.read32(window + Offset);
      return Derived::from_value(low | uint64_t{mmio.read32(window + Offset + 4)} << 32);
    }
  }
  template <class Mmio>
  void WriteTo(Mmio& mmio, uint64_t window) const {
    static_assert(sizeof(Int) != 8, "no 64-bit register is written");
    if constexpr (sizeof(Int) == 1) mmio.write8(window + Offset, this->value);
    else mmio.write32(window + Offset, this->value);
  }
};

// NVMe controller registers in BAR0 (NVM Express Base r2.0 §3.1.4).
inline constexpr uint32_t kClassNvmExpress = 0x010802;  // mass storage, NVM, NVMe I/O controller
namespace nvme {
// CAP (§3.1.4.1): TO, the worst time CSTS.RDY takes to change after CC.EN
// changes, in 500 ms units.
struct ControllerCapabilities : MmioRegister<ControllerCapabilities, uint64_t, 0x00> {
  LIMBO_REG_FIELD(31, 24, timeout)
  LIMBO_REG_FIELD(15, 0, max_queue_entries_supported)
  static constexpr uint32_t kTimeoutUnitMs = 500;
};
// CC (§3.1.4.5): clearing EN resets the controller (§3.7.2).
struct ControllerConfiguration : MmioRegister<ControllerConfiguration, uint32_t, 0x14> {
  LIMBO_REG_FIELD(15, 14, shutdown_notification)
  LIMBO_REG_BIT(0, enable)
};
// CSTS (§3.1.4.6): RDY follows CC.EN once the controller is done.
struct ControllerStatus : MmioRegister<ControllerStatus, uint32_t, 0x1c> {
  LIMBO_REG_BIT(1, controller_fatal_status)
  LIMBO_REG_BIT(0, ready)
};
// The registers Limbo touches end at CSTS: the window it maps.
inline constexpr uint32_t kRegisterWindowBytes = 0x20;
}  // namespace nvme

namespace virtio {
// device_status in the common configuration (virtio 1.1 §4.1.4.3, struct
// virtio_pci_common_cfg): writing 0 resets the device (§2.1); the driver
// must then wait until it reads back 0 (§4.1.4.3.2).
struct DeviceStatus : MmioRegister<DeviceStatus, uint8_t, 0x14> {
  LIMBO_REG_BIT(7, failed)
  LIMBO_REG_BIT(6, needs_reset)
  LIMBO_REG_BIT(3, features_ok)
  LIMBO_REG_BIT(2, driver_ok)
  LIMBO_REG_BIT(1, driver)
  LIMBO_REG_BIT(0, acknowledge)
};
// What Limbo maps of the common configuration: up to device_status.
inline constexpr uint32_t kRegisterWindowBytes = 0x15;
}  // namespace virtio

// ---- Timing of function-level and class resets -----------------------------
// After an FLR is initiated the function must complete it within 100 ms, and
// software waits that long before its first config request to it (PCIe r6.0
// §6.6.2); then readiness is polled as after a bus reset.
inline constexpr uint32_t kFlrCompletionMs = 100;
// Before an FLR Linux waits for Transactions Pending to clear, 100, 200 and
// 400 ms apart (drivers/pci/pci.c pci_wait_for_pending), then resets anyway.
inline constexpr uint32_t kLinuxPendingTransactionWaitMs = 700;
// An NVMe controller whose CAP.TO reads 0 gets one unit (500 ms): TO = 0
// would otherwise mean "no wait at all" for a controller that is still busy.
inline constexpr uint32_t kNvmeMinimumTimeoutUnits = 1;

// ---- Timing of a secondary bus reset --------------------------------------
// Each constant is the spec's (or Linux's) value; margins are applied where
// the constant is used.

// Trst: Secondary Bus Reset must stay set at least 1 ms (PCIe r6.0
// §7.5.1.3.13, Bridge Control, referring to the reset timing of PCI r3.0
// §4.3.2).
inline constexpr uint32_t kTrstUs = 1000;
// Linux holds it 2 ms (drivers/pci/pci.c pci_reset_secondary_bus: msleep(2)).
inline constexpr uint32_t kLinuxSecondaryBusResetHoldUs = 2000;
// After a reset, software waits 100 ms before the first configuration
// request to a device below the port; on a port faster than 5 GT/s, 100 ms
// after link training completes (PCIe r6.0 §6.6.1).
inline constexpr uint32_t kResetToConfigRequestMs = 100;
// Linux waits this long for Data Link Layer Link Active after a reset
// (drivers/pci/pci.c PCIE_LINK_RETRAIN_TIMEOUT_MS).
inline constexpr uint32_t kLinuxLinkActiveTimeoutMs = 1000;
// A hot-plug controller completes a Slot Control write within 1 s, and
// software waits for Command Completed before the next write (PCIe r6.0
// §6.7.3.2; Linux pcie_wait_cmd).
inline constexpr uint32_t kSlotCommandTimeoutMs = 1000;
// Linux: a device still retrying after 1 s is suspect (PCI_RESET_WAIT) and
// given at most 60 s (PCIE_RESET_READY_POLL_MS).
inline constexpr uint32_t kLinuxResetWaitMs = 1000;
inline constexpr uint32_t kLinuxResetReadyPollMaxMs = 60000;

}  // namespace limbo::pcie
