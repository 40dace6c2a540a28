// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's identity page-table builder (arch/x86_64/paging.h) on a fake
// physical memory: the tables are built, then walked as the CPU walks them
// (SDM Vol. 3A §4.5), and every translation and its cache bits checked.
#include "arch/x86_64/paging.h"

#include "arch/x86_64/address_space.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <optional>

namespace limbo::x86::paging {
namespace {

constexpr uint64_t kPool = 0x7f000000;  // where the fake pool "lives"
constexpr uint64_t kEcam = 0xb0000000;  // QEMU q35
constexpr uint64_t kEcamSize = 256ull << 20;
constexpr uint64_t kVga = 0xa0000;
constexpr uint64_t kVgaSize = 0x20000;

struct FakeMemory {
  std::map<uint64_t, std::array<uint64_t, kEntriesPerTable>> tables;
  int writes_outside_pool = 0;
  size_t pool_pages = 0;

  void zero_table(uint64_t table) {
    check(table);
    tables[table].fill(0);
  }
  void write_entry(uint64_t table, unsigned index, uint64_t entry) {
    check(table);
    ASSERT_LT(index, kEntriesPerTable);
    tables.at(table)[index] = entry;
  }
  void check(uint64_t table) {
    if (table < kPool || table >= kPool + pool_pages * kPageSize || table % kPageSize != 0) ++writes_outside_pool;
  }
};

struct Translation {
  uint64_t phys;
  uint64_t page_size;
  bool uncached;  // PCD and PWT both set
  bool pat_bit;   // must never be set
};

// The CPU's walk: from CR3 through `levels` tables to a leaf.
std::optional<Translation> walk(const FakeMemory& mem, uint64_t root, unsigned levels, uint64_t address) {
  uint64_t table = root;
  for (int level = static_cast<int>(levels) - 1; level >= 0; --level) {
    const unsigned index = (address >> (12 + 9 * level)) & 511;
    auto it = mem.tables.find(table);
    if (it == mem.tables.end()) return std::nullopt;
    const Entry e = Entry::from_value(it->second[index]);
    if (!e.present()) return std::nullopt;
    const bool is_leaf = level == 0 || e.page_size();
    if (is_leaf) {
      // 4-level: PS in a PML4E is reserved; 5-level likewise in a PML5E.
      EXPECT_LE(level, 2) << "PS set above the PDPT";
      const uint64_t size = entry_span(static_cast<unsigned>(level));
      const uint64_t frame = e.address() & ~(size - 1);
      EXPECT_EQ(e.address() & (size - 1), 0u) << "leaf frame not aligned to its page size";
      const bool pat = level == 0 ? e.page_size() : ((e.value >> 12) & 1) != 0;
      EXPECT_EQ(e.cache_disable(), e.write_through()) << "PCD and PWT differ: neither WB nor UC";
      return Translation{frame + (address & (size - 1)), size, e.cache_disable(), pat};
    }
    EXPECT_FALSE(e.cache_disable());
    table = e.address();
  }
  return std::nullopt;
}

class PagingTest : public ::testing::Test {
 protected:
  Result build(size_t pool_pages = 64) {
    mem.pool_pages = pool_pages;
    Builder<FakeMemory> builder(mem, kPool, pool_pages);
    result = builder.build(request);
    return result;
  }
  // Identity and the expected cache mode at `address`.
  void expect_mapped(uint64_t address, bool uncached) {
    auto t = walk(mem, result.root, request.levels, address);
    ASSERT_TRUE(t.has_value()) << std::hex << "not mapped: 0x" << address;
    EXPECT_EQ(t->phys, address) << std::hex << "not identity at 0x" << address;
    EXPECT_EQ(t->uncached, uncached) << std::hex << "cache mode at 0x" << address;
    EXPECT_FALSE(t->pat_bit);
  }
  void expect_unmapped(uint64_t address) {
    EXPECT_FALSE(walk(mem, result.root, request.levels, address).has_value())
        << std::hex << "mapped: 0x" << address;
  }
  bool in(uint64_t a, uint64_t base, uint64_t size) { return a >= base && a < base + size; }

  // The purgatory's usual request: low 4 GiB, VGA hole and ECAM uncached.
  void low4g_with_ecam() {
    ASSERT_TRUE(request.map(0, k4GiB));
    ASSERT_TRUE(request.map_uncached(kVga, kVgaSize));
    ASSERT_TRUE(request.map_uncached(kEcam, kEcamSize));
  }
  void check_low4g_with_ecam() {
    for (uint64_t a = 0; a < k4GiB; a += 0x100000 - 0x1000) {
      expect_mapped(a, in(a, kEcam, kEcamSize) || in(a, kVga, kVgaSize));
    }
    expect_mapped(kVga - 1, false);
    expect_mapped(kVga, true);
    expect_mapped(kVga + kVgaSize - 1, true);
    expect_mapped(kVga + kVgaSize, false);
    expect_mapped(0xb8000, true);
    expect_mapped(kEcam - 1, false);
    expect_mapped(kEcam, true);
    expect_mapped(kEcam + kEcamSize - 1, true);
    expect_mapped(kEcam + kEcamSize, false);
    expect_mapped(k4GiB - 1, false);
    expect_unmapped(k4GiB);
    expect_unmapped(k4GiB + k1GiB);
    EXPECT_EQ(mem.writes_outside_pool, 0);
  }

