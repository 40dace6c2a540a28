// SPDX-License-Identifier: GPL-2.0-only
// The ECAM ConfigSpace backend (arch/x86_64/ecam.h) over host memory posing as
// two ECAM windows: every access lands at base + (bus - start) << 20 |
// dev << 15 | fn << 12 | offset, and nothing is ever touched outside a window.
#include "arch/x86_64/ecam.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace limbo::arch {
namespace {

using pcie::make_address;

class EcamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Segment 0 buses 4-5; segment 1 bus 0 only. A guard MiB around each.
    seg0.assign(4 << 20, 0xaa);
    seg1.assign(3 << 20, 0xaa);
    windows[0] = abi::EcamWindow{reinterpret_cast<uint64_t>(seg0.data()) + (1 << 20), 0, 4, 5, 0};
    windows[1] = abi::EcamWindow{reinterpret_cast<uint64_t>(seg1.data()) + (1 << 20), 1, 0, 0, 0};
  }
  uint8_t* at(std::vector<uint8_t>& seg, uint64_t offset) { return seg.data() + (1 << 20) + offset; }
  bool guards_intact() {
    for (auto* seg : {&seg0, &seg1}) {
      const size_t n = seg->size();
      const size_t body = n - (2 << 20);
      for (size_t i = 0; i < (1u << 20); ++i)
        if ((*seg)[i] != 0xaa || (*seg)[(1 << 20) + body + i] != 0xaa) return false;
    }
    return true;
  }

  std::vector<uint8_t> seg0, seg1;
  abi::EcamWindow windows[2];
};

TEST_F(EcamTest, AddressesFollowTheEcamLayout) {
  EcamConfigSpace ecam(pcie::EcamMap(windows, 2));
  const abi::PciAddress a = make_address(0, 5, 3, 2);  // bus 5 is the window's second
  const uint64_t off = (1 << 20) | (3 << 15) | (2 << 12);
  ecam.write32(a, 0x10, 0x12345678);
  uint32_t v32;
  std::memcpy(&v32, at(seg0, off + 0x10), 4);
  EXPECT_EQ(v32, 0x12345678u);
  EXPECT_EQ(ecam.read16(a, 0x12), 0x1234);
  EXPECT_EQ(ecam.read8(a, 0x13), 0x12);
  ecam.write16(a, 0x3e, 0x0040);
  EXPECT_EQ(at(seg0, off + 0x3e)[0], 0x40);
  EXPECT_EQ(at(seg0, off + 0x3e)[1], 0x00);
  ecam.write8(a, 0xfff, 0x5a);  // last byte of the extended config space
  EXPECT_EQ(at(seg0, off + 0xfff)[0], 0x5a);

  const abi::PciAddress b = make_address(1, 0, 31, 7);
  ecam.write32(b, 0x100, 0xcafef00d);
  std::memcpy(&v32, at(seg1, (31 << 15) | (7 << 12) | 0x100), 4);
  EXPECT_EQ(v32, 0xcafef00du);
  EXPECT_TRUE(guards_intact());
}

TEST_F(EcamTest, NothingOutsideAWindow) {
  EcamConfigSpace ecam(pcie::EcamMap(windows, 2));
  EXPECT_TRUE(ecam.in_window(0, 4));
  EXPECT_TRUE(ecam.in_window(0, 5));
  EXPECT_FALSE(ecam.in_window(0, 3));
  EXPECT_FALSE(ecam.in_window(0, 6));
  EXPECT_FALSE(ecam.in_window(1, 1));
  EXPECT_FALSE(ecam.in_window(2, 0));
  for (const abi::PciAddress a : {make_address(0, 3, 0, 0), make_address(0, 6, 0, 0), make_address(1, 1, 0, 0),
                                  make_address(2, 0, 0, 0)}) {
    EXPECT_EQ(ecam.read32(a, 0), 0xffffffffu);
    EXPECT_EQ(ecam.read16(a, 0), 0xffff);
    EXPECT_EQ(ecam.read8(a, 0), 0xff);
    ecam.write32(a, 0, 0);
    ecam.write16(a, 4, 0);
    ecam.write8(a, 8, 0);
  }
  EXPECT_TRUE(guards_intact());
}

TEST_F(EcamTest, BeyondTheConfigSpaceOrMisalignedIsNoAccess) {
  EcamConfigSpace ecam(pcie::EcamMap(windows, 2));
  const abi::PciAddress last = make_address(0, 5, 31, 7);  // its space ends where the guard starts
  ecam.write32(last, 0xffc, 0);
  EXPECT_EQ(ecam.read32(last, 0xffc), 0u);
  ecam.write32(last, 0xffe, 0);      // misaligned
  ecam.write32(last, 0x1000, 0);     // beyond 4 KiB
  ecam.write16(last, 0xfff, 0);
  EXPECT_EQ(ecam.read32(last, 0x1000), 0xffffffffu);
  EXPECT_EQ(ecam.read16(last, 0x3f), 0xffff);
  EXPECT_TRUE(guards_intact());
}

TEST_F(EcamTest, NoWindowsNoAccess) {
  EcamConfigSpace ecam(pcie::EcamMap(windows, 0));
  EXPECT_FALSE(ecam.in_window(0, 4));
  EXPECT_EQ(ecam.read32(make_address(0, 4, 0, 0), 0), 0xffffffffu);
}

// Regression (tests/fuzz/config_block_fuzz): a corrupt block's window whose
// end wraps past 2^64 used to serve its buses, at addresses below its base.
TEST_F(EcamTest, AWindowThatWrapsServesNothing) {
  const abi::EcamWindow wrapping[] = {{0xfffffffffffffff8ull, 0, 0, 0, 0}, {0xfffffffffff00000ull, 1, 0, 1, 0}};
  const pcie::EcamMap map(wrapping, 2);
  EXPECT_FALSE(map.in_window(0, 0));
  EXPECT_FALSE(map.in_window(1, 0));
  EXPECT_EQ(map.physical_address(make_address(0, 0, 0, 0), 0), 0u);
  EXPECT_EQ(map.physical_address(make_address(1, 1, 0, 0), 0), 0u);
  EcamConfigSpace ecam(map);
  EXPECT_EQ(ecam.read32(make_address(0, 0, 0, 0), 0), 0xffffffffu);
  // The highest window that ends exactly at 2^64 - 1 still serves.
  const abi::EcamWindow top[] = {{0xfffffffffff00000ull, 2, 0, 0, 0}};
  EXPECT_TRUE(pcie::EcamMap(top, 1).in_window(2, 0));
}

}  // namespace
}  // namespace limbo::arch
