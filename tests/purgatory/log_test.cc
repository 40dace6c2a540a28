// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's log (lib/log.h, lib/flow_log.h): lines stamped
// with their time since entry, whole lines dropped and counted when the node
// is full, and the node appended to an existing setup_data chain (kexec-tools'
// nodes, e.g. SETUP_EFI) without changing it. The flow runs on a fake machine
// whose console is the logged one, and the log must equal its console lines.
#include "lib/log.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fakes.h"
#include "lib/flow.h"

namespace limbo::log {
namespace {

constexpr uint64_t kHz = 1000000000;  // 1 tick = 1 ns
constexpr uint64_t kEntry = 7000000;

std::string text_of(const abi::LogNode& node) { return std::string(node.text, node.header.used); }

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class RecorderTest : public ::testing::Test {
 protected:
  void put_line(const std::string& line, uint64_t tsc) {
    for (char c : line) r.put(c, tsc);
    r.put('\n', tsc);
  }
  std::unique_ptr<abi::LogNode> node = std::make_unique<abi::LogNode>();
  Recorder r;
};

TEST_F(RecorderTest, StartWritesTheSetupDataAndLogHeaders) {
  std::memset(node.get(), 0xa5, sizeof(*node));
  r.start(*node, kEntry);
  EXPECT_EQ(node->setup.next, 0u);
  EXPECT_EQ(node->setup.type, abi::kSetupDataLimboLog);
  EXPECT_EQ(node->setup.len, abi::kLogNodeSize - 16);
  EXPECT_EQ(node->header.magic, abi::kLogMagic);
  EXPECT_EQ(node->header.version, abi::kLogVersion);
  EXPECT_EQ(node->header.header_size, sizeof(abi::LogHeader));
  EXPECT_EQ(node->header.capacity, abi::kLogCapacity);
  EXPECT_EQ(node->header.used, 0u);
  EXPECT_EQ(node->header.lines, 0u);
  EXPECT_EQ(node->header.dropped_lines, 0u);
}

TEST_F(RecorderTest, NotStartedKeepsNothing) {
  put_line("lost", kEntry);
  EXPECT_FALSE(r.started());
  EXPECT_TRUE(r.at_line_start());
}

TEST_F(RecorderTest, LinesAreStampedInMicrosecondsSinceEntry) {
  r.start(*node, kEntry);
  r.set_clock(kHz);
  put_line("first", kEntry + 12345);             // 12.345 us -> 12
  put_line("second", kEntry + 1234567890123ull);  // 1234.567890123 s
  EXPECT_EQ(text_of(*node), "[    0.000012] first\n[ 1234.567890] second\n");
  EXPECT_EQ(node->header.lines, 2u);
  EXPECT_EQ(node->header.tsc_hz, kHz);
}

TEST_F(RecorderTest, StampsBeforeTheClockAreFilledInWhenItIsKnown) {
  r.start(*node, kEntry);
  put_line("banner", kEntry + 2000);
  EXPECT_EQ(text_of(*node), "[    ?.??????] banner\n");
  put_line("tsc unknown", kEntry + 5000);
  r.set_clock(kHz);
  put_line("after", kEntry + 3000000);
  EXPECT_EQ(text_of(*node), "[    0.000002] banner\n[    0.000005] tsc unknown\n[    0.003000] after\n");
}

TEST_F(RecorderTest, WithoutAClockStampsStayUnknown) {
  r.start(*node, kEntry);
  put_line("a", kEntry + 1);
  r.set_clock(0);
  put_line("b", kEntry + 2);
  EXPECT_EQ(text_of(*node), "[    ?.??????] a\n[    ?.??????] b\n");
  EXPECT_EQ(node->header.tsc_hz, 0u);
}

TEST_F(RecorderTest, SecondsClampAtTheFieldWidth) {
  r.start(*node, kEntry);
  r.set_clock(1);  // 1 Hz: every tick is a second
  put_line("late", kEntry + 200000);
  EXPECT_EQ(text_of(*node), "[99999.999999] late\n");
}

TEST_F(RecorderTest, AFullNodeDropsWholeLinesAndCountsThem) {
  r.start(*node, kEntry);
  r.set_clock(kHz);
  const std::string line(100, 'x');  // 116 bytes with stamp and newline
  const uint32_t fit = abi::kLogCapacity / 116;
  for (uint32_t i = 0; i < fit + 5; ++i) put_line(line, kEntry);
  EXPECT_EQ(node->header.lines, fit);
  EXPECT_EQ(node->header.dropped_lines, 5u);
  EXPECT_EQ(node->header.used, fit * 116);
  // Every kept line whole; nothing of a dropped one after them.
  for (const std::string& l : split_lines(text_of(*node))) EXPECT_EQ(l, "[    0.000000] " + line);
  // A short line still fits in what is left, after the dropped ones.
  const uint32_t left = abi::kLogCapacity - node->header.used;
  ASSERT_GE(left, 17u);
  put_line(std::string(left - 16, 'y'), kEntry);  // exactly fills the text
  EXPECT_EQ(node->header.used, abi::kLogCapacity);
  EXPECT_EQ(node->header.lines, fit + 1);
  put_line("z", kEntry);
  EXPECT_EQ(node->header.dropped_lines, 6u);
}

TEST_F(RecorderTest, ALineLongerThanTheNodeIsDroppedNotCut) {
  r.start(*node, kEntry);
  put_line("before", kEntry);
  put_line(std::string(abi::kLogCapacity + 10, 'L'), kEntry);
  put_line("after", kEntry);
  EXPECT_EQ(node->header.lines, 2u);
  EXPECT_EQ(node->header.dropped_lines, 1u);
  EXPECT_EQ(text_of(*node), "[    ?.??????] before\n[    ?.??????] after\n");
}

// ---- The logged console ----------------------------------------------------

using testing::FakePortIo;
using testing::FakeVgaCells;

struct CountingTsc {
  uint64_t* tsc;
  uint64_t operator()() const { return *tsc += 1000; }
};

TEST(LoggedConsoleTest, TheLogHoldsTheConsoleLinesWithoutThePrefix) {
  FakePortIo io;
  FakeVgaCells cells;
  uint64_t tsc = kEntry;
  LoggedConsole<console::Console<FakePortIo, FakeVgaCells>, CountingTsc> con(CountingTsc{&tsc}, io, cells);
  auto node = std::make_unique<abi::LogNode>();
  con.recorder().start(*node, kEntry);
  con.recorder().set_clock(kHz);
  fmt::println(con, "before the console is configured");
  con.configure(console::Settings{true, 0x3f8, 115200, false});
  fmt::println(con, "one ", fmt::dec(1));
  fmt::println(con, "two");
  EXPECT_EQ(io.transmitted, "limbo: one 1\r\nlimbo: two\r\n");
  EXPECT_EQ(text_of(*node),
            "[    0.000001] before the console is configured\n[    0.000002] one 1\n[    0.000003] two\n");
  EXPECT_TRUE(con.at_line_start());
  con.put('x');
  EXPECT_FALSE(con.at_line_start());
}

// ---- Linking into the setup_data chain -------------------------------------

// Physical memory from 0x10000 in a vector; boot_params at 0x20000 with
// kexec-tools' nodes after it, in the same segment (as its add_setup_data
// places them), Limbo's node elsewhere.
struct Memory {
  static constexpr uint64_t kBase = 0x10000;
  std::vector<uint8_t> bytes = std::vector<uint8_t>(0x40000, 0);
  uint8_t* phys(uint64_t address) {
    EXPECT_GE(address, kBase);
    EXPECT_LT(address, kBase + bytes.size());
    return bytes.data() + (address - kBase);
  }
};

constexpr uint64_t kBootParams = 0x20000;
constexpr uint64_t kBootSegmentLen = 0x3000;
constexpr uint64_t kNodeAt = 0x30000;

class LinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    regions[0] = {0x11000, 0x1000};  // some kernel
    regions[1] = {kBootParams, kBootSegmentLen};
    // Limbo's node as Recorder::start leaves it.
    Recorder r;
    r.start(*reinterpret_cast<abi::LogNode*>(mem.phys(kNodeAt)), 0);
  }
  uint64_t& head() { return *reinterpret_cast<uint64_t*>(mem.phys(kBootParams + abi::kBootParamsSetupDataOffset)); }
  abi::SetupDataHeader& header_at(uint64_t a) { return *reinterpret_cast<abi::SetupDataHeader*>(mem.phys(a)); }
  // A node of `len` payload bytes, each `fill`, at `a`, linked after `prev`
  // (0: at the head).
  void add_node(uint64_t prev, uint64_t a, uint32_t type, uint32_t len, uint8_t fill) {
    header_at(a) = abi::SetupDataHeader{0, type, len};
    std::memset(mem.phys(a + 16), fill, len);
    if (prev == 0) head() = a;
    else header_at(prev).next = a;
  }
  LinkResult link() { return link_node(mem, kBootParams, regions, abi::kSha256RegionCount, header_at(kNodeAt), kNodeAt); }

