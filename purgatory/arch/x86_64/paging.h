// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's own identity page tables: built into a pool of 4 KiB pages
// it owns, so that ECAM (which the loader's identity map leaves out) is
// reachable, uncached, and nothing it touches depends on tables in memory it
// does not own. Portable description of x86-64 paging (no inline assembly):
// the host tests build tables with it and walk them.
// Reference: Intel SDM Vol. 3A §4.5 (4-level and 5-level paging), Tables
// 4-14 to 4-20 (entry formats), §11.12.3 (PAT index from PAT/PCD/PWT).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/reg.h"

namespace limbo::x86::paging {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr unsigned kEntriesPerTable = 512;

// Level 0 is the page table (4 KiB entries), 1 the page directory (2 MiB),
// 2 the PDPT (1 GiB), 3 the PML4 (512 GiB), 4 the PML5 (256 TiB).
[[nodiscard]] constexpr uint64_t entry_span(unsigned level) { return uint64_t{1} << (12 + 9 * level); }
inline constexpr uint64_t k2MiB = uint64_t{1} << 21;
inline constexpr uint64_t k1GiB = uint64_t{1} << 30;
inline constexpr uint64_t k4GiB = uint64_t{4} << 30;

// A paging-structure entry (SDM Vol. 3A Tables 4-15 to 4-20). Bit 7 is PS in
// PDPTEs and PDEs and the PAT bit in a PTE; Limbo never sets it in a PTE, so
// with PCD/PWT the PAT index is 0 (WB) or 3 (UC) in both the power-on PAT
// and Linux's (SDM §11.12.3: index = PAT:PCD:PWT).
struct Entry : reg::Register<Entry, uint64_t> {
  LIMBO_REG_FIELD(51, 12, frame)  // physical address >> 12
  LIMBO_REG_BIT(7, page_size)     // PDPTE/PDE: maps a 1 GiB / 2 MiB page
  LIMBO_REG_BIT(4, cache_disable)   // PCD
  LIMBO_REG_BIT(3, write_through)   // PWT
  LIMBO_REG_BIT(1, writable)
  LIMBO_REG_BIT(0, present)
  [[nodiscard]] constexpr uint64_t address() const { return frame() << 12; }
};

enum class CacheMode : uint8_t {
  kWriteBack,  // PAT index 0: RAM
  kUncached,   // PCD|PWT, PAT index 3: ECAM (PCIe r6.0 §7.2.2: config requests must not be merged or cached)
};

struct Range {
  uint64_t base;
  uint64_t size;
  [[nodiscard]] constexpr uint64_t end() const { return base + size; }
  [[nodiscard]] constexpr bool overlaps(uint64_t b, uint64_t e) const { return size != 0 && base < e && b < end(); }
  [[nodiscard]] constexpr bool covers(uint64_t b, uint64_t e) const { return size != 0 && base <= b && e <= end(); }
};

// What to map: `mapped` ranges identity-mapped write-back, except where an
// `uncached` range lies (those are mapped too, uncached). Addresses outside
// every range stay not present; a large page may map a little more than was
// asked for, never less.
inline constexpr size_t kMaxRanges = 48;
struct Request {
  unsigned levels = 4;       // 4, or 5 when CR4.LA57 is set (SDM §4.5.1)
  bool gib_pages = false;    // CPUID 8000_0001h EDX[26] (Page1GB)
  Range mapped[kMaxRanges] = {};
  size_t mapped_count = 0;
  Range uncached[kMaxRanges] = {};
  size_t uncached_count = 0;

  // False when the table is full (the caller reports it).
  [[nodiscard]] constexpr bool map(uint64_t base, uint64_t size) { return add(mapped, mapped_count, base, size); }
  [[nodiscard]] constexpr bool map_uncached(uint64_t base, uint64_t size) {
    return add(uncached, uncached_count, base, size) && add(mapped, mapped_count, base, size);
  }

 private:
  static constexpr bool add(Range* ranges, size_t& count, uint64_t base, uint64_t size) {
    if (size == 0) return true;
    if (count == kMaxRanges) return false;
    ranges[count++] = Range{base, size};
    return true;
  }
};

enum class Error : uint8_t {
  kNone,
  kOutOfTables,   // the pool had too few pages for the request
  kBadLevels,     // levels is neither 4 nor 5
  kBeyondAddressSpace,  // a range ends above what the paging depth translates
};

[[nodiscard]] constexpr const char* error_text(Error e) {
  switch (e) {
    case Error::kNone: return "ok";
    case Error::kOutOfTables: return "page-table pool too small";
    case Error::kBadLevels: return "paging depth is neither 4 nor 5 levels";
    case Error::kBeyondAddressSpace: return "range beyond the linear address space";
  }
  return "?";
}

struct Result {
  Error error = Error::kNone;
  uint64_t root = 0;          // physical address for CR3 (PML4 or PML5)
  size_t tables = 0;          // pages of the pool used
  size_t pages_4k = 0, pages_2m = 0, pages_1g = 0;  // leaves written
  [[nodiscard]] constexpr bool ok() const { return error == Error::kNone; }
};

// Memory requirements:
//   void write_entry(uint64_t table_phys, unsigned index, uint64_t entry);
//   void zero_table(uint64_t table_phys);
// The pool is `pool_pages` 4 KiB-aligned pages at physical `pool_phys`.
template <class Memory>
class Builder {
 public:
  Builder(Memory& memory, uint64_t pool_phys, size_t pool_pages)
      : memory_(memory), pool_phys_(pool_phys), pool_pages_(pool_pages) {}

