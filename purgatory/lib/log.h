// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's log: every console line, stamped with its time
// since entry, kept in a node (abi::LogNode) that the flow links into the next
// kernel's setup_data chain, so that the capture kernel can read the switch
// window without a serial console. Portable: the arch code owns the node and
// the TSC; host tests run it on plain memory.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/clock.h"
#include "lib/format.h"

namespace limbo::log {

// Writes lines into a LogNode's text. A line is written in place as it
// comes and counted only at its newline; a line that runs out of room is
// dropped whole (counted), never cut. Stamps of lines written before the
// TSC frequency is known are kept aside and filled in by set_clock().
class Recorder {
 public:
  // Not started: every line is dropped (and not counted) until start().
  constexpr Recorder() = default;

  void start(abi::LogNode& node, uint64_t entry_tsc) {
    node_ = &node;
    entry_tsc_ = entry_tsc;
    node.setup = abi::SetupDataHeader{0, abi::kSetupDataLimboLog, sizeof(abi::LogNode) - sizeof(abi::SetupDataHeader)};
    node.header = abi::LogHeader{abi::kLogMagic, abi::kLogVersion, sizeof(abi::LogHeader), abi::kLogCapacity, 0, 0, 0, 0};
    cursor_ = 0;
    in_line_ = false;
    line_dropped_ = false;
    pending_count_ = 0;
    hz_ = 0;
  }

  [[nodiscard]] bool started() const { return node_ != nullptr; }
  [[nodiscard]] bool at_line_start() const { return !in_line_; }
  [[nodiscard]] abi::LogNode* node() const { return node_; }

  // One character of a console line, the TSC read when it is the line's first.
  void put(char c, uint64_t tsc) {
    if (node_ == nullptr) return;
    if (!in_line_) begin(tsc);
    if (c == '\n') {
      end();
      return;
    }
    append(c);
  }

  // The TSC frequency is known: from now on lines are stamped as they start,
  // and the lines already kept get their stamps.
  void set_clock(uint64_t hz) {
    if (node_ == nullptr || hz == 0) return;
    hz_ = hz;
    node_->header.tsc_hz = hz;
    for (uint32_t i = 0; i < pending_count_; ++i) write_stamp(pending_[i].offset, pending_[i].tsc);
    pending_count_ = 0;
  }

 private:
  static constexpr uint32_t kPendingMax = 8;  // lines before the clock: the banner, the config and clock lines
  struct Pending {
    uint32_t offset;
    uint64_t tsc;
  };

  void begin(uint64_t tsc) {
    in_line_ = true;
    line_dropped_ = false;
    line_start_ = node_->header.used;
    cursor_ = line_start_;
    line_tsc_ = tsc;
    if (abi::kLogCapacity - cursor_ < abi::kLogStampWidth + 1) {
      line_dropped_ = true;
      return;
    }
    cursor_ += abi::kLogStampWidth;
    if (hz_ != 0) {
      write_stamp(line_start_, tsc);
    } else {
      write_unknown_stamp(line_start_);
    }
  }

  void append(char c) {
    if (line_dropped_) return;
    if (cursor_ + 1 >= abi::kLogCapacity) {  // room for this and the newline
      line_dropped_ = true;
      return;
    }
    node_->text[cursor_++] = c;
  }

  // The line is committed before the recorder says it is between lines: an
  // NMI handler that prints as soon as it is (LoggedConsole::at_line_start)
  // then starts after this line, never over it.
  void end() {
    if (line_dropped_) {
      if (node_->header.dropped_lines != UINT32_MAX) ++node_->header.dropped_lines;
    } else {
      node_->text[cursor_++] = '\n';
      if (hz_ == 0 && pending_count_ < kPendingMax) pending_[pending_count_++] = Pending{line_start_, line_tsc_};
      // `used` after the text: a reader sees only whole lines.
      node_->header.used = cursor_;
      ++node_->header.lines;
    }
    in_line_ = false;
  }

  void write_unknown_stamp(uint32_t offset) {
    const char unknown[] = "[    ?.??????] ";
    static_assert(sizeof(unknown) - 1 == abi::kLogStampWidth);
    for (uint32_t i = 0; i < abi::kLogStampWidth; ++i) node_->text[offset + i] = unknown[i];
  }

  // "[SSSSS.UUUUUU] ", seconds clamped at 99999.
  void write_stamp(uint32_t offset, uint64_t tsc) {
    const uint64_t ticks = tsc >= entry_tsc_ ? tsc - entry_tsc_ : 0;
    uint64_t us = clock::Clock(hz_).to_us(ticks);
    if (us > 99999999999ull) us = 99999999999ull;
    char* p = node_->text + offset;
    p[0] = '[';
    uint64_t seconds = us / 1000000;
    uint64_t micros = us % 1000000;
    for (int i = 5; i >= 1; --i) {
      p[i] = (seconds != 0 || i == 5) ? static_cast<char>('0' + seconds % 10) : ' ';
      seconds /= 10;
    }
    p[6] = '.';
    for (int i = 12; i >= 7; --i) {
      p[i] = static_cast<char>('0' + micros % 10);
      micros /= 10;
    }
    p[13] = ']';
    p[14] = ' ';
  }

