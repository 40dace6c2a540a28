// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's own address space: identity page tables (paging.h) built in
// a pool inside the purgatory's .bss, loaded at entry before anything else
// runs, and the loader's CR3 put back just before the jump, so that the next
// kernel starts exactly as it would from the stock purgatory.
//
// Why always, not only when PCIe reset is on: the loader's identity map lives
// in pages the purgatory does not own, leaves ECAM out, and its cache bits
// are whatever the crashed kernel chose; running every step on tables we
// built means one code path, exercised by every run (also with PCIe off).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"
#include "arch/x86_64/paging.h"
#include "lib/pcie/config_space.h"
#include "lib/pcie/function_reset.h"
#include "lib/vga.h"

namespace limbo::arch {

// 4 KiB pages in the pool: 64 KiB of .bss (zero-filled by the kernel's
// segment load, not in the object file). The usual machine needs 7 (4 GiB
// with 2 MiB pages and the VGA hole) or 5 with 1 GiB pages; each further
// region outside the low 4 GiB costs 1-3, each ECAM window edge not on a
// 2 MiB boundary 1.
inline constexpr size_t kPageTablePoolPages = 16;

// What was done at entry, for the flow to print.
struct AddressSpace {
  bool own_tables = false;       // CR3 points at our tables
  bool ecam_mapped = false;      // every ECAM window of the block is mapped uncached
  unsigned levels = 4;           // CR4.LA57 ? 5 : 4
  bool gib_pages = false;        // CPUID 8000_0001h EDX[26]
  bool tsc_invariant = false;    // CPUID 8000_0007h EDX[8]
  bool request_full = false;     // more ranges than x86::paging::kMaxRanges: not built
  x86::paging::Result result;         // error, tables used, leaves
  uint64_t loader_cr3 = 0;
};

// The physical ranges the purgatory and the next steps touch. `config` is
// null when the block was refused: then no ECAM window (nor the reset
// register) is mapped.
struct Touched {
  const abi::Sha256Region* regions;  // kSha256RegionCount entries
  uint64_t backup_start, backup_src_start, backup_src_size;
  uint64_t cmdline_end;
  const abi::Config* config;
};

// Legacy VGA memory, 0xa0000-0xbffff (the text buffer at 0xb8000 inside):
// uncached, like the MTRRs of a PC make it.
inline constexpr uint64_t kVgaHoleBase = 0xa0000;
inline constexpr uint64_t kVgaHoleSize = 0x20000;
static_assert(vga::kTextBufferPhys >= kVgaHoleBase && vga::kTextBufferPhys < kVgaHoleBase + kVgaHoleSize);

// What the purgatory's tables map (portable: host-tested with paging.h's
// builder). [image, image_end) is the purgatory's own segment. False when
// the request's range table is full. `ecam_requested`: a window was added.
[[nodiscard]] inline bool identity_request(const Touched& t, uint64_t image, uint64_t image_end,
                                           x86::paging::Request& request, bool& ecam_requested) {
  // The low 4 GiB whole: legacy areas, the loader's usual placement, local
  // APIC/IOAPIC/HPET. Its MMIO holes are write-back in the PTEs but the
  // firmware's MTRRs make them UC (SDM Vol. 3A §11.11.4.1: UC wins).
  bool ok = request.map(0, x86::paging::k4GiB);
  ok = ok && request.map_uncached(kVgaHoleBase, kVgaHoleSize);
  for (size_t i = 0; i < abi::kSha256RegionCount; ++i) ok = ok && request.map(t.regions[i].start, t.regions[i].len);
  ok = ok && request.map(t.backup_start, t.backup_src_size);
  ok = ok && request.map(t.backup_src_start, t.backup_src_size);
  // cmdline_end, the spare bytes after it and its NUL.
  if (t.cmdline_end != 0) ok = ok && request.map(t.cmdline_end, abi::kCmdlineSpareBytes + 1);
  // Code, data, the stack, the table pool: one segment.
  ok = ok && request.map(image, image_end - image);
  ecam_requested = false;
  if (t.config == nullptr) return ok;
  // --on-corruption=reboot's ACPI reset register, when it is memory-mapped
  // (ACPI 6.5 §5.2.3.2 GAS, address space 0): its page, uncached.
  const abi::ResetRegister& reset = t.config->reset_register;
  if (reset.valid != 0 && reset.address_space == 0 && reset.address != 0) {
    ok = ok && request.map_uncached(reset.address & ~(x86::paging::kPageSize - 1), x86::paging::kPageSize);
  }
  const abi::PcieSettings& pcie = t.config->pcie;
  if (pcie.mode == static_cast<uint32_t>(abi::PcieMode::kReset)) {
    const size_t count = pcie.ecam_count > abi::kMaxEcamWindows ? abi::kMaxEcamWindows : pcie.ecam_count;
    for (size_t i = 0; i < count; ++i) {
      const abi::EcamWindow& w = pcie.ecam[i];
      if (w.base == 0) continue;
      ok = ok && request.map_uncached(w.base, pcie::EcamMap::window_size(w));
      ecam_requested = true;
    }
  }
  return ok;
}

// Builds and loads the tables. On any failure the loader's tables stay and
// ECAM is reported unreachable.
AddressSpace enter_own_address_space(const Touched& touched);

// Device registers for the PCIe class resets, found only after
// discovery: the tables are rebuilt from the same request plus `ranges`
// uncached (PAT index 3), into the other half of the pool, and loaded; the
// tables in use are not touched while they are live. Refused (false, the
// current tables kept) when the first build failed, a range is empty, wraps,
// overlaps what the loader placed (the segments, backup, command line, the
// purgatory itself: a corrupt BAR must not turn a register write into a
// write over the next kernel), or when the range table or the pool is too
// small. How a BAR is chosen and why it is trusted: lib/pcie/discovery.h
// (locate_mmio_window); why it needs mapping: docs/cpu-state.md.
[[nodiscard]] bool map_device_registers(const pcie::MmioRange* ranges, size_t count);

// Whether [base, base + size) overlaps a range the loader placed (portable,
// host-tested).
[[nodiscard]] inline bool overlaps_loaded(const Touched& t, uint64_t image, uint64_t image_end, uint64_t base,
                                          uint64_t size) {
  const uint64_t end = base + size;
  auto hit = [&](uint64_t b, uint64_t len) { return len != 0 && base < b + len && b < end; };
  for (size_t i = 0; i < abi::kSha256RegionCount; ++i) {
    if (hit(t.regions[i].start, t.regions[i].len)) return true;
  }
  return hit(t.backup_start, t.backup_src_size) || hit(t.backup_src_start, t.backup_src_size) ||
         (t.cmdline_end != 0 && hit(t.cmdline_end, abi::kCmdlineSpareBytes + 1)) || hit(image, image_end - image);
}

// Puts the loader's CR3 back (nothing when ours were never loaded).
void leave_own_address_space(const AddressSpace& space);

}  // namespace limbo::arch