  Memory mem;
  abi::Sha256Region regions[abi::kSha256RegionCount] = {};
};

TEST_F(LinkTest, AnEmptyChainGetsTheNodeAsItsHead) {
  header_at(kNodeAt).next = 0xdead;
  const LinkResult r = link();
  EXPECT_EQ(r.status, LinkStatus::kLinked);
  EXPECT_EQ(r.nodes, 0u);
  EXPECT_EQ(head(), kNodeAt);
  EXPECT_EQ(header_at(kNodeAt).next, 0u);  // ends the chain
}

TEST_F(LinkTest, TheNodeGoesAfterKexecToolsNodesWhichStayAsTheyWere) {
  // SETUP_EFI (4) then SETUP_E820_EXT (1), as kexec-tools links them.
  add_node(0, kBootParams + 0x1100, 4, 0x38, 0xe1);
  add_node(kBootParams + 0x1100, kBootParams + 0x1200, 1, 0x200, 0xe8);
  const std::vector<uint8_t> before(mem.phys(kBootParams), mem.phys(kBootParams) + kBootSegmentLen);
  const LinkResult r = link();
  ASSERT_EQ(r.status, LinkStatus::kLinked);
  EXPECT_EQ(r.nodes, 2u);
  // Walk the chain as Linux does: EFI, E820_EXT, then Limbo's, then the end.
  std::vector<uint32_t> types;
  for (uint64_t a = head(); a != 0; a = header_at(a).next) types.push_back(header_at(a).type);
  EXPECT_EQ(types, (std::vector<uint32_t>{4, 1, abi::kSetupDataLimboLog}));
  // Only the last node's `next` changed in the boot_params segment.
  std::vector<uint8_t> after(mem.phys(kBootParams), mem.phys(kBootParams) + kBootSegmentLen);
  uint64_t expected_next = kNodeAt;
  std::memcpy(&after[0x1200], &before[0x1200], 8);
  EXPECT_EQ(after, before);
  EXPECT_EQ(header_at(kBootParams + 0x1200).next, expected_next);
  EXPECT_EQ(header_at(kBootParams + 0x1100).len, 0x38u);
  EXPECT_EQ(*mem.phys(kBootParams + 0x1200 + 16 + 0x1ff), 0xe8);
}