  FakeMemory mem;
  Request request;
  Result result;
};

TEST_F(PagingTest, FourLevels2MiBPagesLow4GiBWithEcamAndVgaUncached) {
  low4g_with_ecam();
  ASSERT_TRUE(build().ok());
  check_low4g_with_ecam();
  // PML4, PDPT, 4 page directories, one page table for the first 2 MiB (VGA).
  EXPECT_EQ(result.tables, 7u);
  EXPECT_EQ(result.pages_1g, 0u);
  EXPECT_EQ(result.pages_2m, 4u * 512 - 1);
  EXPECT_EQ(result.pages_4k, 512u);
  EXPECT_EQ(result.root, kPool);
}

TEST_F(PagingTest, GiBPagesWhereTheCacheModeIsUniform) {
  low4g_with_ecam();
  request.gib_pages = true;
  ASSERT_TRUE(build().ok());
  check_low4g_with_ecam();
  // GiB 1 and 3 are single pages; GiB 0 (VGA) and GiB 2 (ECAM) are split.
  EXPECT_EQ(result.pages_1g, 2u);
  EXPECT_EQ(result.tables, 5u);  // PML4, PDPT, PD for GiB 0, its PT, PD for GiB 2
  EXPECT_EQ(walk(mem, result.root, 4, k1GiB + 5)->page_size, k1GiB);
  EXPECT_EQ(walk(mem, result.root, 4, kEcam)->page_size, k2MiB);
}

TEST_F(PagingTest, FiveLevelsFollowLa57) {
  low4g_with_ecam();
  request.levels = 5;
  const uint64_t high = uint64_t{1} << 50;  // only reachable with 5 levels
  ASSERT_TRUE(request.map(high, k2MiB));
  ASSERT_TRUE(build().ok());
  check_low4g_with_ecam();
  expect_mapped(high, false);
  expect_mapped(high + k2MiB - 1, false);
  expect_unmapped(high + k2MiB);
  EXPECT_EQ(result.tables, 1u + 7u + 3u);  // PML5 + low tables + (PML4, PDPT, PD) for the high page
}

TEST_F(PagingTest, HighRegionsCostTablesForWhatIsUsedOnly) {
  low4g_with_ecam();
  const uint64_t kernel = 60 * k1GiB + 0x345000;  // crashkernel=...,high
  ASSERT_TRUE(request.map(kernel, 0x1200000));
  ASSERT_TRUE(build().ok());
  check_low4g_with_ecam();
  expect_mapped(kernel, false);
  expect_mapped(kernel + 0x1200000 - 1, false);
  expect_unmapped(kernel - k2MiB);                 // the 2 MiB page below the one holding it
  expect_unmapped(kernel + 0x1200000 + k2MiB);     // nor above
  expect_unmapped(30 * k1GiB);
  EXPECT_EQ(result.tables, 8u);  // one more page directory
}

TEST_F(PagingTest, EcamWindowNotAlignedTo2MiBGets4KiBPagesAtItsEdges) {
  ASSERT_TRUE(request.map(0, k4GiB));
  const uint64_t one_bus = 0xe0100000;  // a window of one bus: 1 MiB
  ASSERT_TRUE(request.map_uncached(one_bus, 1 << 20));
  ASSERT_TRUE(build().ok());
  expect_mapped(one_bus - 1, false);
  expect_mapped(one_bus, true);
  expect_mapped(one_bus + (1 << 20) - 1, true);
  expect_mapped(one_bus + (1 << 20), false);
  EXPECT_EQ(walk(mem, result.root, 4, one_bus)->page_size, kPageSize);
  EXPECT_EQ(walk(mem, result.root, 4, 0xe0400000)->page_size, k2MiB);
}

TEST_F(PagingTest, AdjacentUncachedRangesSplitOnlyWhereNeeded) {
  ASSERT_TRUE(request.map(0, k4GiB));
  ASSERT_TRUE(request.map_uncached(0xc0000000, 0x08000000));
  ASSERT_TRUE(request.map_uncached(0xc8000000, 0x08000000));
  request.gib_pages = true;
  ASSERT_TRUE(build().ok());
  expect_mapped(0xc0000000, true);
  expect_mapped(0xcfffffff, true);
  expect_mapped(0xd0000000, false);
  EXPECT_EQ(walk(mem, result.root, 4, 0xc4000000)->page_size, k2MiB);
}

TEST_F(PagingTest, EcamAbove4GiB) {
  ASSERT_TRUE(request.map(0, k4GiB));
  const uint64_t ecam = 0x3ff00000000;  // a server's second segment
  ASSERT_TRUE(request.map_uncached(ecam, 64 << 20));
  ASSERT_TRUE(build().ok());
  expect_mapped(ecam, true);
  expect_mapped(ecam + (64 << 20) - 1, true);
  expect_unmapped(ecam + (64 << 20));
  expect_mapped(0x1000, false);
}

TEST_F(PagingTest, PoolTooSmallIsAnErrorNotAnOverrun) {
  low4g_with_ecam();
  for (size_t pages = 0; pages < 7; ++pages) {
    mem = FakeMemory{};
    EXPECT_EQ(build(pages).error, Error::kOutOfTables) << pages;
    EXPECT_EQ(mem.writes_outside_pool, 0);
  }
  mem = FakeMemory{};
  EXPECT_TRUE(build(7).ok());
}

TEST_F(PagingTest, RangeBeyondFourLevelsIsRefused) {
  ASSERT_TRUE(request.map(uint64_t{1} << 48, k2MiB));
  EXPECT_EQ(build().error, Error::kBeyondAddressSpace);
  request.levels = 5;
  EXPECT_TRUE(build().ok());
  request.levels = 3;
  EXPECT_EQ(build().error, Error::kBadLevels);
}

TEST_F(PagingTest, RequestTableFull) {
  for (size_t i = 0; i < kMaxRanges; ++i) ASSERT_TRUE(request.map(i * k1GiB, 1));
  EXPECT_FALSE(request.map(kMaxRanges * k1GiB, 1));
  EXPECT_TRUE(request.map(0, 0));  // empty: nothing to add
}

// ---- What the purgatory asks for (arch/x86_64/address_space.h) ----------

class IdentityRequestTest : public PagingTest {
 protected:
  void SetUp() override {
    // The QEMU limbo-fabric load (crashkernel=256M at 0x39000000).
    regions[0] = {0x39e00000, 0x3f98000};  // kernel
    regions[1] = {0x3de2a000, 0x124000};   // initrd
    regions[2] = {0x3df4e000, 0x6000};     // boot params
    regions[4] = {0x3df5d000, 0x4000};     // elfcorehdr
    regions[5] = {0x3df61000, 0x9f000};    // backup
    config = abi::Config{};
    config.pcie.mode = static_cast<uint32_t>(abi::PcieMode::kReset);
    config.pcie.ecam_count = 1;
    config.pcie.ecam[0] = abi::EcamWindow{kEcam, 0, 0, 255, 0};
    touched = arch::Touched{regions, 0x3df61000, 0x1000, 0x9ec00, 0x3df4e000 + 0x5000, &config};
  }
  Result build_request(size_t pool = arch::kPageTablePoolPages) {
    EXPECT_TRUE(arch::identity_request(touched, image, image_end, request, ecam_requested));
    return build(pool);
  }
  void expect_touched_mapped() {
    for (const auto& r : regions) {
      if (r.len == 0) continue;
      expect_mapped(r.start, false);
      expect_mapped(r.start + r.len - 1, false);
    }
    expect_mapped(touched.backup_start, false);
    expect_mapped(touched.backup_start + touched.backup_src_size - 1, false);
    expect_mapped(touched.backup_src_start + touched.backup_src_size - 1, false);
    expect_mapped(touched.cmdline_end + abi::kCmdlineSpareBytes, false);
    expect_mapped(image, false);
    expect_mapped(image_end - 1, false);
    expect_mapped(0xb8000, true);  // the VGA console
  }

