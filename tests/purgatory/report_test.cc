// SPDX-License-Identifier: GPL-2.0-only
// The command-line report (purgatory/lib/report.cc): its format, that it fits
// the 64 spare bytes at its largest, and the refusals when it does not fit.
#include "lib/report.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace limbo::report {
namespace {

std::string format(const Report& r, uint64_t ms) {
  char buf[kCmdlineCapacity];
  const size_t n = format_report(r, ms, buf, sizeof(buf));
  EXPECT_EQ(n, std::strlen(buf));
  return std::string(buf, n);
}

TEST(ReportFormat, VerifiedNoResets) {
  Report r;
  r.verify = Verify::kOk;
  EXPECT_EQ(format(r, 12), " limbo=v3,verify:ok,reset:0,stop:0,skip:0,fail:0,ms:12");
}

TEST(ReportFormat, SkippedWithCounters) {
  Report r;
  r.verify = Verify::kSkipped;
  r.reset = 3;
  r.stop = 4;
  r.skip = 2;
  r.fail = 1;
  EXPECT_EQ(format(r, 1500), " limbo=v3,verify:off,reset:3,stop:4,skip:2,fail:1,ms:1500");
}

TEST(ReportFormat, LargestValuesFitTheSpareBytesWithTheirNul) {
  Report r;
  r.verify = Verify::kSkipped;  // the longer verify word
  r.reset = kMaxResetCount;
  r.stop = r.skip = r.fail = kMaxCount;
  const std::string text = format(r, kMaxMs);
  EXPECT_EQ(text, " limbo=v3,verify:off,reset:999,stop:99,skip:99,fail:99,ms:99999");
  EXPECT_EQ(text.size(), kMaxReportLength);
  EXPECT_LE(text.size() + 1, abi::kCmdlineSpareBytes);
}

// A fault abandoned the PCIe phase: its counters give way to
// pcie:fault (whatever they hold), and the form fits at its longest.
TEST(ReportFormat, PcieFaultReplacesTheCounters) {
  Report r;
  r.verify = Verify::kOk;
  r.reset = 5;
  r.fail = 2;
  r.pcie_fault = true;
  EXPECT_EQ(format(r, 412), " limbo=v3,verify:ok,pcie:fault,ms:412");
  r.verify = Verify::kSkipped;
  const std::string longest = format(r, UINT64_MAX);
  EXPECT_EQ(longest, " limbo=v3,verify:off,pcie:fault,ms:99999");
  EXPECT_LT(longest.size(), kMaxReportLength);
  char small[sizeof(" limbo=v3,verify:off,pcie:fault,ms:99999") - 1];  // one byte short of its NUL
  EXPECT_EQ(format_report(r, UINT64_MAX, small, sizeof(small)), 0u);
  EXPECT_EQ(small[0], '\0');
}

TEST(ReportFormat, ValuesBeyondTheMaximaSaturate) {
  Report r;
  r.verify = Verify::kOk;
  r.reset = 100000;
  r.stop = 100;
  r.skip = UINT32_MAX;
  r.fail = 1000;
  EXPECT_EQ(format(r, UINT64_MAX), " limbo=v3,verify:ok,reset:999,stop:99,skip:99,fail:99,ms:99999");
  // Even the worst case of every counter and the time saturated fits.
  r.verify = Verify::kSkipped;
  char buf[kCmdlineCapacity];
  EXPECT_EQ(format_report(r, UINT64_MAX, buf, sizeof(buf)), kMaxReportLength);
  EXPECT_EQ(kMaxReportLength + 1, abi::kCmdlineSpareBytes);
}

TEST(ReportFormat, RefusesABufferTooSmall) {
  char buf[20];
  std::memset(buf, 'z', sizeof(buf));
  Report r;
  EXPECT_EQ(format_report(r, 1, buf, sizeof(buf)), 0u);
  EXPECT_EQ(buf[0], '\0');
}

TEST(JumpBack, MatchesKexecToolsText) {
  char buf[kCmdlineCapacity];
  const size_t n = format_jump_back(0xffffffff81234567ull, buf, sizeof(buf));
  EXPECT_EQ(std::string(buf, n), " kexec_jump_back_entry=0xffffffff81234567");
}

// The command line's end as kexec-tools leaves it: the NUL, 64 spare bytes,
// and then memory that is not ours (guard bytes that must survive).
struct CmdlineBuffer {
  char bytes[8 + 1 + 64 + 16];
  CmdlineBuffer() {
    std::memset(bytes, 'G', sizeof(bytes));
    std::memcpy(bytes, "root=/x", 8);  // including the terminating NUL at [7]
  }
  char* end() { return bytes + 7; }
  bool guard_intact() const {
    for (size_t i = 7 + abi::kCmdlineSpareBytes; i < sizeof(bytes); ++i)
      if (bytes[i] != 'G') return false;
    return true;
  }
};

TEST(CmdlineAppender, AppendsAtTheNulAndStaysTerminated) {
  CmdlineBuffer line;
  CmdlineAppender appender(line.end());
  Report r;
  r.verify = Verify::kOk;
  char text[kCmdlineCapacity];
  const size_t n = format_report(r, 7, text, sizeof(text));
  ASSERT_EQ(appender.append(text, n), AppendResult::kWritten);
  EXPECT_STREQ(line.bytes, "root=/x limbo=v3,verify:ok,reset:0,stop:0,skip:0,fail:0,ms:7");
  EXPECT_TRUE(line.guard_intact());
}

TEST(CmdlineAppender, LargestReportFitsAlone) {
  CmdlineBuffer line;
  CmdlineAppender appender(line.end());
  Report r;
  r.reset = kMaxResetCount;
  r.stop = r.skip = r.fail = kMaxCount;
  char text[kCmdlineCapacity];
  const size_t n = format_report(r, kMaxMs, text, sizeof(text));
  ASSERT_EQ(appender.append(text, n), AppendResult::kWritten);
  EXPECT_EQ(std::strlen(line.bytes), 7 + kMaxReportLength);
  EXPECT_TRUE(line.guard_intact());
}

TEST(CmdlineAppender, ReportRefusedAfterTheJumpBackText) {
  CmdlineBuffer line;
  CmdlineAppender appender(line.end());
  char text[kCmdlineCapacity];
  size_t n = format_jump_back(0xffffffff81000000ull, text, sizeof(text));
  ASSERT_EQ(appender.append(text, n), AppendResult::kWritten);
  Report r;
  r.verify = Verify::kOk;
  n = format_report(r, 1, text, sizeof(text));  // the shortest report there is
  EXPECT_EQ(appender.append(text, n), AppendResult::kNoRoom);
  // Untouched by the refusal: the jump-back text and its NUL, then the guard.
  EXPECT_STREQ(line.bytes, "root=/x kexec_jump_back_entry=0xffffffff81000000");
  EXPECT_TRUE(line.guard_intact());
}

TEST(CmdlineAppender, ExactFitAndOneByteOver) {
  CmdlineBuffer line;
  CmdlineAppender appender(line.end());
  const std::string fits(abi::kCmdlineSpareBytes - 1, 'x');
  const std::string over(abi::kCmdlineSpareBytes, 'x');
  EXPECT_EQ(appender.append(over.data(), over.size()), AppendResult::kNoRoom);
  EXPECT_EQ(appender.append(fits.data(), fits.size()), AppendResult::kWritten);
  EXPECT_EQ(appender.room(), 1u);
  EXPECT_TRUE(line.guard_intact());
}

}  // namespace
}  // namespace limbo::report