TEST_F(LinkTest, LinkingTwiceDoesNotMakeALoop) {
  add_node(0, kBootParams + 0x1100, 4, 0x38, 0xe1);
  ASSERT_EQ(link().status, LinkStatus::kLinked);
  const LinkResult again = link();
  EXPECT_EQ(again.status, LinkStatus::kAlreadyLinked);
  EXPECT_EQ(header_at(kNodeAt).next, 0u);
}

TEST_F(LinkTest, ANodeOutsideTheLoadedSegmentsIsNotFollowed) {
  add_node(0, kBootParams + 0x1100, 4, 0x38, 0xe1);
  header_at(kBootParams + 0x1100).next = 0x3f000;  // in memory, but in no region
  const LinkResult r = link();
  EXPECT_EQ(r.status, LinkStatus::kOutside);
  EXPECT_EQ(r.bad_node, 0x3f000u);
  EXPECT_EQ(header_at(kBootParams + 0x1100).next, 0x3f000u);  // untouched
}

TEST_F(LinkTest, ANodeWhoseLengthRunsPastItsSegmentIsNotFollowed) {
  add_node(0, kBootParams + 0x2f00, 4, 0x10, 0xe1);
  header_at(kBootParams + 0x2f00).len = 0x200;  // past the segment's end
  EXPECT_EQ(link().status, LinkStatus::kOutside);
  EXPECT_EQ(header_at(kBootParams + 0x2f00).next, 0u);
}

TEST_F(LinkTest, ALoopIsCutOffByTheNodeLimit) {
  add_node(0, kBootParams + 0x1100, 4, 0x38, 0xe1);
  header_at(kBootParams + 0x1100).next = kBootParams + 0x1100;
  const LinkResult r = link();
  EXPECT_EQ(r.status, LinkStatus::kTooLong);
  EXPECT_EQ(r.nodes, abi::kSetupDataMaxNodes);
}

