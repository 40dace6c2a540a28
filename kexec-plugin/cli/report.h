// SPDX-License-Identifier: GPL-2.0-only
// limbo-kexec --report: the purgatory's ` limbo=v3,...` (or v2, v1) text on the capture
// kernel's command line (purgatory/lib/report.h writes it), read back and
// said in words, with the verdict a kdump script can act on. Pure logic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace limbo::plugin::cli {

// The fields of report versions 1 to 3. Their saturation points
// (purgatory/lib/report.h) read "at least": v1 counters 999, ms 9,999,999;
// v2 and v3 reset 999, stop/skip/fail 99, ms 99,999. v3 is v2 or,
// when a fault abandoned the PCIe phase, `pcie:fault` in place of the four
// counters.
struct LimboReport {
  int version = 1;
  bool verified = false;  // verify:ok; verify:skipped (v1) or verify:off (v2) means no check ran (kexec -i)
  uint32_t reset = 0;     // v1: endpoints reset by their port; v2: functions reset by any method
  uint32_t stop = 0;      // v2: functions only stopped (Bus Master and MSI off)
  uint32_t skip = 0;      // endpoints deliberately left alone
  uint32_t fail = 0;      // resets that did not complete
  uint64_t ms = 0;        // time in the purgatory
  bool pcie_fault = false;  // v3: a fault abandoned the PCIe phase (no counters then)
  // Fields this version of limbo-kexec does not know (a newer purgatory's
  // per-phase times, say), in order: shown as they are, never dropped.
  std::vector<std::pair<std::string, std::string>> other;
};

enum class ReportVerdict : uint8_t {
  kOk,          // verified, no reset failed
  kProblem,     // Limbo ran, but did not verify or a reset failed
  kNotPresent,  // no limbo= on the command line: Limbo did not run before this kernel
  kMalformed,   // a limbo= text this program cannot read (damaged or unknown version)
};

struct ReportReading {
  ReportVerdict verdict = ReportVerdict::kNotPresent;
  std::string text;                  // the limbo= value as found (empty when not present)
  std::optional<LimboReport> report; // set for kOk and kProblem
  std::string error;                 // for kMalformed: what is wrong
};

// Finds the last `limbo=` word of a kernel command line (the purgatory
// appends it at the end; an earlier one would have been inherited) and parses it.
[[nodiscard]] ReportReading read_report(std::string_view cmdline);

// The report in words, one line per fact, each starting "limbo report: ".
[[nodiscard]] std::string describe_report(const ReportReading& reading, std::string_view source);

}  // namespace limbo::plugin::cli