  abi::LogNode* node_ = nullptr;
  uint64_t entry_tsc_ = 0;
  uint64_t hz_ = 0;
  uint32_t cursor_ = 0;
  uint32_t line_start_ = 0;
  uint64_t line_tsc_ = 0;
  bool in_line_ = false;
  bool line_dropped_ = false;
  uint32_t pending_count_ = 0;
  Pending pending_[kPendingMax] = {};
};

// The console the flow and the exception handlers print to: every character
// to the real console (serial, VGA, or neither when none was asked for) and
// to the log. `ReadTsc` is a callable returning the TSC.
template <class Console, class ReadTsc>
class LoggedConsole {
 public:
  template <class... Args>
  constexpr explicit LoggedConsole(ReadTsc read_tsc, Args&... args) : console_(args...), read_tsc_(read_tsc) {}

  void configure(const auto& settings) { console_.configure(settings); }
  [[nodiscard]] bool configured() const { return console_.configured(); }
  // Between lines on both: what a handler checks before it prints.
  [[nodiscard]] bool at_line_start() const { return console_.at_line_start() && recorder_.at_line_start(); }
  void put(char c) {
    console_.put(c);
    recorder_.put(c, recorder_.at_line_start() ? read_tsc_() : 0);
  }
  void drain() { console_.drain(); }
  // The real console's output held back (console::Console::hold); the log
  // still takes each line as it comes, stamped with its own time.
  void hold() { console_.hold(); }
  void release() { console_.release(); }

  Recorder& recorder() { return recorder_; }
  Console& console() { return console_; }

 private:
  Console console_;
  ReadTsc read_tsc_;
  Recorder recorder_;
};

// ---- Linking the node into the next kernel's setup_data chain ------------

enum class LinkStatus : uint8_t {
  kLinked,         // appended after `nodes` existing nodes
  kAlreadyLinked,  // the node is in the chain already (a purgatory run again)
  kNoBootParams,   // rsi was 0
  kOutside,        // a node of the chain lies outside the memory the loader placed
  kTooLong,        // more than kSetupDataMaxNodes nodes (or a loop)
};

struct LinkResult {
  LinkStatus status;
  uint32_t nodes;       // existing nodes walked
  uint64_t bad_node;    // kOutside: its address
};

[[nodiscard]] constexpr const char* link_status_text(LinkStatus s) {
  switch (s) {
    case LinkStatus::kLinked: return "linked";
    case LinkStatus::kAlreadyLinked: return "already linked";
    case LinkStatus::kNoBootParams: return "no boot_params (rsi 0)";
    case LinkStatus::kOutside: return "a setup_data node lies outside the loaded segments";
    case LinkStatus::kTooLong: return "the setup_data chain is too long or loops";
  }
  return "?";
}

// Appends `node` (at physical `node_address`; the purgatory's own memory, so
// written through the pointer) to the chain whose head is in
// boot_params at `boot_params`. Every existing node must lie inside one of
// the regions the loader placed (`regions`, kexec-tools' sha256_regions: the
// boot_params segment holds its nodes), so that the walk reads only memory
// that was loaded and mapped. `Memory::phys(address)` gives a pointer.
template <class Memory>
[[nodiscard]] LinkResult link_node(Memory& memory, uint64_t boot_params, const abi::Sha256Region* regions,
                                   size_t region_count, abi::SetupDataHeader& node, uint64_t node_address) {
  if (boot_params == 0) return {LinkStatus::kNoBootParams, 0, 0};
  auto inside = [&](uint64_t start, uint64_t size) {
    for (size_t i = 0; i < region_count; ++i) {
      const uint64_t r = regions[i].start, len = regions[i].len;
      if (len == 0) continue;
      if (start >= r && size <= len && start - r <= len - size) return true;
    }
    return false;
  };
  if (!inside(boot_params, abi::kBootParamsSize)) return {LinkStatus::kOutside, 0, boot_params};
  auto* link = reinterpret_cast<uint64_t*>(memory.phys(boot_params + abi::kBootParamsSetupDataOffset));
  uint32_t count = 0;
  while (*link != 0) {
    const uint64_t at = *link;
    if (at == node_address) return {LinkStatus::kAlreadyLinked, count, 0};
    if (count == abi::kSetupDataMaxNodes) return {LinkStatus::kTooLong, count, 0};
    if (!inside(at, sizeof(abi::SetupDataHeader))) return {LinkStatus::kOutside, count, at};
    auto* header = reinterpret_cast<abi::SetupDataHeader*>(memory.phys(at));
    if (!inside(at, sizeof(abi::SetupDataHeader) + uint64_t{header->len})) return {LinkStatus::kOutside, count, at};
    link = &header->next;
    ++count;
  }
  node.next = 0;
  *link = node_address;  // last: the chain is whole at every step
  return {LinkStatus::kLinked, count, 0};
}

}  // namespace limbo::log
