// SPDX-License-Identifier: GPL-2.0-only
// The printf-like writer (lib/format.h), the console's line prefix and fan-out
// (lib/console.h), the VGA text console and mode-3 programming (lib/vga.h),
// the PIC sequence (lib/pic8259.h), the clock (lib/clock.h) and the x86
// descriptor encoders (lib/x86_descriptors.h).
#include <gtest/gtest.h>

#include <string>

#include "fakes.h"
#include "lib/clock.h"
#include "lib/console.h"
#include "lib/format.h"
#include "lib/pic8259.h"
#include "lib/vga.h"
#include "lib/x86_descriptors.h"

namespace limbo {
namespace {

using testing::FakePortIo;
using testing::FakeVgaCells;
using testing::StringSink;

template <class... Args>
std::string printed(const Args&... args) {
  StringSink sink;
  fmt::print(sink, args...);
  return sink.text;
}

TEST(Format, Decimal) {
  EXPECT_EQ(printed(fmt::dec(0)), "0");
  EXPECT_EQ(printed(fmt::dec(7)), "7");
  EXPECT_EQ(printed(fmt::dec(1234567890)), "1234567890");
  EXPECT_EQ(printed(fmt::dec(UINT64_MAX)), "18446744073709551615");
}

TEST(Format, Hex) {
  EXPECT_EQ(printed(fmt::hex(0)), "0");
  EXPECT_EQ(printed(fmt::hex(0xabc)), "abc");
  EXPECT_EQ(printed(fmt::hex(0xabc, 8)), "00000abc");
  EXPECT_EQ(printed(fmt::hex(UINT64_MAX)), "ffffffffffffffff");
  EXPECT_EQ(printed(fmt::hex(0x8000000000000000ull)), "8000000000000000");
  EXPECT_EQ(printed(fmt::hex(1, 40)), "0000000000000001");  // at most 16 digits
}

TEST(Format, HexBytesAndMixedArguments) {
  const uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(printed(fmt::hex_bytes(bytes, 4)), "000fa5ff");
  EXPECT_EQ(printed("rip 0x", fmt::hex(0x1000), " n ", fmt::dec(42), '!'), "rip 0x1000 n 42!");
}

TEST(Format, BufferSinkStopsAtCapacityAndSaysSo) {
  char buf[6];
  fmt::BufferSink sink(buf, sizeof(buf));
  fmt::print(sink, "hello");
  EXPECT_FALSE(sink.overflowed());
  EXPECT_STREQ(buf, "hello");
  fmt::print(sink, "!");
  EXPECT_TRUE(sink.overflowed());
  EXPECT_STREQ(buf, "hello");
}

using TestConsole = console::Console<FakePortIo, FakeVgaCells>;

TEST(Console, EveryLineStartsWithThePrefixAndEndsWithCrLf) {
  FakePortIo io;
  FakeVgaCells cells;
  TestConsole con(io, cells);
  con.configure({true, 0x3f8, 115200, false});
  fmt::println(con, "one ", fmt::dec(1));
  fmt::println(con, "two");
  EXPECT_EQ(io.transmitted, "limbo: one 1\r\nlimbo: two\r\n");
}

TEST(Console, VgaOnlyWritesCellsAndNoPort) {
  FakePortIo io;
  FakeVgaCells cells;
  cells.cells.fill(0x1f41);  // what the crashed kernel left on screen
  TestConsole con(io, cells);
  con.configure({false, 0x3f8, 0, true});
  fmt::println(con, "hello");
  EXPECT_EQ(cells.row(0), "limbo: hello");
  EXPECT_EQ(cells.cells[0], 0x0700 | 'l');
  EXPECT_EQ(cells.row(1), "");  // cleared
  EXPECT_TRUE(io.accesses.empty());
}

TEST(Console, NothingConfiguredWritesNothing) {
  FakePortIo io;
  FakeVgaCells cells;
  TestConsole con(io, cells);
  con.configure({false, 0x3f8, 0, false});
  fmt::println(con, "quiet");
  EXPECT_TRUE(io.accesses.empty());
  for (uint16_t cell : cells.cells) EXPECT_EQ(cell, 0);  // screen untouched
}

// Under --pcie-order=overlap the flow holds the console until the
// devices are in reset: nothing reaches the UART while held, every byte comes
// out at the release in order, a full buffer goes out early, drain releases.
TEST(Console, HeldOutputComesOutWholeAndInOrderAtTheRelease) {
  FakePortIo io;
  FakeVgaCells cells;
  TestConsole con(io, cells);
  con.configure({true, 0x3f8, 115200, false});
  const size_t after_init = io.accesses.size();
  con.hold();
  fmt::println(con, "one");
  fmt::print(con, "two, ");
  EXPECT_EQ(io.transmitted, "");
  EXPECT_EQ(io.accesses.size(), after_init);  // not even a status read
  EXPECT_FALSE(con.at_line_start());          // the line state is the text's, held or not
  con.release();
  fmt::println(con, "then");
  EXPECT_EQ(io.transmitted, "limbo: one\r\nlimbo: two, then\r\n");
  con.hold();
  std::string expected = io.transmitted;
  for (int i = 0; i < 100; ++i) {  // 100 x 20 bytes: more than the buffer holds
    fmt::println(con, "line ", fmt::dec(i / 10), fmt::dec(i % 10), " of the banner");
    expected += "limbo: line " + std::to_string(i / 10) + std::to_string(i % 10) + " of the banner\r\n";
  }
  EXPECT_GT(io.transmitted.size(), 0u + expected.size() - 100 * 30);  // the first part went out early
  EXPECT_LT(io.transmitted.size(), expected.size());
  con.drain();  // a stop's drain releases
  EXPECT_FALSE(con.holding());
  EXPECT_EQ(io.transmitted, expected);
}

TEST(VgaText, ScrollsWhenTheScreenIsFull) {
  FakeVgaCells cells;
  vga::TextConsole screen(cells);
  screen.clear();
  for (int i = 0; i < 30; ++i) {
    fmt::println(screen, "line ", fmt::dec(i));
  }
  // 30 lines and the cursor's empty line: lines 6..29 remain, the last row blank.
  EXPECT_EQ(cells.row(0), "line 6");
  EXPECT_EQ(cells.row(23), "line 29");
  EXPECT_EQ(cells.row(24), "");
  EXPECT_EQ(screen.row(), 24);
}

TEST(VgaText, LongLinesWrapAt80Columns) {
  FakeVgaCells cells;
  vga::TextConsole screen(cells);
  screen.clear();
  fmt::print(screen, std::string(85, 'x').c_str());
  EXPECT_EQ(cells.row(0), std::string(80, 'x'));
  EXPECT_EQ(cells.row(1), "xxxxx");
}

TEST(VgaMode3, ProgramsMiscOutputAndUnlocksCrtcFirst) {
  FakePortIo io;
  vga::set_text_mode3(io);
  ASSERT_FALSE(io.accesses.empty());
  EXPECT_EQ(io.accesses[0], (testing::PortAccess{true, 0x3c2, 0x67}));
  // CRTC: CR11 written without its protect bit before CR0-CR7, restored last.
  const auto crtc_index = io.writes_to(0x3d4);
  const auto crtc_data = io.writes_to(0x3d5);
  ASSERT_EQ(crtc_index.size(), 27u);
  EXPECT_EQ(crtc_index[0].value, 0x11);
  EXPECT_EQ(crtc_data[0].value & 0x80, 0);
  EXPECT_EQ(crtc_index[1].value, 0x00);
  EXPECT_EQ(crtc_data[1].value, 0x5f);
  EXPECT_EQ(crtc_index.back().value, 0x11);
  EXPECT_EQ(crtc_data.back().value, 0x8e);
  // Attribute controller: 21 index/data pairs and the palette enable.
  EXPECT_EQ(io.writes_to(0x3c0).size(), 21u * 2 + 1);
  EXPECT_EQ(io.writes_to(0x3c0).back().value, 0x20);
  // Graphics controller register 6: memory map at 0xb8000, odd/even.
  const auto gfx_index = io.writes_to(0x3ce);
  const auto gfx_data = io.writes_to(0x3cf);
  ASSERT_EQ(gfx_index.size(), 9u);
  EXPECT_EQ(gfx_index[6].value, 6);
  EXPECT_EQ(gfx_data[6].value, 0x0e);
}

TEST(Pic8259, InitialisesBothControllersToThePcVectorBases) {
  FakePortIo io;
  pic::init_legacy(io);
  const std::vector<uint8_t> master_data = {0xff, 0x08, 0x04, 0x01, 0x00};
  const std::vector<uint8_t> slave_data = {0xff, 0x70, 0x02, 0x01, 0x00};
  std::vector<uint8_t> got_master, got_slave;
  for (const auto& a : io.writes_to(0x21)) got_master.push_back(a.value);
  for (const auto& a : io.writes_to(0xa1)) got_slave.push_back(a.value);
  EXPECT_EQ(got_master, master_data);
  EXPECT_EQ(got_slave, slave_data);
  ASSERT_EQ(io.writes_to(0x20).size(), 1u);
  EXPECT_EQ(io.writes_to(0x20)[0].value, 0x11);
  EXPECT_EQ(io.writes_to(0xa0)[0].value, 0x11);
}

TEST(Clock, ConversionsRoundAndDoNotOverflow) {
  const clock::Clock clk(3000000000ull);  // 3 GHz
  EXPECT_EQ(clk.to_us(3000), 1u);
  EXPECT_EQ(clk.to_ms_ceil(1), 1u);  // any time at all is at least 1 ms
  EXPECT_EQ(clk.to_ms_ceil(3000000), 1u);
  EXPECT_EQ(clk.to_ms_ceil(3000001), 2u);
  EXPECT_EQ(clk.to_ms_ceil(0), 0u);
  // A day of ticks: ticks * 1e6 alone would overflow 64 bits.
  const uint64_t day = 86400ull * 3000000000ull;
  EXPECT_EQ(clk.to_us(day), 86400000000ull);
  EXPECT_EQ(clk.to_ms_ceil(day), 86400000ull);
  EXPECT_EQ(clock::Clock().to_us(12345), 0u);
  EXPECT_FALSE(clock::Clock().known());
}

TEST(Clock, CalibratesAgainstPitCounter2) {
  FakePortIo io;
  uint64_t tsc = 1000;
  // Each poll of port 0x61 takes 10 us of a 2 GHz TSC; OUT2 rises after
  // 1000 polls = 10 ms, the programmed 11932 PIT ticks.
  io.on_port61_read = [&tsc] { tsc += 20000; };
  io.pit_out2_after_reads = 1000;
  const uint64_t hz = clock::calibrate_tsc_hz(io, [&tsc] { return tsc; });
  EXPECT_NEAR(static_cast<double>(hz), 2.0e9, 2.0e9 * 0.002);
  // Counter 2, LSB then MSB, mode 0; the count 11932 (0x2e9c).
  const auto control = io.writes_to(0x43);
  ASSERT_EQ(control.size(), 1u);
  EXPECT_EQ(control[0].value, 0xb0);
  const auto count = io.writes_to(0x42);
  ASSERT_EQ(count.size(), 2u);
  EXPECT_EQ(count[0].value, 0x9c);
  EXPECT_EQ(count[1].value, 0x2e);
  // Gate on, speaker off during the measurement; port 0x61 restored after.
  const auto port61 = io.writes_to(0x61);
  ASSERT_EQ(port61.size(), 2u);
  EXPECT_EQ(port61[0].value & 0x03, 0x01);
}

TEST(Clock, CalibrationGivesUpWhenOut2NeverRises) {
  FakePortIo io;
  io.pit_out2_after_reads = -1;
  uint64_t tsc = 0;
  EXPECT_EQ(clock::calibrate_tsc_hz(io, [&tsc] { return ++tsc; }), 0u);
}

TEST(X86Descriptors, FlatSegmentsAreTheBootProtocolValues) {
  // The customary encodings (Linux's GDT_ENTRY(0xa09b, 0, 0xfffff) and
  // GDT_ENTRY(0xc093, 0, 0xfffff)): L=1 code, 4 KiB granular flat data.
  EXPECT_EQ(x86::flat_code64(), 0x00af9b000000ffffull);
  EXPECT_EQ(x86::flat_data(), 0x00cf93000000ffffull);
}

TEST(X86Descriptors, InterruptGateSplitsTheHandlerAddress) {
  const x86::GateDescriptor g = x86::interrupt_gate(0x1122334455667788ull, x86::kCodeSelector);
  EXPECT_EQ(g.low, 0x55668e0000107788ull);
  EXPECT_EQ(g.high, 0x11223344ull);
}

TEST(X86Descriptors, ErrorCodeVectorsAndMnemonics) {
  int with_error = 0;
  for (int v = 0; v < 32; ++v) with_error += x86::pushes_error_code(v);
  EXPECT_EQ(with_error, 10);
  EXPECT_TRUE(x86::pushes_error_code(14));
  EXPECT_FALSE(x86::pushes_error_code(6));
  EXPECT_STREQ(x86::exception_mnemonic(14), "PF");
  EXPECT_STREQ(x86::exception_mnemonic(13), "GP");
  EXPECT_STREQ(x86::exception_mnemonic(2), "NMI");
  EXPECT_STREQ(x86::exception_mnemonic(256), "INT");
}

}  // namespace
}  // namespace limbo
