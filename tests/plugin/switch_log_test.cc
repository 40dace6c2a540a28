// SPDX-License-Identifier: GPL-2.0-only
// limbo-kexec --report's log node (kexec-plugin/cli/switch_log.h):
// a node written by the purgatory's own recorder (purgatory/lib/log.h) read
// back from a fake /sys/kernel/boot_params, summarised (segments, every PCIe
// function's decision and outcome, the times), printed in words and as JSON;
// the fallback to the command-line report; damaged nodes refused by name.
#include "cli/switch_log.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "abi/limbo_abi.h"
#include "lib/log.h"

namespace limbo::plugin::cli {
namespace {

// The console of a fabric run (qemu limbo-fabric), without "limbo: ".
const std::vector<std::string> kConsole = {
    "Limbo purgatory 0.1.0 entered, jump_back_entry 0x0, panic_kernel 1",
    "tsc 2098882 kHz",
    "paging: own identity tables, 4 levels, 2 MiB pages, 7 of 16 table pages, ECAM uncached",
    "sha256: portable",
    "sha256: ok (5 regions, 68575232 bytes: 9444235 hashed, 59130997 zero fill scanned, 298470 us)",
    "sha256: segment 0 (kernel) at 0x38e00000 size 0x2a00000, content 0x8d4e00 bytes: ok",
    "sha256: segment 1 (initrd) at 0x3b800000 size 0x1401000, content 0x140066b bytes: ok",
    "sha256: segment 2 (boot parameters) at 0x3cf4e000 size 0x4000, content 0x3a10 bytes: ok",
    "pcie: delays on the pit (tsc not invariant; tsc 2098882 kHz from the loader, 2114980 kHz against the pit)",
    "pcie 0000:00:00.0 8086:29c0 class 060000 skip bridge class, no dma",
    "pcie 0000:01:00.0 1b36:0010 class 010802 reset ok ready 101 ms by bus reset (port 0000:00:02.0)",
    "pcie 0000:02:00.0 8086:10d3 class 020000 reset ok ready 102 ms by bus reset (port 0000:00:02.1)",
    "pcie 0000:05:00.0 1234:1111 class 038000 skip display device (0000:04:00.0)",
    "pcie 0000:07:01.0 1b36:0005 class 00ff00 stop by bus master off (conventional pci)",
    "pcie 0000:00:03.0 1b36:0010 class 010802 failed never answered, left alone by flr (root complex integrated endpoint, no port)",
    "pcie 0000:00:02.0 port link state not reported (dll link active 0 with its link up): settled from the reset",
    "pcie reset 2 stop 1 skip 2 fail 1 ports 2 in 1110 ms",
    "backup: copied 0x9ec00 bytes from 0x1000 to 0x3cf61000",
    "report \" limbo=v3,verify:ok,reset:2,stop:1,skip:2,fail:1,ms:1461\"",
    "log: setup_data node type 0x6f626d4c at 0x3cc41000, 16336 bytes of text, linked after 0 nodes",
    "times: verify 299081 us, pcie 1141586 us, dma window 302114 us, total 1461664 us",
    "jumping to 0x38e00200 (rsi 0x3cf4e000) after 1461915 us",
};

constexpr uint64_t kHz = 1000000;  // 1 tick = 1 us

// The node's payload (what sysfs `data` holds) as the purgatory writes it.
std::string make_payload(const std::vector<std::string>& lines) {
  auto node = std::make_unique<abi::LogNode>();
  log::Recorder r;
  r.start(*node, 1000);
  r.set_clock(kHz);
  uint64_t tsc = 1000;
  for (const std::string& line : lines) {
    tsc += 1234;
    for (char c : line) r.put(c, tsc);
    r.put('\n', tsc);
  }
  const char* p = reinterpret_cast<const char*>(node.get()) + sizeof(abi::SetupDataHeader);
  return std::string(p, node->setup.len);
}

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class SwitchLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/limbo-switch-log-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir + "'").c_str()); }
  void add_node(int n, const std::string& type, const std::string& data) {
    const std::string node = dir + "/setup_data/" + std::to_string(n);
    ::mkdir((dir + "/setup_data").c_str(), 0755);
    ::mkdir(node.c_str(), 0755);
    std::ofstream(node + "/type") << type << "\n";
    std::ofstream(node + "/data", std::ios::binary) << data;
  }
  std::string dir;
};