  [[nodiscard]] Result build(const Request& request) {
    request_ = &request;
    result_ = Result{};
    if (request.levels != 4 && request.levels != 5) return fail(Error::kBadLevels);
    const uint64_t limit = entry_span(request.levels - 1) * kEntriesPerTable;  // 2^48 or 2^57
    for (size_t i = 0; i < request.mapped_count; ++i) {
      if (request.mapped[i].end() > limit || request.mapped[i].end() < request.mapped[i].base) {
        return fail(Error::kBeyondAddressSpace);
      }
    }
    uint64_t root = 0;
    if (!allocate(root)) return fail(Error::kOutOfTables);
    const bool filled = request.levels == 5 ? fill<4>(root, 0) : fill<3>(root, 0);
    if (!filled) return fail(Error::kOutOfTables);
    result_.root = root;
    return result_;
  }

 private:
  Result fail(Error e) {
    result_.error = e;
    return result_;
  }

  bool allocate(uint64_t& table) {
    if (result_.tables == pool_pages_) return false;
    table = pool_phys_ + kPageSize * result_.tables++;
    memory_.zero_table(table);
    return true;
  }

  bool wanted(uint64_t b, uint64_t e) const {
    for (size_t i = 0; i < request_->mapped_count; ++i)
      if (request_->mapped[i].overlaps(b, e)) return true;
    return false;
  }

  // kWriteBack or kUncached when [b, e) has one cache mode; false otherwise.
  bool uniform(uint64_t b, uint64_t e, CacheMode& mode) const {
    bool any_uncached = false;
    for (size_t i = 0; i < request_->uncached_count; ++i) {
      const Range& r = request_->uncached[i];
      if (r.covers(b, e)) {
        mode = CacheMode::kUncached;
        return true;
      }
      if (r.overlaps(b, e)) any_uncached = true;
    }
    // Partly uncached, possibly by several adjacent ranges: split further
    // (at 4 KiB the ranges' own page alignment decides).
    if (any_uncached) return false;
    mode = CacheMode::kWriteBack;
    return true;
  }

  static uint64_t leaf(uint64_t address, unsigned level, CacheMode mode) {
    Entry e = Entry{}.set_present(true).set_writable(true).set_page_size(level > 0);
    if (mode == CacheMode::kUncached) e.set_cache_disable(true).set_write_through(true);
    e.set_frame(address >> 12);
    return e.value;
  }

  // Fills the table at `table` (of `Level`) translating [base, base + 512 spans).
  // One function per level (a template, not recursion): the purgatory's
  // stack bound is computed over a call graph without cycles.
  template <unsigned Level>
  bool fill(uint64_t table, uint64_t base) {
    constexpr uint64_t kSpan = entry_span(Level);
    const bool leaf_allowed = Level == 0 || Level == 1 || (Level == 2 && request_->gib_pages);
    for (unsigned i = 0; i < kEntriesPerTable; ++i) {
      const uint64_t b = base + kSpan * i;
      const uint64_t e = b + kSpan;
      if (!wanted(b, e)) continue;
      CacheMode mode = CacheMode::kWriteBack;
      if (Level == 0) {
        uniform_4k(b, mode);
      } else if (!leaf_allowed || !uniform(b, e, mode)) {
        if constexpr (Level > 0) {
          uint64_t next = 0;
          if (!allocate(next)) return false;
          memory_.write_entry(table, i, Entry{}.set_present(true).set_writable(true).set_frame(next >> 12).value);
          if (!fill<Level - 1>(next, b)) return false;
        }
        continue;
      }
      memory_.write_entry(table, i, leaf(b, Level, mode));
      ++(Level == 0 ? result_.pages_4k : Level == 1 ? result_.pages_2m : result_.pages_1g);
    }
    return true;
  }

  // A 4 KiB page is uncached when any uncached range touches it: a range that
  // is not page aligned gets its partial pages uncached (safe for RAM, and
  // never the other way round for MMIO).
  void uniform_4k(uint64_t b, CacheMode& mode) const {
    mode = CacheMode::kWriteBack;
    for (size_t i = 0; i < request_->uncached_count; ++i)
      if (request_->uncached[i].overlaps(b, b + kPageSize)) mode = CacheMode::kUncached;
  }

  Memory& memory_;
  uint64_t pool_phys_;
  size_t pool_pages_;
  const Request* request_ = nullptr;
  Result result_;
};

}  // namespace limbo::x86::paging
