// SPDX-License-Identifier: GPL-2.0-only
// VGA text output for the purgatory's screen console: a 80x25 text console over
// an injected cell memory, and the register values of standard text mode 3
// written through an injected port-I/O type (kexec-tools' `reset_vga`).
// Register reference: IBM VGA Technical Reference / FreeVGA "VGA/SVGA Video
// Programming" (register sets by port; mode 3 = 80x25 16-colour text, 720x400).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace limbo::vga {

inline constexpr uint64_t kTextBufferPhys = 0xb8000;  // colour text frame buffer
inline constexpr int kColumns = 80;
inline constexpr int kRows = 25;
inline constexpr uint16_t kAttributeLightGrey = 0x07;  // attribute byte: grey on black
inline constexpr uint16_t kBlankCell = static_cast<uint16_t>(kAttributeLightGrey << 8 | ' ');

// A text console over `Cells`: `write(index, cell)` and `read(index)` on the
// 16-bit character/attribute cells, index = row * kColumns + column.
template <class Cells>
class TextConsole {
 public:
  explicit constexpr TextConsole(Cells& cells) : cells_(cells) {}

  void clear() {
    for (int i = 0; i < kRows * kColumns; ++i) cells_.write(i, kBlankCell);
    row_ = 0;
    column_ = 0;
  }

  void put(char c) {
    if (c == '\r') return;
    if (c == '\n') {
      new_line();
      return;
    }
    cells_.write(row_ * kColumns + column_,
                 static_cast<uint16_t>(kAttributeLightGrey << 8 | static_cast<uint8_t>(c)));
    if (++column_ == kColumns) new_line();
  }

  [[nodiscard]] int row() const { return row_; }
  [[nodiscard]] int column() const { return column_; }

 private:
  void new_line() {
    column_ = 0;
    if (row_ + 1 < kRows) {
      ++row_;
      return;
    }
    // Scroll one line up; the last line becomes blank.
    for (int i = 0; i < (kRows - 1) * kColumns; ++i) cells_.write(i, cells_.read(i + kColumns));
    for (int i = 0; i < kColumns; ++i) cells_.write((kRows - 1) * kColumns + i, kBlankCell);
  }

  Cells& cells_;
  int row_ = 0;
  int column_ = 0;
};

// ---- Standard mode 3 (FreeVGA "VGA Register Sets"; IBM VGA reference) ----

// I/O ports (colour addressing, Miscellaneous Output bit 0 = 1).
inline constexpr uint16_t kMiscOutputWrite = 0x3c2;
inline constexpr uint16_t kSequencerIndex = 0x3c4;
inline constexpr uint16_t kSequencerData = 0x3c5;
inline constexpr uint16_t kCrtcIndex = 0x3d4;
inline constexpr uint16_t kCrtcData = 0x3d5;
inline constexpr uint16_t kGraphicsIndex = 0x3ce;
inline constexpr uint16_t kGraphicsData = 0x3cf;
inline constexpr uint16_t kAttributeIndexData = 0x3c0;  // index, then data, by flip-flop
inline constexpr uint16_t kInputStatus1 = 0x3da;        // reading it resets the flip-flop

// Miscellaneous Output: I/O address select (colour, 0x3dx), RAM enable,
// 28.322 MHz clock (720 pixels), negative vertical / positive horizontal sync
// polarity for 400 lines.
inline constexpr uint8_t kMode3MiscOutput = 0x67;

// Sequencer registers 0..4: reset off; 9-dot characters; planes 0 and 1
// written (character and attribute); character map 0; odd/even, no chain-4.
inline constexpr uint8_t kMode3Sequencer[5] = {0x03, 0x00, 0x03, 0x00, 0x02};

// CRT controller registers 0x00..0x18: 80 columns of 9 dots, 400 scan lines
// of 16-line characters at 70 Hz; cursor off (register 0x0a bit 5); start
// address 0. Register 0x11 bit 7 write-protects 0x00..0x07, so the driver
// clears it first and writes this table's value (protect on) last of all.
inline constexpr uint8_t kMode3Crtc[25] = {
    0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x20, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
};
inline constexpr uint8_t kCrtcVerticalRetraceEnd = 0x11;
inline constexpr uint8_t kCrtcProtectBit = 0x80;  // CR11 bit 7: protect CR0-CR7

// Graphics controller registers 0..8: odd/even text addressing, memory map
// 0xb8000-0xbffff (register 6 = 0x0e), all bits writable.
inline constexpr uint8_t kMode3Graphics[9] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff};

// Attribute controller registers 0x00..0x14: the 16-entry EGA palette, text
// mode with line graphics and blink, overscan 0, all planes enabled, 9th-dot
// horizontal pan 8.
inline constexpr uint8_t kMode3Attribute[21] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a,
    0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00,
};
// Attribute index bit 5 (PAS): give the palette back to the display.
inline constexpr uint8_t kAttributePaletteSource = 0x20;

// Programs standard text mode 3 (the character font in plane 2 is not
// reloaded: the old kernel's text font, or the firmware's, is kept).
template <class PortIo>
void set_text_mode3(PortIo& io) {
  io.out8(kMiscOutputWrite, kMode3MiscOutput);
  for (uint8_t i = 0; i < sizeof(kMode3Sequencer); ++i) {
    io.out8(kSequencerIndex, i);
    io.out8(kSequencerData, kMode3Sequencer[i]);
  }
  io.out8(kCrtcIndex, kCrtcVerticalRetraceEnd);
  io.out8(kCrtcData, static_cast<uint8_t>(kMode3Crtc[kCrtcVerticalRetraceEnd] & ~kCrtcProtectBit));
  for (uint8_t i = 0; i < sizeof(kMode3Crtc); ++i) {
    uint8_t value = kMode3Crtc[i];
    if (i == kCrtcVerticalRetraceEnd) value = static_cast<uint8_t>(value & ~kCrtcProtectBit);
    io.out8(kCrtcIndex, i);
    io.out8(kCrtcData, value);
  }
  io.out8(kCrtcIndex, kCrtcVerticalRetraceEnd);
  io.out8(kCrtcData, kMode3Crtc[kCrtcVerticalRetraceEnd]);
  for (uint8_t i = 0; i < sizeof(kMode3Graphics); ++i) {
    io.out8(kGraphicsIndex, i);
    io.out8(kGraphicsData, kMode3Graphics[i]);
  }
  for (uint8_t i = 0; i < sizeof(kMode3Attribute); ++i) {
    (void)io.in8(kInputStatus1);
    io.out8(kAttributeIndexData, i);
    io.out8(kAttributeIndexData, kMode3Attribute[i]);
  }
  (void)io.in8(kInputStatus1);
  io.out8(kAttributeIndexData, kAttributePaletteSource);
}

}  // namespace limbo::vga