  abi::Sha256Region regions[abi::kSha256RegionCount] = {};
  abi::Config config;
  arch::Touched touched{};
  uint64_t image = 0x3ddeb000, image_end = 0x3de2a000;
  bool ecam_requested = false;
};

TEST_F(IdentityRequestTest, QemuLoadFitsThePoolWithEcamUncached) {
  ASSERT_TRUE(build_request().ok());
  EXPECT_TRUE(ecam_requested);
  expect_touched_mapped();
  expect_mapped(kEcam, true);
  expect_mapped(kEcam + kEcamSize - 1, true);
  expect_mapped(kEcam + kEcamSize, false);
  EXPECT_EQ(result.tables, 7u);  // what the QEMU console line says
}

TEST_F(IdentityRequestTest, PcieOffOrRefusedBlockMapsNoEcamUncached) {
  config.pcie.mode = static_cast<uint32_t>(abi::PcieMode::kOff);
  ASSERT_TRUE(build_request().ok());
  EXPECT_FALSE(ecam_requested);
  expect_touched_mapped();
  expect_mapped(kEcam, false);  // inside the low 4 GiB: plain, never touched
  touched.config = nullptr;
  request = Request{};
  mem = FakeMemory{};
  ASSERT_TRUE(build_request().ok());
  EXPECT_FALSE(ecam_requested);
}

TEST_F(IdentityRequestTest, MemoryMappedResetRegisterIsUncached) {
  config.reset_register = abi::ResetRegister{0, 8, 0, 1, 0x06, 1, 0, 0x1fed00cf9};  // above 4 GiB
  ASSERT_TRUE(build_request().ok());
  expect_mapped(0x1fed00cf9, true);
  expect_unmapped(0x1fed00000 - 1);
  expect_unmapped(0x1fed01000 + k2MiB);
}

TEST_F(IdentityRequestTest, HighCrashKernelFitsThePool) {
  // crashkernel=512M,high at 60 GiB: every segment and the purgatory there,
  // the backup region low; no 1 GiB pages (QEMU's default CPU).
  const uint64_t base = 60 * k1GiB;
  regions[0] = {base, 0x4000000};
  regions[1] = {base + 0x4000000, 0x1000000};
  regions[2] = {base + 0x5000000, 0x6000};
  regions[4] = {base + 0x5010000, 0x4000};
  regions[5] = {base + 0x5020000, 0x9f000};
  touched.backup_start = base + 0x5020000;
  touched.cmdline_end = base + 0x5005000;
  image = base + 0x6000000;
  image_end = image + 0x3f000;
  ASSERT_TRUE(build_request().ok());
  expect_touched_mapped();
  EXPECT_LE(result.tables, arch::kPageTablePoolPages);
}

TEST_F(IdentityRequestTest, ScatteredHighRegionsRunOutOfPoolAndSayWhy) {
  // Sixteen regions each in its own 512 GiB: more tables than the pool has.
  for (size_t i = 0; i < abi::kSha256RegionCount; ++i) regions[i] = {(i + 1) * (uint64_t{512} << 30), 0x1000};
  EXPECT_EQ(build_request().error, Error::kOutOfTables);
  EXPECT_EQ(mem.writes_outside_pool, 0);
}

}  // namespace
}  // namespace limbo::x86::paging

