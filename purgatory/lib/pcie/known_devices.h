// SPDX-License-Identifier: GPL-2.0-only
// Devices Limbo must treat specially, from the facts Linux keeps in
// drivers/pci/quirks.c (read in Debian's linux-source-6.1, 6.1.192; our own
// table, facts only): those that do not survive a secondary bus reset
// (PCI_DEV_FLAGS_NO_BUS_RESET), those whose Function Level Reset is broken
// (PCI_DEV_FLAGS_NO_FLR_RESET), those that need longer before their first
// config request after a reset, and those Linux resets its own way. Shared by
// the purgatory, `limbo-kexec --plan` and the tests through policy.h.
//
// "since": the Linux release that first carried the entry, as far as it can
// be told from Debian's own changelog of that package
// (/usr/share/doc/linux-source-6.1/changelog.Debian.gz): "6.1.N" is the 6.1
// stable update that brought it to 6.1 (from a later mainline release);
// "5.10.46" likewise for 5.10; "<6.1" is in 6.1.0 already, first release not
// recorded there.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/pcie/registers.h"

namespace limbo::pcie {

// What a known device needs; several may be set.
inline constexpr uint8_t kKnownNoBusReset = 1u << 0;      // never a secondary bus reset of the port above (or, for a port, by it)
inline constexpr uint8_t kKnownNoFlr = 1u << 1;           // never an FLR: the next method instead
inline constexpr uint8_t kKnownClassResetFirst = 1u << 2; // its class reset rather than FLR (Linux disables it before FLR)

struct KnownDevice {
  uint16_t vendor_id;
  uint16_t device_id;
  uint16_t device_mask;   // the bits of the Device ID compared (0xffff: exact)
  uint8_t flags;          // kKnown*
  uint16_t settle_ms;     // at least this long from its reset to the first config request; 0: the spec's
  // Arrays, not pointers: a table of pointers would be relocated data, which
  // the purgatory's linker script forbids (.data.rel.ro).
  char quirk[64];         // the Linux quirk named in reports
  char since[8];          // see above
};

// Vendor IDs as Linux's pci_ids.h names them.
inline constexpr uint16_t kVendorAtheros = 0x168c;   // PCI_VENDOR_ID_ATHEROS
inline constexpr uint16_t kVendorQualcomm = 0x17cb;  // PCI_VENDOR_ID_QCOM
inline constexpr uint16_t kVendorCavium = 0x177d;    // PCI_VENDOR_ID_CAVIUM
inline constexpr uint16_t kVendorTi = 0x104c;        // PCI_VENDOR_ID_TI
inline constexpr uint16_t kVendorAsmedia = 0x1b21;   // PCI_VENDOR_ID_ASMEDIA
inline constexpr uint16_t kVendorNvidia = 0x10de;    // PCI_VENDOR_ID_NVIDIA
inline constexpr uint16_t kVendorAmd = 0x1022;       // PCI_VENDOR_ID_AMD
inline constexpr uint16_t kVendorIntel = 0x8086;     // PCI_VENDOR_ID_INTEL
inline constexpr uint16_t kVendorSamsung = 0x144d;   // PCI_VENDOR_ID_SAMSUNG
inline constexpr uint16_t kVendorSolidigm = 0x025e;  // PCI_VENDOR_ID_SOLIDIGM
inline constexpr uint16_t kVendorSolidrun = 0xd063;  // PCI_VENDOR_ID_SOLIDRUN
inline constexpr uint16_t kVendorVideoPropulsion = 0x5555;  // no pci_ids.h name; quirks.c spells 0x5555

// Line numbers are those of quirks.c in linux-source-6.1 6.1.192.
inline constexpr KnownDevice kKnownDevices[] = {
    // quirks.c:3648-3649, "After asserting Secondary Bus Reset to downstream
    // devices via a GB10 Root Port, the link may not retrain correctly": the
    // flag is on the root port itself.
    {kVendorNvidia, 0x22ce, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (nvidia gb10 root port)", "6.1.165"},
    {kVendorNvidia, 0x22d0, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (nvidia gb10 root port)", "6.1.165"},
    // quirks.c:3655-3661: GPUs with (device & 0xffc0) == 0x2340.
    {kVendorNvidia, 0x2340, 0xffc0, kKnownNoBusReset, 0, "quirk_nvidia_no_bus_reset", "5.10.46"},
    // quirks.c:3670-3675: Atheros AR9xxx and QCA988x: config space never
    // accessible again after a bus reset, "typically causes the system to
    // hang or reset when access is attempted".
    {kVendorAtheros, 0x0030, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (atheros ar93xx)", "<6.1"},
    {kVendorAtheros, 0x0032, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (atheros ar9485)", "<6.1"},
    {kVendorAtheros, 0x003c, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (atheros qca988x)", "<6.1"},
    {kVendorAtheros, 0x0033, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (atheros ar958x)", "<6.1"},
    {kVendorAtheros, 0x0034, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (atheros ar9462)", "<6.1"},
    {kVendorAtheros, 0x003e, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (atheros qca6174)", "<6.1"},
    // quirks.c:3676-3678.
    {kVendorQualcomm, 0x1103, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (qualcomm wcn6855)", "6.1.189"},
    {kVendorQualcomm, 0x1107, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (qualcomm wcn7850)", "6.1.189"},
    {kVendorQualcomm, 0x0308, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (qualcomm sdx62/sdx65)", "6.1.189"},
    // quirks.c:3685: "Root port on some Cavium CN8xxx chips do not
    // successfully complete a bus reset": the port itself.
    {kVendorCavium, 0xa100, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (cavium cn8xxx root port)", "<6.1"},
    // quirks.c:3695: TI KeyStone C667X disables its LTSSM on a bus reset.
    {kVendorTi, 0xb005, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (ti keystone c667x)", "5.10.46"},
    // quirks.c:3705: ASM1164 SATA fails to retrain after a bus reset.
    {kVendorAsmedia, 0x1164, 0xffff, kKnownNoBusReset, 0, "quirk_no_bus_reset (asmedia asm1164)", "6.1.165"},
    // quirks.c:5472-5477, quirk_no_flr: FLR leaves these broken.
    {kVendorAmd, 0x1487, 0xffff, kKnownNoFlr, 0, "quirk_no_flr (amd matisse hd audio)", "<6.1"},
    {kVendorAmd, 0x148c, 0xffff, kKnownNoFlr, 0, "quirk_no_flr (amd starship usb 3.0)", "<6.1"},
    {kVendorAmd, 0x149c, 0xffff, kKnownNoFlr, 0, "quirk_no_flr (amd matisse usb 3.0)", "<6.1"},
    {kVendorAmd, 0x7901, 0xffff, kKnownNoFlr, 0, "quirk_no_flr (amd fch ahci)", "6.1.16"},
    {kVendorIntel, 0x1502, 0xffff, kKnownNoFlr, 0, "quirk_no_flr (intel 82579lm)", "<6.1"},
    {kVendorIntel, 0x1503, 0xffff, kKnownNoFlr, 0, "quirk_no_flr (intel 82579v)", "<6.1"},
    // quirks.c:5480-5485 (quirk_no_flr_snet) applies to revision 1 only; the
    // table does not match revisions, so every SolidRun 0x1000 is spared FLR
    // (stronger than Linux, never weaker).
    {kVendorSolidrun, 0x1000, 0xffff, kKnownNoFlr, 0, "quirk_no_flr_snet (solidrun snet dpu)", "6.1.88"},
    // quirks.c:4133, nvme_disable_and_flr: Samsung SM961/PM961 must be
    // disabled (CC.EN = 0) before an FLR; Limbo uses its NVMe reset.
    {kVendorSamsung, 0xa804, 0xffff, kKnownClassResetFirst, 0, "nvme_disable_and_flr (samsung sm961)", "<6.1"},
    // quirks.c:4134-4136, delay_250ms_after_flr: 250 ms after the FLR's
    // 100 ms before the device is used; Limbo waits as long after any reset.
    {kVendorIntel, 0x0953, 0xffff, 0, kFlrCompletionMs + 250, "delay_250ms_after_flr (intel p3700/750)", "<6.1"},
    {kVendorIntel, 0x0a54, 0xffff, 0, kFlrCompletionMs + 250, "delay_250ms_after_flr (intel p4500)", "<6.1"},
    {kVendorSolidigm, 0xf1ac, 0xffff, 0, kFlrCompletionMs + 250, "delay_250ms_after_flr (solidigm p44 pro)", "6.1.88"},
    // quirks.c:6224-6234, pci_fixup_d3cold_delay_1sec: "a longer delay
    // before first config space access after reset recovery": 1000 ms.
    {kVendorVideoPropulsion, 0x0004, 0xffff, 0, 1000, "pci_fixup_d3cold_delay_1sec (videopropulsion torrent qn16e)", "6.1.66"},
};

inline constexpr size_t kKnownDeviceCount = sizeof(kKnownDevices) / sizeof(kKnownDevices[0]);
inline constexpr uint8_t kNotKnown = 0xff;
static_assert(kKnownDeviceCount < kNotKnown);

// The table index of the first entry for this Vendor and Device ID, or
// kNotKnown.
[[nodiscard]] constexpr uint8_t find_known_device(uint16_t vendor_id, uint16_t device_id) {
  for (size_t i = 0; i < kKnownDeviceCount; ++i) {
    const KnownDevice& k = kKnownDevices[i];
    if (k.vendor_id == vendor_id && (device_id & k.device_mask) == k.device_id) return static_cast<uint8_t>(i);
  }
  return kNotKnown;
}

[[nodiscard]] constexpr uint8_t known_flags(uint8_t index) {
  return index == kNotKnown ? 0 : kKnownDevices[index].flags;
}

static_assert(find_known_device(kVendorNvidia, 0x2345) != kNotKnown);
static_assert(find_known_device(kVendorNvidia, 0x2380) == kNotKnown);
static_assert(find_known_device(kVendorAtheros, 0x003e) != kNotKnown);

}  // namespace limbo::pcie
