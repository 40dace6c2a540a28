// SPDX-License-Identifier: GPL-2.0-only
// Formatting of the command-line texts (see report.h).
#include "lib/report.h"

#include "lib/format.h"

namespace limbo::report {
namespace {

uint64_t saturate(uint64_t value, uint64_t max) { return value > max ? max : value; }

size_t finish(const fmt::BufferSink& sink) { return sink.overflowed() ? 0 : sink.length(); }

}  // namespace

size_t format_report(const Report& report, uint64_t ms, char* out, size_t capacity) {
  fmt::BufferSink sink(out, capacity);
  static_assert(kReportVersion == 3);
  if (report.pcie_fault) {
    fmt::print(sink, " limbo=v3,verify:", report.verify == Verify::kOk ? "ok" : "off", ",pcie:fault,ms:",
               fmt::dec(saturate(ms, kMaxMs)));
    const size_t length = finish(sink);
    if (length == 0 && capacity > 0) out[0] = '\0';
    return length;
  }
  fmt::print(sink, " limbo=v3,verify:", report.verify == Verify::kOk ? "ok" : "off",
             ",reset:", fmt::dec(saturate(report.reset, kMaxResetCount)),
             ",stop:", fmt::dec(saturate(report.stop, kMaxCount)),
             ",skip:", fmt::dec(saturate(report.skip, kMaxCount)),
             ",fail:", fmt::dec(saturate(report.fail, kMaxCount)),
             ",ms:", fmt::dec(saturate(ms, kMaxMs)));
  const size_t length = finish(sink);
  if (length == 0 && capacity > 0) out[0] = '\0';
  return length;
}

size_t format_jump_back(uint64_t jump_back_entry, char* out, size_t capacity) {
  fmt::BufferSink sink(out, capacity);
  fmt::print(sink, " kexec_jump_back_entry=0x", fmt::hex(jump_back_entry));
  const size_t length = finish(sink);
  if (length == 0 && capacity > 0) out[0] = '\0';
  return length;
}

AppendResult CmdlineAppender::append(const char* text, size_t length) {
  if (length + 1 > room()) return AppendResult::kNoRoom;
  // The text goes over the current NUL; its own NUL is written last.
  for (size_t i = 0; i < length; ++i) cursor_[used_ + i] = text[i];
  cursor_[used_ + length] = '\0';
  used_ += length;
  return AppendResult::kWritten;
}

}  // namespace limbo::report
