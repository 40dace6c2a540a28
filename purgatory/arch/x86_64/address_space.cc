// SPDX-License-Identifier: GPL-2.0-only
// Builds the purgatory's identity page tables (address_space.h) from what the
// loader wrote, and switches CR3. Control registers and CPUID are the only
// machine-specific part; the tables themselves come from paging.h.
#include "arch/x86_64/address_space.h"

#include "arch/x86_64/cpu.h"
#include "lib/cpu_features.h"


extern "C" {
// The purgatory's bounds, for its own mapping: .text begins with
// purgatory_start (entry.S; the linker script places .text.entry first) and
// .bss, which kexec-tools puts after the data in the same segment, ends at
// limbo_image_end (linker script).
extern const uint8_t purgatory_start[];
extern const uint8_t limbo_image_end[];
}

namespace limbo::arch {
namespace {

// SDM Vol. 3A §2.5: CR4.LA57 (bit 12) selects 5-level paging; it cannot be
// changed in long mode, so the tables follow whatever the loader left.
constexpr uint64_t kCr4La57 = uint64_t{1} << 12;
// CPUID 8000_0001h EDX[26] (Page1GB); 8000_0007h EDX[8] (invariant TSC).
constexpr uint32_t kExtLeafFeatures = 0x80000001u;
constexpr uint32_t kExtLeafPower = 0x80000007u;
constexpr uint32_t kEdxPage1Gb = 1u << 26;
constexpr uint32_t kEdxInvariantTsc = 1u << 8;
// CR3 bits 11:0 (PWT, PCD, or a PCID) are kept from the loader's value only
// on restore; ours are 0: the root tables are write-back, PCIDs are off
// (relocate_kernel leaves CR4.PCIDE clear).
constexpr uint64_t kCr3FrameMask = ~uint64_t{0xfff};

// The page-table pool: page aligned, in .bss (the section name makes GCC
// emit it as NOBITS despite -fno-zero-initialized-in-bss). Two halves: the
// tables built at entry in one; map_device_registers builds the next set in
// the other while the first stays loaded.
[[gnu::section(".bss.limbo_page_tables")]] alignas(x86::paging::kPageSize) uint8_t
    page_table_pool[2][kPageTablePoolPages * x86::paging::kPageSize];

// What the tables at entry were built from, kept for a rebuild: the same
// request is derived again from it (identity_request), plus the device
// ranges. Plain data, all zero until the first build: a NOBITS global.
struct Rebuild {
  Touched touched;
  uint64_t image, image_end;
  unsigned levels;
  bool gib_pages;
  unsigned active_half;
  bool built;
};
[[gnu::section(".bss.limbo_paging_rebuild")]] Rebuild rebuild;

// The tables are written through the loader's identity map (physical ==
// virtual), before they are loaded.
struct PoolMemory {
  void zero_table(uint64_t table) {
    volatile uint64_t* t = reinterpret_cast<volatile uint64_t*>(table);
    for (unsigned i = 0; i < x86::paging::kEntriesPerTable; ++i) t[i] = 0;
  }
  void write_entry(uint64_t table, unsigned index, uint64_t entry) {
    reinterpret_cast<volatile uint64_t*>(table)[index] = entry;
  }
};

}  // namespace

AddressSpace enter_own_address_space(const Touched& touched) {
  AddressSpace space;
  space.loader_cr3 = read_cr3();
  space.levels = (read_cr4() & kCr4La57) != 0 ? 5 : 4;
  const uint32_t max_ext = cpu::cpuid(0x80000000u).eax;
  space.gib_pages = max_ext >= kExtLeafFeatures && (cpu::cpuid(kExtLeafFeatures).edx & kEdxPage1Gb) != 0;
  space.tsc_invariant = max_ext >= kExtLeafPower && (cpu::cpuid(kExtLeafPower).edx & kEdxInvariantTsc) != 0;

  // 1.5 KiB on the stack, gone before the flow's deeper calls start.
  x86::paging::Request request;
  request.levels = space.levels;
  request.gib_pages = space.gib_pages;
  bool ecam_requested = false;
  const uint64_t image = reinterpret_cast<uint64_t>(purgatory_start);
  if (!identity_request(touched, image, reinterpret_cast<uint64_t>(limbo_image_end), request, ecam_requested)) {
    space.request_full = true;
    return space;
  }
  PoolMemory memory;
  x86::paging::Builder<PoolMemory> builder(memory, reinterpret_cast<uint64_t>(page_table_pool[0]), kPageTablePoolPages);
  space.result = builder.build(request);
  if (!space.result.ok()) return space;
  write_cr3(space.result.root & kCr3FrameMask);
  space.own_tables = true;
  space.ecam_mapped = ecam_requested;
  rebuild.touched = touched;
  rebuild.levels = request.levels;
  rebuild.gib_pages = request.gib_pages;
  rebuild.image = image;
  rebuild.image_end = reinterpret_cast<uint64_t>(limbo_image_end);
  rebuild.active_half = 0;
  rebuild.built = true;
  return space;
}

bool map_device_registers(const pcie::MmioRange* ranges, size_t count) {
  if (!rebuild.built) return false;
  // 1.5 KiB on the stack, as at entry.
  x86::paging::Request request;
  request.levels = rebuild.levels;
  request.gib_pages = rebuild.gib_pages;
  bool ecam_requested = false;
  bool ok = identity_request(rebuild.touched, rebuild.image, rebuild.image_end, request, ecam_requested);
  for (size_t i = 0; i < count && ok; ++i) {
    const pcie::MmioRange& r = ranges[i];
    ok = r.size != 0 && r.base + r.size > r.base &&
         !overlaps_loaded(rebuild.touched, rebuild.image, rebuild.image_end, r.base, r.size) &&
         request.map_uncached(r.base, r.size);
  }
  if (ok) {
    const unsigned next = rebuild.active_half ^ 1u;
    PoolMemory memory;
    x86::paging::Builder<PoolMemory> builder(memory, reinterpret_cast<uint64_t>(page_table_pool[next]),
                                             kPageTablePoolPages);
    const x86::paging::Result result = builder.build(request);
    if (result.ok()) {
      write_cr3(result.root & kCr3FrameMask);
      rebuild.active_half = next;
      return true;
    }
  }
  return false;
}

void leave_own_address_space(const AddressSpace& space) {
  if (space.own_tables) write_cr3(space.loader_cr3);
}

}  // namespace limbo::arch