TEST_F(LinkTest, BootParamsOutsideTheSegmentsOrAbsentIsRefused) {
  EXPECT_EQ(link_node(mem, 0, regions, abi::kSha256RegionCount, header_at(kNodeAt), kNodeAt).status,
            LinkStatus::kNoBootParams);
  EXPECT_EQ(link_node(mem, 0x38000, regions, abi::kSha256RegionCount, header_at(kNodeAt), kNodeAt).status,
            LinkStatus::kOutside);
}

// ---- The flow with a log ----------------------------------------------------

// The flow's machine with the logged console and the log steps; no PCIe.
class LoggingMachine : public testing::NoPcie {
 public:
  using Console = LoggedConsole<console::Console<FakePortIo, FakeVgaCells>, CountingTsc>;
  LoggingMachine() : console_(CountingTsc{&tsc_}, io_, cells_) {}

  FakePortIo& port_io() { return io_; }
  Console& console() { return console_; }
  uint64_t read_tsc() { return tsc_ += 1000; }
  uint8_t* phys(uint64_t address) { return mem.phys(address); }
  sha256::BlockFunction sha256_engine() { return sha256::compress_portable; }
  void sha256_release() {}
  void log_clock(uint64_t hz) { console_.recorder().set_clock(hz); }
  abi::LogNode* log_node() { return console_.recorder().node(); }

  std::vector<std::string> console_lines() const {
    std::vector<std::string> out;
    for (std::string line : split_lines(io_.transmitted)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out.push_back(line);
    }
    return out;
  }

  Memory mem;
  uint64_t tsc_ = kEntry;
  FakePortIo io_;
  FakeVgaCells cells_;
  Console console_;
};

TEST(FlowLogTest, TheNodeIsLinkedAndHoldsEveryConsoleLine) {
  LoggingMachine m;
  // Limbo's node inside the fake memory (the arch code's is in .bss).
  auto* node = reinterpret_cast<abi::LogNode*>(m.mem.phys(kNodeAt));
  m.console().recorder().start(*node, kEntry);

  flow::LoaderVariables vars;
  std::memset(&vars, 0, sizeof(vars));
  vars.sha256_regions[0] = {kBootParams, kBootSegmentLen};
  vars.skip_checks = 1;
  vars.entry64_regs.rip = 0x1000200;
  vars.console_serial = 1;
  vars.serial_base = 0x3f8;
  vars.limbo_config.magic = abi::kConfigMagic;
  vars.limbo_config.version = abi::kConfigVersion;
  vars.limbo_config.size = sizeof(abi::Config);
  vars.limbo_config.tsc_hz = kHz;
  // kexec-tools' EFI node already in the chain.
  *reinterpret_cast<abi::SetupDataHeader*>(m.mem.phys(kBootParams + 0x1100)) = {0, 4, 0x38};
  *reinterpret_cast<uint64_t*>(m.mem.phys(kBootParams + abi::kBootParamsSetupDataOffset)) = kBootParams + 0x1100;
  vars.entry64_regs.rsi = kBootParams;

  report::Report report;
  EXPECT_EQ(flow::run(m, vars, kEntry, report), flow::Outcome::kJump);

  // The chain: EFI, then ours (the flow links the node's own address: here a
  // host pointer, in the purgatory its identity-mapped physical address).
  auto* efi = reinterpret_cast<abi::SetupDataHeader*>(m.mem.phys(kBootParams + 0x1100));
  EXPECT_EQ(efi->next, reinterpret_cast<uintptr_t>(node));

  // The log is the console, line for line, stamps aside.
  std::vector<std::string> logged;
  for (const std::string& l : split_lines(text_of(*node))) {
    ASSERT_GE(l.size(), abi::kLogStampWidth);
    EXPECT_EQ(l[0], '[');
    EXPECT_NE(l[5], '?') << l;  // every stamp filled in
    logged.push_back("limbo: " + l.substr(abi::kLogStampWidth));
  }
  EXPECT_EQ(logged, m.console_lines());
  EXPECT_EQ(node->header.dropped_lines, 0u);
  bool linked_line = false;
  for (const std::string& l : logged) linked_line |= l.rfind("limbo: log: setup_data node type 0x6f626d4c at 0x", 0) == 0;
  EXPECT_TRUE(linked_line);
  EXPECT_EQ(logged.back().rfind("limbo: jumping to 0x1000200", 0), 0u);
}

}  // namespace
}  // namespace limbo::log