namespace limbo::x86::paging {
namespace {

// The rebuild for the class resets' device registers
// (arch::map_device_registers): the same request plus the BAR blocks,
// uncached; refused over anything the loader placed.
TEST_F(IdentityRequestTest, DeviceRegistersAreMappedUncachedAndOnlyThem) {
  // limbo-flat's virtio common configuration (BAR4 0xfea00000) and an NVMe
  // BAR0 above 4 GiB.
  EXPECT_TRUE(arch::identity_request(touched, image, image_end, request, ecam_requested));
  ASSERT_TRUE(request.map_uncached(0xfea00000, 0x15));
  ASSERT_TRUE(request.map_uncached(0x800000000, 0x20));
  ASSERT_TRUE(build(arch::kPageTablePoolPages).ok());
  expect_touched_mapped();
  expect_mapped(0xfea00000, true);
  expect_mapped(0xfea00014, true);
  expect_mapped(0xfea01000, false);  // the next page keeps write-back
  expect_mapped(0xfe9ff000, false);
  expect_mapped(0x800000000, true);
  expect_unmapped(0x800001000);
  expect_unmapped(0x7ffffffff);
  // 7 at entry, one page table for the 2 MiB around the virtio block, a
  // PDPT entry's directory and a page table for the high one.
  EXPECT_EQ(result.tables, 10u);
  EXPECT_LE(result.tables, arch::kPageTablePoolPages);
}

TEST_F(IdentityRequestTest, DeviceRangesOverWhatTheLoaderPlacedAreRefused) {
  EXPECT_FALSE(arch::overlaps_loaded(touched, image, image_end, 0xfea00000, 0x15));
  EXPECT_TRUE(arch::overlaps_loaded(touched, image, image_end, regions[0].start + 0x1000, 0x20));  // the kernel
  EXPECT_TRUE(arch::overlaps_loaded(touched, image, image_end, regions[1].start - 0x10, 0x20));    // straddles the initrd
  EXPECT_TRUE(arch::overlaps_loaded(touched, image, image_end, image + 0x100, 0x20));              // the purgatory
  EXPECT_TRUE(arch::overlaps_loaded(touched, image, image_end, touched.cmdline_end + 8, 4));       // the report's bytes
  EXPECT_TRUE(arch::overlaps_loaded(touched, image, image_end, touched.backup_start, 1));          // backup copy
  EXPECT_FALSE(arch::overlaps_loaded(touched, image, image_end, regions[0].start - 0x20, 0x20));  // ends where it starts
}

}  // namespace
}  // namespace limbo::x86::paging