TEST_F(SwitchLogTest, TheRecordersNodeParsesLineForLine) {
  const auto log = parse_log_node(bytes(make_payload(kConsole)));
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->lines.size(), kConsole.size());
  for (size_t i = 0; i < kConsole.size(); ++i) {
    EXPECT_EQ(log->lines[i].text, kConsole[i]);
    EXPECT_EQ(log->lines[i].us, 1234 * (i + 1));
  }
  EXPECT_EQ(log->dropped_lines, 0u);
  EXPECT_EQ(log->tsc_hz, kHz);
  EXPECT_EQ(log->capacity, abi::kLogCapacity);
}

TEST_F(SwitchLogTest, TheSummaryHasSegmentsFunctionsAndTimes) {
  const auto log = parse_log_node(bytes(make_payload(kConsole)));
  ASSERT_TRUE(log);
  const LogSummary s = summarize_log(*log);
  EXPECT_EQ(s.verification, "ok");
  EXPECT_EQ(s.engine, "portable");
  ASSERT_EQ(s.segments.size(), 3u);
  EXPECT_EQ(s.segments[2].role, "boot parameters");
  EXPECT_EQ(s.segments[2].start, "0x3cf4e000");
  EXPECT_EQ(s.segments[2].content, "0x3a10");
  EXPECT_TRUE(s.segments[2].ok);
  EXPECT_EQ(s.pcie, "done");
  EXPECT_EQ(s.reset, 2u);
  EXPECT_EQ(s.stop, 1u);
  EXPECT_EQ(s.skip, 2u);
  EXPECT_EQ(s.fail, 1u);
  EXPECT_EQ(s.ports, 2u);
  EXPECT_EQ(s.pcie_ms, 1110u);
  ASSERT_EQ(s.functions.size(), 6u);  // the port line is not a function
  EXPECT_EQ(s.functions[0].action, "skip");
  EXPECT_EQ(s.functions[0].outcome, "bridge class, no dma");
  EXPECT_EQ(s.functions[1].bdf, "0000:01:00.0");
  EXPECT_EQ(s.functions[1].id, "1b36:0010");
  EXPECT_EQ(s.functions[1].class_code, "010802");
  EXPECT_EQ(s.functions[1].action, "reset");
  EXPECT_EQ(s.functions[1].method, "bus reset");
  EXPECT_EQ(s.functions[1].outcome, "reset ok");
  EXPECT_EQ(s.functions[1].ms, 101u);
  EXPECT_EQ(s.functions[1].decision, "reset ok ready 101 ms by bus reset (port 0000:00:02.0)");
  EXPECT_EQ(s.functions[3].action, "skip");
  EXPECT_EQ(s.functions[3].outcome, "display device (0000:04:00.0)");
  EXPECT_EQ(s.functions[4].action, "stop");
  EXPECT_EQ(s.functions[4].method, "bus master off");
  EXPECT_EQ(s.functions[5].action, "fail");
  EXPECT_EQ(s.functions[5].method, "flr");
  EXPECT_EQ(s.functions[5].outcome, "failed never answered, left alone");
  EXPECT_EQ(s.verify_us, 299081u);
  EXPECT_EQ(s.pcie_us, 1141586u);
  EXPECT_EQ(s.dma_window_us, 302114u);
  EXPECT_EQ(s.total_us, 1461664u);
  EXPECT_EQ(s.jump_us, 1461915u);
  EXPECT_TRUE(s.jumped);
}

TEST_F(SwitchLogTest, TheNodeIsFoundAmongKexecToolsNodesInSysfs) {
  add_node(0, "0x4", std::string(0x38, 'e'));  // SETUP_EFI
  add_node(1, "0x6f626d4c", make_payload(kConsole));
  const LogSource source = find_log_node(dir);
  ASSERT_TRUE(source.log) << source.problem;
  EXPECT_EQ(source.path, dir + "/setup_data/1/data");
  const ReportReading cmdline = read_report("console=ttyS0 limbo=v3,verify:ok,reset:2,stop:1,skip:2,fail:1,ms:1461");
  const std::string words = describe_switch(cmdline, "/proc/cmdline", source);
  EXPECT_NE(words.find("limbo report: log: 22 lines from " + dir + "/setup_data/1/data\n"), std::string::npos) << words;
  EXPECT_NE(words.find("limbo report:   segment 1 initrd at 0x3b800000 size 0x1401000, content 0x140066b bytes: ok\n"),
            std::string::npos);
  EXPECT_NE(words.find("limbo report:   0000:01:00.0 1b36:0010 class 010802: reset ok, ready after 101 ms by bus reset\n"),
            std::string::npos) << words;
  EXPECT_NE(words.find("limbo report:   0000:05:00.0 1234:1111 class 038000: skipped: display device (0000:04:00.0)\n"),
            std::string::npos);
  EXPECT_NE(words.find("limbo report:   0000:00:03.0 1b36:0010 class 010802: FAILED (failed never answered, left alone) by flr\n"),
            std::string::npos);
  EXPECT_NE(words.find("limbo report: timeline (log): verify 299081 us, pcie 1141586 us, dma window 302114 us, total 1461664 us, "
                       "jump at 1461915 us\n"),
            std::string::npos);
  EXPECT_NE(words.find("limbo log: [0.001234 s] Limbo purgatory 0.1.0 entered"), std::string::npos);
  EXPECT_NE(words.find("limbo log: [0.027148 s] jumping to 0x38e00200"), std::string::npos);
}

