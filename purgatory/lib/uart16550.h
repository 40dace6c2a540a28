// SPDX-License-Identifier: GPL-2.0-only
// Polled 16550 UART driver for the purgatory's serial console, written against
// an injected port-I/O type (`in8(port)`, `out8(port, value)`) so that the same
// code drives the real port and a fake in host tests.
// Register reference: TI/National PC16550D datasheet, Table II "Summary of
// Registers" (offsets from the base I/O port; DLAB = LCR bit 7).
#pragma once

#include <stdint.h>

#include "lib/reg.h"

namespace limbo::uart {

// The UART's input clock divided by 16: the divisor for `baud` is this / baud
// (PC16550D §8.10 "Programmable Baud Generator", 1.8432 MHz crystal).
inline constexpr uint32_t kBaudBase = 115200;

// Polls of LSR before a byte is given up. A present UART at 300 baud empties
// its holding register in ~33 ms; a port read takes ~1 us on real hardware,
// so this is generous for any working UART and still bounds a dead one.
inline constexpr uint32_t kTransmitSpinLimit = 200000;

// Register offsets (PC16550D Table II).
enum class Offset : uint16_t {
  kData = 0,         // RBR (read) / THR (write), DLAB = 0
  kDivisorLow = 0,   // DLL, DLAB = 1
  kIntEnable = 1,    // IER, DLAB = 0
  kDivisorHigh = 1,  // DLM, DLAB = 1
  kFifoControl = 2,  // FCR (write) / IIR (read)
  kLineControl = 3,  // LCR
  kModemControl = 4, // MCR
  kLineStatus = 5,   // LSR
  kModemStatus = 6,  // MSR
  kScratch = 7,      // SCR
};

// IER (PC16550D Table II, register 1): all interrupt sources; we poll.
struct InterruptEnable : reg::Register<InterruptEnable, uint8_t> {
  static constexpr Offset kOffset = Offset::kIntEnable;
  LIMBO_REG_BIT(3, modem_status)
  LIMBO_REG_BIT(2, line_status)
  LIMBO_REG_BIT(1, transmit_empty)
  LIMBO_REG_BIT(0, receive_data)
};

// FCR (PC16550D Table II, register 2, write only).
struct FifoControl : reg::Register<FifoControl, uint8_t> {
  static constexpr Offset kOffset = Offset::kFifoControl;
  LIMBO_REG_FIELD(7, 6, receive_trigger)
  LIMBO_REG_BIT(3, dma_mode)
  LIMBO_REG_BIT(2, transmit_fifo_reset)
  LIMBO_REG_BIT(1, receive_fifo_reset)
  LIMBO_REG_BIT(0, fifo_enable)
};

// LCR (PC16550D Table II, register 3).
struct LineControl : reg::Register<LineControl, uint8_t> {
  static constexpr Offset kOffset = Offset::kLineControl;
  static constexpr uint8_t kWordLength8 = 0b11;  // WLS1:WLS0 = 11: 8 data bits
  LIMBO_REG_BIT(7, divisor_latch_access)         // DLAB
  LIMBO_REG_BIT(6, break_control)
  LIMBO_REG_BIT(5, stick_parity)
  LIMBO_REG_BIT(4, even_parity)
  LIMBO_REG_BIT(3, parity_enable)
  LIMBO_REG_BIT(2, two_stop_bits)
  LIMBO_REG_FIELD(1, 0, word_length)
};

// MCR (PC16550D Table II, register 4).
struct ModemControl : reg::Register<ModemControl, uint8_t> {
  static constexpr Offset kOffset = Offset::kModemControl;
  LIMBO_REG_BIT(4, loopback)
  LIMBO_REG_BIT(3, out2)
  LIMBO_REG_BIT(2, out1)
  LIMBO_REG_BIT(1, request_to_send)
  LIMBO_REG_BIT(0, data_terminal_ready)
};

// LSR (PC16550D Table II, register 5).
struct LineStatus : reg::Register<LineStatus, uint8_t> {
  static constexpr Offset kOffset = Offset::kLineStatus;
  LIMBO_REG_BIT(7, receive_fifo_error)
  LIMBO_REG_BIT(6, transmitter_empty)     // TEMT: THR and shift register empty
  LIMBO_REG_BIT(5, transmit_holding_empty) // THRE: a byte may be written
  LIMBO_REG_BIT(4, break_interrupt)
  LIMBO_REG_BIT(3, framing_error)
  LIMBO_REG_BIT(2, parity_error)
  LIMBO_REG_BIT(1, overrun_error)
  LIMBO_REG_BIT(0, data_ready)
};

// The divisor that kexec-tools' `serial_baud` asks for; 0 keeps the divisor
// already programmed (kexec-tools' behaviour when no baud rate is given).
constexpr uint16_t divisor_for(uint32_t baud) {
  if (baud == 0) return 0;
  uint32_t divisor = kBaudBase / baud;
  if (divisor == 0) divisor = 1;         // faster than the UART can go: its maximum
  if (divisor > 0xffff) divisor = 0xffff;  // DLM:DLL is 16 bits
  return static_cast<uint16_t>(divisor);
}

template <class PortIo>
class Uart16550 {
 public:
  constexpr Uart16550(PortIo& io, uint16_t base) : io_(io), base_(base) {}

