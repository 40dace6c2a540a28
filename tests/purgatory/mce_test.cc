// SPDX-License-Identifier: GPL-2.0-only
// The machine-check log (purgatory/lib/mce.h) on a fake MSR file: what is
// read behind which CPUID bit, which banks are printed, and that MCIP is
// cleared so a second machine check is delivered.
#include "lib/mce.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace limbo::mce {
namespace {

struct FakeMsr {
  std::map<uint32_t, uint64_t> values;
  std::vector<uint32_t> reads;
  std::vector<std::pair<uint32_t, uint64_t>> writes;
  uint64_t read(uint32_t index) {
    reads.push_back(index);
    auto it = values.find(index);
    EXPECT_NE(it, values.end()) << "read of an MSR that does not exist: 0x" << std::hex << index;
    return it == values.end() ? 0 : it->second;
  }
  void write(uint32_t index, uint64_t value) {
    writes.emplace_back(index, value);
    values[index] = value;
  }
};

struct StringSink {
  std::string text;
  void put(char c) { text += c; }
};

TEST(MachineCheck, CpuidBits) {
  EXPECT_FALSE(support_from_cpuid(0).exception);
  EXPECT_TRUE(support_from_cpuid(1u << 7).exception);
  EXPECT_FALSE(support_from_cpuid(1u << 7).banks);
  EXPECT_TRUE(support_from_cpuid((1u << 7) | (1u << 14)).banks);
  EXPECT_EQ(kCr4Mce, 0x40u);
}

TEST(MachineCheck, LogsValidBanksAndClearsMcip) {
  FakeMsr msr;
  msr.values[kMcgCap] = 0x0000000001000c04;  // 4 banks (bits 7:0), other capability bits set
  msr.values[kMcgStatus] = kMcgStatusRipv | kMcgStatusMcip;
  for (uint32_t i = 0; i < 4; ++i) {
    msr.values[kMc0Status + 4 * i] = 0;
    msr.values[kMc0Addr + 4 * i] = 0xdead0000 + i;
    msr.values[kMc0Misc + 4 * i] = 0x86;
  }
  msr.values[kMc0Status + 4 * 1] = kMciStatusVal | kMciStatusUc | kMciStatusEn | kMciStatusAddrv | 0x0150;
  msr.values[kMc0Status + 4 * 3] = kMciStatusVal | kMciStatusOver | kMciStatusPcc | kMciStatusMiscv;
  StringSink sink;
  const Record r = log_and_clear(sink, msr, Support{true, true});
  EXPECT_TRUE(r.msrs_read);
  EXPECT_EQ(r.banks, 4u);
  EXPECT_EQ(r.valid_banks, 2u);
  EXPECT_EQ(r.mcg_status, kMcgStatusRipv | kMcgStatusMcip);
  EXPECT_EQ(sink.text,
            "machine check: MCG_STATUS 0x5 (RIPV 1, EIPV 0, MCIP 1), 4 banks, 2 valid\n"
            "machine check: bank 1 status 0xb400000000000150 (UC 1, PCC 0, OVER 0) addr 0xdead0001 misc -\n"
            "machine check: bank 3 status 0xca00000000000000 (UC 0, PCC 1, OVER 1) addr - misc 0x86\n");
  // MCIP cleared by the one write, to MCG_STATUS; the banks stay for the next kernel.
  ASSERT_EQ(msr.writes.size(), 1u);
  EXPECT_EQ(msr.writes[0].first, kMcgStatus);
  EXPECT_EQ(msr.writes[0].second, 0u);
  EXPECT_EQ(msr.values[kMcgStatus] & kMcgStatusMcip, 0u);
  // No bank beyond MCG_CAP.Count was read.
  for (uint32_t index : msr.reads) EXPECT_LT(index, kMc0Status + 4 * 4) << std::hex << index;
}

TEST(MachineCheck, NoBankMsrsWithoutMca) {
  FakeMsr msr;  // empty: any read fails the test
  StringSink sink;
  const Record r = log_and_clear(sink, msr, Support{true, false});
  EXPECT_FALSE(r.msrs_read);
  EXPECT_TRUE(msr.reads.empty());
  EXPECT_TRUE(msr.writes.empty());
  EXPECT_EQ(sink.text, "machine check: no machine-check MSRs (CPUID MCA clear); nothing to log\n");
}

TEST(MachineCheck, NoValidBankStillClearsMcip) {
  FakeMsr msr;
  msr.values[kMcgCap] = 2;
  msr.values[kMcgStatus] = kMcgStatusMcip;  // RIPV clear: never return into the interrupted code
  msr.values[kMc0Status] = msr.values[kMc0Status + 4] = kMciStatusUc;  // not VAL
  StringSink sink;
  const Record r = log_and_clear(sink, msr, Support{true, true});
  EXPECT_EQ(r.valid_banks, 0u);
  EXPECT_EQ(sink.text, "machine check: MCG_STATUS 0x4 (RIPV 0, EIPV 0, MCIP 1), 2 banks, 0 valid\n");
  EXPECT_EQ(msr.values[kMcgStatus], 0u);
}

}  // namespace
}  // namespace limbo::mce
