// What the purgatory tells the next kernel: a short text appended to its
// command line in the 64 spare bytes kexec-tools leaves after the terminating
// NUL (` limbo=v1,verify:ok,reset:0,skip:0,fail:0,ms:N`), and the
// ` kexec_jump_back_entry=0x...` text kexec-tools' own purgatory writes there.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"

namespace limbo::report {

enum class Verify : uint8_t { kOk, kSkipped };

// Filled along the flow; the PCIe reset fills the counters.
struct Report {
  Verify verify = Verify::kSkipped;
  uint32_t reset = 0;  // ports whose secondary bus was reset
  uint32_t skip = 0;   // endpoints deliberately left alone
  uint32_t fail = 0;   // resets that did not complete
};

// The text's numbers saturate at these values, which is what lets it always
// fit the command line's spare bytes (with its NUL) when it is alone there:
// 999 functions per counter, 9,999,999 ms (2.7 hours) of purgatory time.
inline constexpr uint32_t kMaxCount = 999;
inline constexpr uint64_t kMaxMs = 9999999;

// Capacity at cmdline_end, counting the text's terminating NUL.
inline constexpr size_t kCmdlineCapacity = abi::kCmdlineSpareBytes;

// Longest ` limbo=...` text: verify:skipped, 3-digit counters, 7-digit ms.
inline constexpr size_t kMaxReportLength = 63;
static_assert(kMaxReportLength + 1 <= kCmdlineCapacity);

// Writes the report text (NUL-terminated) into `out`; returns its length, or
// 0 if `capacity` is too small (nothing usable is written then).
[[nodiscard]] size_t format_report(const Report& report, uint64_t ms, char* out, size_t capacity);

// Writes ` kexec_jump_back_entry=0x<hex>` (kexec-tools' text) into `out`;
// returns its length, or 0 if it does not fit `capacity`.
[[nodiscard]] size_t format_jump_back(uint64_t jump_back_entry, char* out, size_t capacity);

enum class AppendResult : uint8_t { kWritten, kNoRoom };

// Appends texts at the command line's terminating NUL, never writing beyond
// `capacity` bytes from it; the line stays NUL-terminated after every append.
class CmdlineAppender {
 public:
  CmdlineAppender(char* cmdline_end, size_t capacity = kCmdlineCapacity)
      : cursor_(cmdline_end), capacity_(capacity) {}

  [[nodiscard]] AppendResult append(const char* text, size_t length);
  [[nodiscard]] size_t used() const { return used_; }
  [[nodiscard]] size_t room() const { return capacity_ - used_; }

 private:
  char* cursor_;
  size_t capacity_;
  size_t used_ = 0;
};

}  // namespace limbo::report