  void set_base(uint16_t base) { base_ = base; }
  [[nodiscard]] uint16_t base() const { return base_; }

  // 8N1, polled (no interrupts), FIFOs enabled and cleared, DTR and RTS on.
  void init(uint32_t baud) {
    write(LineControl{}.set_word_length(LineControl::kWordLength8));
    write(InterruptEnable{});
    write(FifoControl{}.set_fifo_enable(true).set_receive_fifo_reset(true).set_transmit_fifo_reset(true));
    write(ModemControl{}.set_data_terminal_ready(true).set_request_to_send(true));
    const uint16_t divisor = divisor_for(baud);
    if (divisor != 0) {
      write(LineControl{}.set_word_length(LineControl::kWordLength8).set_divisor_latch_access(true));
      out(Offset::kDivisorLow, static_cast<uint8_t>(divisor & 0xff));
      out(Offset::kDivisorHigh, static_cast<uint8_t>(divisor >> 8));
      write(LineControl{}.set_word_length(LineControl::kWordLength8));
    }
    dead_ = false;
  }

  // Sends one byte once THR is empty. A UART that never reports THRE is
  // declared dead after one bounded wait, and later bytes are dropped at
  // once: a broken console must not stall the switch to the next kernel.
  [[nodiscard]] bool put(uint8_t byte) {
    if (dead_) return false;
    if (!wait_for([](LineStatus s) { return s.transmit_holding_empty(); })) {
      dead_ = true;
      return false;
    }
    out(Offset::kData, byte);
    return true;
  }

  // Waits (bounded) until the last byte has left the shift register, so the
  // next kernel's reprogramming of the UART cannot cut the final line.
  [[nodiscard]] bool drain() {
    if (dead_) return false;
    return wait_for([](LineStatus s) { return s.transmitter_empty(); });
  }

  [[nodiscard]] bool dead() const { return dead_; }

 private:
  template <class Condition>
  bool wait_for(Condition condition) {
    for (uint32_t spin = 0; spin < kTransmitSpinLimit; ++spin) {
      if (condition(LineStatus::from_value(in(Offset::kLineStatus)))) return true;
    }
    return false;
  }

  template <class Reg>
  void write(const Reg& r) {
    out(Reg::kOffset, r.value);
  }
  void out(Offset offset, uint8_t value) { io_.out8(static_cast<uint16_t>(base_ + static_cast<uint16_t>(offset)), value); }
  uint8_t in(Offset offset) { return io_.in8(static_cast<uint16_t>(base_ + static_cast<uint16_t>(offset))); }

  PortIo& io_;
  uint16_t base_;
  bool dead_ = false;
};

}  // namespace limbo::uart
