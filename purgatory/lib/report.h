// SPDX-License-Identifier: GPL-2.0-only
// What the purgatory tells the next kernel: a short text appended to its
// command line in the 64 spare bytes kexec-tools leaves after the terminating
// NUL (` limbo=v3,verify:ok,reset:0,stop:0,skip:0,fail:0,ms:N`), and the
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
  uint32_t reset = 0;  // functions reset: by bus reset, FLR or their class's reset (methods 1-3)
  uint32_t stop = 0;   // functions only stopped: Bus Master and MSI/MSI-X off (method 4)
  uint32_t skip = 0;   // functions deliberately left alone
  uint32_t fail = 0;   // resets that did not complete
  bool pcie_fault = false;  // a fault abandoned the PCIe phase: the counters were never totalled
};

// Version 2 adds stop:. To fit the command line's 64 spare bytes
// with its NUL at its longest, v2 is shorter elsewhere than v1 was:
//   - verify is "ok" or "off" (v1's "skipped", four bytes longer);
//   - reset saturates at 999, stop, skip and fail at 99;
//   - ms saturates at 99999 (100 s: the longest wait the purgatory allows a
//     device is Linux's 60 s, so only a stalled clock reaches it).
// v1 (` limbo=v1,verify:ok|skipped,reset:R,skip:K,fail:F,ms:N`, counters at
// 999, ms at 9999999) is still read by `limbo-kexec --report`.
//
// Version 3 is v2 plus one alternative form: when a fault
// abandoned the PCIe phase, its four counters (never totalled) give way to
// `pcie:fault`: ` limbo=v3,verify:ok,pcie:fault,ms:N`. That form is shorter
// than the counters at their longest, so the worst case stays 63 bytes; the
// version changes because a v2 reader would call the fault form malformed
// (missing counters) rather than a fault. `limbo-kexec --report` reads v1-v3.
inline constexpr int kReportVersion = 3;
inline constexpr uint32_t kMaxResetCount = 999;
inline constexpr uint32_t kMaxCount = 99;  // stop, skip, fail
inline constexpr uint64_t kMaxMs = 99999;

// Capacity at cmdline_end, counting the text's terminating NUL.
inline constexpr size_t kCmdlineCapacity = abi::kCmdlineSpareBytes;

// Longest ` limbo=...` text:
// " limbo=v3,verify:off,reset:999,stop:99,skip:99,fail:99,ms:99999".
inline constexpr size_t kMaxReportLength =
    sizeof(" limbo=v3,verify:off,reset:999,stop:99,skip:99,fail:99,ms:99999") - 1;
static_assert(kMaxReportLength == 63);
static_assert(sizeof(" limbo=v3,verify:off,pcie:fault,ms:99999") - 1 <= kMaxReportLength);
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