TEST_F(SwitchLogTest, WithoutANodeTheCommandLineReportStandsAloneAndSaysSo) {
  add_node(0, "0x4", std::string(0x38, 'e'));
  const LogSource source = find_log_node(dir);
  EXPECT_FALSE(source.log);
  EXPECT_FALSE(source.found_node);
  const ReportReading cmdline = read_report("limbo=v3,verify:ok,reset:2,stop:1,skip:2,fail:0,ms:461");
  const std::string words = describe_switch(cmdline, "/proc/cmdline", source);
  EXPECT_NE(words.find("limbo report: result: OK\n"), std::string::npos);
  EXPECT_NE(words.find("limbo report: no log node: no setup_data node of Limbo's type 0x6f626d4c in " + dir +
                       "/setup_data (1 nodes): an older Limbo, or the purgatory did not link it; the command-line "
                       "report above is all there is\n"),
            std::string::npos) << words;
  const std::string json = switch_json(cmdline, "/proc/cmdline", source);
  EXPECT_NE(json.find("\"result\":\"ok\""), std::string::npos);
  EXPECT_NE(json.find("\"log\":{\"present\":false,\"source\":null,\"error\":\"no setup_data node"), std::string::npos) << json;
  // No sysfs directory at all (a kernel before 3.14, or no nodes).
  const LogSource none = find_log_node(dir + "/missing");
  EXPECT_FALSE(none.log);
  EXPECT_NE(none.problem.find("before 3.14"), std::string::npos);
}

TEST_F(SwitchLogTest, JsonHasTheDocumentedFields) {
  const auto log = parse_log_node(bytes(make_payload(kConsole)));
  ASSERT_TRUE(log);
  LogSource source;
  source.path = "/sys/kernel/boot_params/setup_data/1/data";
  source.found_node = true;
  source.log = *log;
  const ReportReading cmdline = read_report("limbo=v3,verify:ok,reset:2,stop:1,skip:2,fail:1,ms:1461");
  const std::string json = switch_json(cmdline, "/proc/cmdline", source);
  for (const char* field :
       {"{\"schema\":\"limbo-report/1\",\"result\":\"problem\"",
        "\"cmdline\":{\"source\":\"/proc/cmdline\",\"text\":\"v3,verify:ok,reset:2,stop:1,skip:2,fail:1,ms:1461\","
        "\"version\":3,\"verified\":true,\"reset\":2,\"stop\":1,\"skip\":2,\"fail\":1,\"ms\":1461,\"pcie_fault\":false}",
        "\"log\":{\"present\":true,\"source\":\"/sys/kernel/boot_params/setup_data/1/data\",\"version\":1,",
        "\"dropped_lines\":0,\"tsc_hz\":1000000,\"lines\":[{\"us\":1234,\"text\":\"Limbo purgatory 0.1.0 entered",
        "{\"us\":23446,\"text\":\"report \\\" limbo=v3,",
        "\"verification\":{\"state\":\"ok\",\"engine\":\"portable\",\"line\":\"sha256: ok (5 regions",
        "{\"index\":2,\"role\":\"boot parameters\",\"start\":\"0x3cf4e000\",\"size\":\"0x4000\",\"content\":\"0x3a10\",\"ok\":true}",
        "\"pcie\":{\"state\":\"done\",\"line\":\"pcie reset 2 stop 1 skip 2 fail 1 ports 2 in 1110 ms\",\"reset\":2,"
        "\"stop\":1,\"skip\":2,\"fail\":1,\"ports\":2,\"ms\":1110,\"functions\":[",
        "{\"bdf\":\"0000:01:00.0\",\"id\":\"1b36:0010\",\"class\":\"010802\",\"action\":\"reset\",\"method\":\"bus reset\","
        "\"outcome\":\"reset ok\",\"ms\":101,\"decision\":\"reset ok ready 101 ms by bus reset (port 0000:00:02.0)\"}",
        "{\"bdf\":\"0000:00:00.0\",\"id\":\"8086:29c0\",\"class\":\"060000\",\"action\":\"skip\",\"method\":null,"
        "\"outcome\":\"bridge class, no dma\",\"ms\":null,",
        "\"times\":{\"verify_us\":299081,\"pcie_us\":1141586,\"dma_window_us\":302114,\"total_us\":1461664,"
        "\"jump_us\":1461915}}\n"}) {
    EXPECT_NE(json.find(field), std::string::npos) << field << "\n" << json;
  }
}

