// SPDX-License-Identifier: GPL-2.0-only
// limbo-kexec --report: reading the purgatory's limbo= text back from a
// command line, the verdict and the words; the option parsing around it.
#include <gtest/gtest.h>

#include <string>

#include "arguments_helpers.h"
#include "cli/arguments.h"
#include "cli/report.h"

namespace limbo::plugin::cli {
namespace {

// A capture kernel's /proc/cmdline as kdump-tools builds it, with what the
// purgatory appends after the loader's text.
const std::string kDebianCmdline =
    "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=0f3c ro quiet reset_devices "
    "systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb elfcorehdr=0x2f000000 "
    "kexec_jump_back_entry=0x0000000000000000";

TEST(Report, CleanRunIsOk) {
  const ReportReading r = read_report(kDebianCmdline + " limbo=v1,verify:ok,reset:2,skip:1,fail:0,ms:137\n");
  ASSERT_EQ(r.verdict, ReportVerdict::kOk);
  EXPECT_EQ(r.text, "v1,verify:ok,reset:2,skip:1,fail:0,ms:137");
  ASSERT_TRUE(r.report);
  EXPECT_TRUE(r.report->verified);
  EXPECT_EQ(r.report->reset, 2u);
  EXPECT_EQ(r.report->skip, 1u);
  EXPECT_EQ(r.report->fail, 0u);
  EXPECT_EQ(r.report->ms, 137u);
  const std::string words = describe_report(r, "/proc/cmdline");
  EXPECT_NE(words.find("verification: ok"), std::string::npos) << words;
  EXPECT_NE(words.find("2 endpoints reset, 1 device left alone (by policy), 0 resets failed"), std::string::npos) << words;
  EXPECT_NE(words.find("time in the purgatory: 137 ms"), std::string::npos) << words;
  EXPECT_NE(words.find("result: OK"), std::string::npos) << words;
}

// Version 2: stop: counts functions only stopped; verify:off;
// reset saturates at 999, stop/skip/fail at 99, ms at 99999.
TEST(Report, VersionTwoCleanRunIsOk) {
  const ReportReading r = read_report(kDebianCmdline + " limbo=v2,verify:ok,reset:3,stop:2,skip:4,fail:0,ms:412\n");
  ASSERT_EQ(r.verdict, ReportVerdict::kOk);
  ASSERT_TRUE(r.report);
  EXPECT_EQ(r.report->version, 2);
  EXPECT_EQ(r.report->reset, 3u);
  EXPECT_EQ(r.report->stop, 2u);
  EXPECT_EQ(r.report->skip, 4u);
  const std::string words = describe_report(r, "/proc/cmdline");
  EXPECT_NE(words.find("PCIe: 3 functions reset (bus reset, FLR or class reset), 2 functions stopped (bus master and "
                       "MSI off, not reset), 4 functions left alone (by policy), 0 resets failed"),
            std::string::npos)
      << words;
  EXPECT_NE(words.find("result: OK"), std::string::npos) << words;
  EXPECT_TRUE(r.report->other.empty());
}

// Version 3: v2's form, or pcie:fault in place of the counters.
TEST(Report, VersionThreeCountersReadAsVersionTwo) {
  const ReportReading r = read_report(kDebianCmdline + " limbo=v3,verify:ok,reset:3,stop:2,skip:4,fail:0,ms:412\n");
  ASSERT_EQ(r.verdict, ReportVerdict::kOk);
  EXPECT_EQ(r.report->version, 3);
  EXPECT_EQ(r.report->stop, 2u);
  EXPECT_FALSE(r.report->pcie_fault);
  EXPECT_NE(describe_report(r, "x").find("PCIe: 3 functions reset"), std::string::npos);
}

TEST(Report, VersionThreePcieFaultIsAProblem) {
  const ReportReading r = read_report(kDebianCmdline + " limbo=v3,verify:ok,pcie:fault,ms:412\n");
  ASSERT_EQ(r.verdict, ReportVerdict::kProblem) << r.error;
  EXPECT_TRUE(r.report->verified);
  EXPECT_TRUE(r.report->pcie_fault);
  EXPECT_EQ(r.report->ms, 412u);
  EXPECT_TRUE(r.report->other.empty());
  const std::string words = describe_report(r, "/proc/cmdline");
  EXPECT_NE(words.find("PCIe: FAULT: an exception in the PCIe phase abandoned it after verification"), std::string::npos)
      << words;
  EXPECT_NE(words.find("result: PROBLEM (PCIe phase faulted)"), std::string::npos) << words;
}

TEST(Report, VersionTwoVerifyOffAndSaturation) {
  const ReportReading r = read_report("limbo=v2,verify:off,reset:999,stop:99,skip:99,fail:99,ms:99999");
  ASSERT_EQ(r.verdict, ReportVerdict::kProblem);
  EXPECT_FALSE(r.report->verified);
  const std::string words = describe_report(r, "x");
  EXPECT_NE(words.find("at least 999 functions reset"), std::string::npos) << words;
  EXPECT_NE(words.find("at least 99 functions stopped"), std::string::npos) << words;
  EXPECT_NE(words.find("at least 99 resets failed"), std::string::npos) << words;
  EXPECT_NE(words.find("at least 99999 ms"), std::string::npos) << words;
  EXPECT_NE(words.find("verification: SKIPPED"), std::string::npos) << words;
  // 98 is not a saturation point.
  EXPECT_EQ(describe_report(read_report("limbo=v2,verify:ok,reset:0,stop:98,skip:0,fail:0,ms:1"), "x").find("at least"),
            std::string::npos);
}

TEST(Report, FailedResetIsAProblem) {
  const ReportReading r = read_report("ro limbo=v1,verify:ok,reset:3,skip:0,fail:1,ms:2100");
  ASSERT_EQ(r.verdict, ReportVerdict::kProblem);
  const std::string words = describe_report(r, "/proc/cmdline");
  EXPECT_NE(words.find("1 reset failed"), std::string::npos) << words;
  EXPECT_NE(words.find("result: PROBLEM (1 PCIe reset failed)"), std::string::npos) << words;
}

TEST(Report, SkippedVerificationIsAProblem) {
  const ReportReading r = read_report("limbo=v1,verify:skipped,reset:0,skip:0,fail:0,ms:1");
  ASSERT_EQ(r.verdict, ReportVerdict::kProblem);
  EXPECT_FALSE(r.report->verified);
  const std::string words = describe_report(r, "x");
  EXPECT_NE(words.find("verification: SKIPPED"), std::string::npos) << words;
  EXPECT_NE(words.find("result: PROBLEM (verification skipped)"), std::string::npos) << words;
}

TEST(Report, NoReportMeansLimboDidNotRun) {
  const ReportReading r = read_report(kDebianCmdline);
  EXPECT_EQ(r.verdict, ReportVerdict::kNotPresent);
  EXPECT_NE(describe_report(r, "/proc/cmdline").find("result: NOT RUN"), std::string::npos);
  // A word that merely contains limbo= is not the purgatory's.
  EXPECT_EQ(read_report("foo.limbo=v1,verify:ok,reset:0,skip:0,fail:0,ms:1").verdict, ReportVerdict::kNotPresent);
  EXPECT_EQ(read_report("").verdict, ReportVerdict::kNotPresent);
}

TEST(Report, TheLastLimboWordCounts) {
  // An inherited one earlier on the line (a first kernel itself started by
  // kexec) must not hide the purgatory's own, appended at the end.
  const ReportReading r = read_report("limbo=v1,verify:ok,reset:0,skip:0,fail:0,ms:5 ro limbo=v1,verify:ok,reset:0,skip:0,fail:4,ms:9");
  ASSERT_EQ(r.verdict, ReportVerdict::kProblem);
  EXPECT_EQ(r.report->fail, 4u);
  EXPECT_EQ(r.report->ms, 9u);
}

TEST(Report, SaturatedCountersReadAtLeast) {
  const ReportReading r = read_report("limbo=v1,verify:ok,reset:999,skip:999,fail:0,ms:9999999");
  ASSERT_EQ(r.verdict, ReportVerdict::kOk);
  const std::string words = describe_report(r, "x");
  EXPECT_NE(words.find("at least 999 endpoints reset"), std::string::npos) << words;
  EXPECT_NE(words.find("at least 9999999 ms"), std::string::npos) << words;
}

TEST(Report, UnknownFieldsAreShownNotDropped) {
  const ReportReading r = read_report("limbo=v1,verify:ok,reset:0,skip:0,fail:0,ms:3,vus:2100,pus:400");
  ASSERT_EQ(r.verdict, ReportVerdict::kOk);
  ASSERT_EQ(r.report->other.size(), 2u);
  EXPECT_EQ(r.report->other[0].first, "vus");
  EXPECT_EQ(r.report->other[1].second, "400");
  EXPECT_NE(describe_report(r, "x").find("field pus: 400"), std::string::npos);
}

TEST(Report, DamagedOrForeignTextIsUnreadable) {
  for (const char* line : {
           "limbo=v4,verify:ok,reset:0,stop:0,skip:0,fail:0,ms:1",  // unknown version
           "limbo=v2,verify:ok,pcie:fault,ms:1",                  // v3's fault form in v2
           "limbo=v3,verify:ok,pcie:fault,fail:0,ms:1",           // fault form with a counter
           "limbo=v3,verify:ok,pcie:maybe,ms:1",                  // pcie other than fault
           "limbo=v3,verify:ok,pcie:fault,pcie:fault,ms:1",       // twice
           "limbo=v3,verify:ok,reset:0,skip:0,fail:0,ms:1",       // v3 counters without stop
           "limbo=v2,verify:ok,reset:0,skip:0,fail:0,ms:1",       // v2 without stop
           "limbo=v2,verify:skipped,reset:0,stop:0,skip:0,fail:0,ms:1",  // v1's word in v2
           "limbo=v1,verify:off,reset:0,skip:0,fail:0,ms:1",      // v2's word in v1
           "limbo=v2,verify:ok,reset:0,stop:0,stop:0,skip:0,fail:0,ms:1",  // twice
           "limbo=v1,verify:ok,reset:0,skip:0,fail:0",            // cut short: no ms
           "limbo=v1,verify:maybe,reset:0,skip:0,fail:0,ms:1",    // bad verify word
           "limbo=v1,verify:ok,reset:x,skip:0,fail:0,ms:1",       // not a number
           "limbo=v1,verify:ok,reset:-1,skip:0,fail:0,ms:1",      // negative
           "limbo=v1,verify:ok,reset:0,reset:0,skip:0,fail:0,ms:1",  // twice
           "limbo=v1,verify:ok,reset,skip:0,fail:0,ms:1",         // not NAME:VALUE
           "limbo=v1,verify:ok,reset:0,skip:0,fail:0,ms:1,",      // empty field
           "limbo=",
       }) {
    const ReportReading r = read_report(line);
    EXPECT_EQ(r.verdict, ReportVerdict::kMalformed) << line;
    EXPECT_FALSE(r.error.empty()) << line;
    EXPECT_NE(describe_report(r, "x").find("result: UNREADABLE"), std::string::npos) << line;
  }
}

TEST(ReportArguments, Forms) {
  const Arguments plain = testing::arguments_of({"limbo-kexec", "--report"});
  EXPECT_TRUE(plain.report);
  EXPECT_TRUE(plain.report_file.empty());
  EXPECT_FALSE(plain.report_cmdline);

  const Arguments file = testing::arguments_of({"limbo-kexec", "--report=/tmp/saved-cmdline"});
  EXPECT_TRUE(file.report);
  EXPECT_EQ(file.report_file, "/tmp/saved-cmdline");

  const Arguments line = testing::arguments_of({"limbo-kexec", "--cmdline=ro limbo=v1"});
  EXPECT_TRUE(line.report);
  ASSERT_TRUE(line.report_cmdline);
  EXPECT_EQ(*line.report_cmdline, "ro limbo=v1");

  EXPECT_NE(testing::usage_error({"limbo-kexec", "--report", "-p", "/vmlinuz"}), "");
  EXPECT_NE(testing::usage_error({"limbo-kexec", "--report", "--plan"}), "");
  EXPECT_NE(testing::usage_error({"limbo-kexec", "--report=a", "--cmdline=b"}), "");
  EXPECT_NE(testing::usage_error({"limbo-kexec", "--report="}), "");

  // The log node's options.
  const Arguments json = testing::arguments_of({"limbo-kexec", "--report", "--json"});
  EXPECT_TRUE(json.report_json);
  const Arguments log = testing::arguments_of({"limbo-kexec", "--log=/var/crash/x/limbo-log.x.bin", "--json"});
  EXPECT_TRUE(log.report);
  EXPECT_EQ(log.report_log, "/var/crash/x/limbo-log.x.bin");
  EXPECT_NE(testing::usage_error({"limbo-kexec", "--json"}), "");
  EXPECT_NE(testing::usage_error({"limbo-kexec", "--log="}), "");
}

}  // namespace
}  // namespace limbo::plugin::cli
