// SPDX-License-Identifier: GPL-2.0-only
// Where PCIe configuration space lives: the ECAM windows of the ACPI MCFG
// table, or (when the table cannot be read) the windows the kernel lists in
// /proc/iomem. Pure parsers over bytes and text; reading the files is the
// caller's (pcie/system.h).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "abi/limbo_abi.h"
#include "common/result.h"

namespace limbo::plugin::pcie {

// ACPI r6.5 §5.2.6 System Description Table Header: 36 bytes, the Length
// field at offset 4 counts the whole table, and all its bytes sum to 0 mod 256.
inline constexpr size_t kAcpiHeaderSize = 36;
inline constexpr size_t kAcpiLengthOffset = 4;
// PCI Firmware Spec r3.3 §4.1.2 (Table 4-2): MCFG = header, 8 reserved
// bytes, then 16-byte allocation entries (Table 4-3): base u64 (the address
// of bus 0 of the segment, even when the start bus is higher), segment u16,
// start bus u8, end bus u8, 4 reserved.
inline constexpr size_t kMcfgEntriesOffset = kAcpiHeaderSize + 8;
inline constexpr size_t kMcfgEntrySize = 16;
// PCIe r6.0 §7.2.2: each bus takes 1 MiB of ECAM (32 devices x 8 functions x 4 KiB).
inline constexpr unsigned kEcamBusShift = 20;

// The MCFG table's windows, in table order, converted to Limbo's ABI:
// EcamWindow::base is the address of the window's *start* bus (MCFG base +
// start_bus << 20), as abi::EcamWindow's formula wants. Fails (EINVAL, with
// the reason) on a bad signature, length, checksum, entry size, an empty
// table, more than abi::kMaxEcamWindows entries, a reversed bus range, a
// base of 0 or not 1 MiB aligned, an address that overflows, or two windows
// of one segment that share a bus.
Result<std::vector<abi::EcamWindow>> parse_mcfg(std::span<const uint8_t> table);

// The windows of /proc/iomem lines "b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]"
// (older kernels, e.g. Debian's 6.1, say "PCI MMCONFIG", newer ones "PCI ECAM"), at any
// nesting depth, each checked like an MCFG entry and for a size of exactly
// its bus count in MiB. No such line: an empty list. All addresses 0 means
// the file was read without CAP_SYS_ADMIN, which the kernel answers with
// zeros: an error that says so.
Result<std::vector<abi::EcamWindow>> parse_iomem_ecam(std::string_view iomem);

// Shared by both parsers: the checks on a list of windows (count, order of
// buses, alignment, overlap within a segment).
Status validate_windows(std::span<const abi::EcamWindow> windows, const char* source);

}  // namespace limbo::plugin::pcie