TEST_F(SwitchLogTest, JsonEscapesWhatADamagedNodeMayHold) {
  std::vector<std::string> odd = {std::string("tab\there \"q\" back\\slash \x01 \xff")};
  const auto log = parse_log_node(bytes(make_payload(odd)));
  ASSERT_TRUE(log) << log.error().message;
  LogSource source;
  source.path = "p";
  source.log = *log;
  const std::string json = switch_json(read_report(""), "/proc/cmdline", source);
  EXPECT_NE(json.find("\"text\":\"tab\\u0009here \\\"q\\\" back\\\\slash \\u0001 \\u00ff\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"result\":\"not-run\",\"cmdline\":{\"source\":\"/proc/cmdline\",\"text\":null}"), std::string::npos);
}

TEST_F(SwitchLogTest, DamagedNodesAreRefusedByName) {
  const std::string good = make_payload({"one", "two"});
  auto refused = [](std::string data) {
    const auto r = parse_log_node(bytes(data));
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(refused(good.substr(0, 31)), "log node: 31 bytes, shorter than its 32-byte header");
  std::string bad = good;
  bad[0] = 'X';
  EXPECT_EQ(refused(bad), "log node: magic 0x474f4c58, not Limbo's 0x474f4c4c");
  bad = good;
  bad[4] = 2;
  EXPECT_EQ(refused(bad), "log node: version 2, this limbo-kexec reads 1 (is the purgatory newer than the command?)");
  bad = good;
  bad[6] = 8;
  EXPECT_EQ(refused(bad), "log node: header size 8 outside 32.." + std::to_string(good.size()));
  EXPECT_EQ(refused(good.substr(0, 100)), "log node: capacity 16336 bytes exceeds the node's 68 bytes of text");
  bad = good;
  bad[12] = static_cast<char>(0xff);
  bad[13] = static_cast<char>(0xff);  // used past the capacity
  EXPECT_EQ(refused(bad), "log node: 65535 bytes used of a capacity of 16336");
  bad = good;
  bad[12] = static_cast<char>(bad[12] - 1);  // the last newline cut off
  EXPECT_EQ(refused(bad), "log node: the last line has no newline (cut)");
  bad = good;
  bad[32 + 3] = 'x';  // in the first stamp
  EXPECT_EQ(refused(bad), "log node: line 1 has no \"[SSSSS.UUUUUU] \" time stamp");
  bad = good;
  bad[32 + 15 + 1] = '\0';
  EXPECT_EQ(refused(bad), "log node: line 1 holds a NUL byte");
  bad = good;
  bad[16] = 3;  // header lines
  EXPECT_EQ(refused(bad), "log node: the header counts 3 lines, the text holds 2");
}

TEST_F(SwitchLogTest, AnUnreadableNodeIsSaidBesideTheCommandLineReport) {
  add_node(0, "0x6f626d4c", "garbage");
  const LogSource source = find_log_node(dir);
  EXPECT_FALSE(source.log);
  EXPECT_TRUE(source.found_node);
  const std::string words =
      describe_switch(read_report("limbo=v3,verify:ok,reset:0,stop:0,skip:0,fail:0,ms:1"), "/proc/cmdline", source);
  EXPECT_NE(words.find("limbo report: log node unreadable: log node: 7 bytes, shorter than its 32-byte header; "
                       "the command-line report above is all there is\n"),
            std::string::npos) << words;
}

}  // namespace
}  // namespace limbo::plugin::cli
