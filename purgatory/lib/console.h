// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's console: every line goes to the 16550 UART and/or the VGA
// text screen that kexec-tools asked for, and begins with "limbo: " so that a
// log reader can tell the purgatory's lines from the kernels' around them.
#pragma once

#include <stdint.h>

#include "lib/uart16550.h"
#include "lib/vga.h"

namespace limbo::console {

inline constexpr char kLinePrefix[] = "limbo: ";

struct Settings {
  bool serial = false;
  uint16_t serial_base = 0x3f8;
  uint32_t serial_baud = 0;  // 0: keep the divisor already programmed
  bool vga = false;
};

template <class PortIo, class VgaCells>
class Console {
 public:
  constexpr Console(PortIo& io, VgaCells& cells) : uart_(io, 0x3f8), screen_(cells) {}

  void configure(const Settings& settings) {
    settings_ = settings;
    if (settings_.serial) {
      uart_.set_base(settings_.serial_base);
      uart_.init(settings_.serial_baud);
    }
    if (settings_.vga) screen_.clear();
    configured_ = true;
    at_line_start_ = true;
  }

  [[nodiscard]] bool configured() const { return configured_; }
  // True between lines: what an interrupt handler checks before it prints,
  // so that its line never splits one the interrupted code is writing.
  [[nodiscard]] bool at_line_start() const { return at_line_start_; }

  void put(char c) {
    if (at_line_start_) {
      at_line_start_ = false;
      for (const char* p = kLinePrefix; *p != '\0'; ++p) emit(*p);
    }
    if (c == '\n') {
      // Serial terminals want CR LF.
      emit('\r');
      at_line_start_ = true;
    }
    emit(c);
  }

  // While held, what would be written is kept, in order, and
  // written by release(): under --pcie-order=overlap the lines before the
  // devices are in reset wait until they are (a line takes about 1 ms on
  // QEMU's serial port). Every line still comes out, in the same order; a
  // full buffer is written out at once (earlier, never lost). drain()
  // releases first: a stop or a fault handler's line never waits behind it.
  void hold() { held_ = true; }
  void release() {
    held_ = false;
    write_held();
  }
  [[nodiscard]] bool holding() const { return held_; }

  // Waits (bounded) for the UART to send its last byte.
  void drain() {
    release();
    if (settings_.serial) (void)uart_.drain();
  }

 private:
  static constexpr uint32_t kHeldBytes = 1024;  // the banner, tsc, paging and PCIe order lines: about 500

  void emit(char c) {
    if (held_) {
      if (held_count_ == kHeldBytes) write_held();
      held_bytes_[held_count_++] = c;
      return;
    }
    write(c);
  }
  void write_held() {
    for (uint32_t i = 0; i < held_count_; ++i) write(held_bytes_[i]);
    held_count_ = 0;
  }
  void write(char c) {
    if (settings_.serial) (void)uart_.put(static_cast<uint8_t>(c));
    if (settings_.vga) screen_.put(c);
  }

  uart::Uart16550<PortIo> uart_;
  vga::TextConsole<VgaCells> screen_;
  Settings settings_;
  bool configured_ = false;
  bool at_line_start_ = true;
  bool held_ = false;
  uint32_t held_count_ = 0;
  char held_bytes_[kHeldBytes] = {};
};

}  // namespace limbo::console
