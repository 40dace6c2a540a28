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

// The physical ranges the purgatory and the next steps touch. `ecam` may be
// null (block refused or PCIe off): then no window is mapped.
struct Touched {
  const abi::Sha256Region* regions;  // kSha256RegionCount entries
  uint64_t backup_start, backup_src_start, backup_src_size;
  uint64_t cmdline_end;
  const abi::PcieSettings* pcie;
};

// Builds and loads the tables. On any failure the loader's tables stay and
// ECAM is reported unreachable.
AddressSpace enter_own_address_space(const Touched& touched);

// Puts the loader's CR3 back (nothing when ours were never loaded).
void leave_own_address_space(const AddressSpace& space);

}  // namespace limbo::arch
