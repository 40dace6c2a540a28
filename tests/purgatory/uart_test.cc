// SPDX-License-Identifier: GPL-2.0-only
// The 16550 driver (purgatory/lib/uart16550.h) against a fake port bus:
// divisor latch programming, line settings, THR writes, bounded waits.
#include "lib/uart16550.h"

#include <gtest/gtest.h>

#include "fakes.h"

namespace limbo::uart {
namespace {

using testing::FakePortIo;
using testing::PortAccess;

TEST(Uart16550, DivisorFor115200And9600) {
  EXPECT_EQ(divisor_for(115200), 1);
  EXPECT_EQ(divisor_for(9600), 12);
  EXPECT_EQ(divisor_for(0), 0);        // keep the programmed divisor
  EXPECT_EQ(divisor_for(1000000), 1);  // faster than possible: the maximum
  EXPECT_EQ(divisor_for(1), 0xffff);   // clamped to 16 bits
}

TEST(Uart16550, InitAt115200ProgramsTheLatchThen8N1) {
  FakePortIo io(0x3f8);
  Uart16550 uart(io, 0x3f8);
  uart.init(115200);
  EXPECT_EQ(io.dll, 1);
  EXPECT_EQ(io.dlm, 0);
  EXPECT_EQ(io.lcr, 0x03);  // 8 data bits, no parity, 1 stop bit, DLAB off
  EXPECT_EQ(io.ier, 0x00);  // polled
  EXPECT_EQ(io.mcr, 0x03);  // DTR, RTS
  EXPECT_EQ(io.fcr, 0x07);  // FIFOs on and cleared
  // The divisor bytes go out while DLAB is set, and DLAB is cleared after.
  const std::vector<PortAccess> expected_lcr = {{true, 0x3fb, 0x03}, {true, 0x3fb, 0x83}, {true, 0x3fb, 0x03}};
  EXPECT_EQ(io.writes_to(0x3fb), expected_lcr);
  const std::vector<PortAccess> expected_data = {{true, 0x3f8, 0x01}};
  EXPECT_EQ(io.writes_to(0x3f8), expected_data);
  EXPECT_TRUE(io.transmitted.empty());  // the divisor is not a transmitted byte
}

TEST(Uart16550, InitAt9600OnCom2) {
  FakePortIo io(0x2f8);
  Uart16550 uart(io, 0x2f8);
  uart.init(9600);
  EXPECT_EQ(io.dll, 12);
  EXPECT_EQ(io.dlm, 0);
  EXPECT_EQ(io.lcr, 0x03);
}

TEST(Uart16550, BaudZeroLeavesTheDivisorAlone) {
  FakePortIo io;
  Uart16550 uart(io, 0x3f8);
  uart.init(0);
  for (const auto& a : io.accesses) EXPECT_FALSE(a.write && a.port == 0x3fb && (a.value & 0x80));
}

TEST(Uart16550, PutWritesThrWhenEmpty) {
  FakePortIo io;
  Uart16550 uart(io, 0x3f8);
  uart.init(115200);
  EXPECT_TRUE(uart.put('h'));
  EXPECT_TRUE(uart.put('i'));
  EXPECT_EQ(io.transmitted, "hi");
  EXPECT_TRUE(uart.drain());
}

TEST(Uart16550, NeverEmptyGivesUpAfterTheBoundThenDropsAtOnce) {
  FakePortIo io;
  io.transmitter_ready = false;
  Uart16550 uart(io, 0x3f8);
  uart.init(115200);
  io.accesses.clear();
  EXPECT_FALSE(uart.put('x'));
  EXPECT_EQ(io.accesses.size(), kTransmitSpinLimit);  // exactly the bounded LSR polls
  EXPECT_TRUE(uart.dead());
  EXPECT_TRUE(io.transmitted.empty());
  io.accesses.clear();
  EXPECT_FALSE(uart.put('y'));
  EXPECT_TRUE(io.accesses.empty());  // a dead UART costs nothing more
  EXPECT_FALSE(uart.drain());
}

TEST(Uart16550, RegisterTypesMatchTheDatasheetBits) {
  EXPECT_EQ(LineControl{}.set_divisor_latch_access(true).value, 0x80);
  EXPECT_EQ(LineControl{}.set_word_length(LineControl::kWordLength8).value, 0x03);
  EXPECT_TRUE(LineStatus::from_value(0x20).transmit_holding_empty());
  EXPECT_FALSE(LineStatus::from_value(0x20).transmitter_empty());
  EXPECT_TRUE(LineStatus::from_value(0x40).transmitter_empty());
  EXPECT_EQ(ModemControl{}.set_out2(true).value, 0x08);
}

}  // namespace
}  // namespace limbo::uart
