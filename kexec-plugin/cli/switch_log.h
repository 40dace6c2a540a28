// SPDX-License-Identifier: GPL-2.0-only
// limbo-kexec --report's second source: the purgatory's whole log,
// which it links into the capture kernel's boot_params setup_data chain as a
// node of type abi::kSetupDataLimboLog (purgatory/lib/log.h writes it). Read
// from /sys/kernel/boot_params/setup_data/N/ (Linux 3.14 and later), checked
// as hostile input, summarised (verification per segment, each PCIe function's
// decision and outcome, the phase times) and printed in words or as JSON.
// Pure logic apart from find_log_node.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/report.h"
#include "common/result.h"

namespace limbo::plugin::cli {

struct LogLine {
  std::optional<uint64_t> us;  // time since the purgatory's entry; none when its TSC frequency was unknown
  std::string text;            // the console line without "limbo: "
};

struct SwitchLog {
  uint16_t version = 0;
  uint32_t capacity = 0;
  uint32_t used = 0;
  uint32_t dropped_lines = 0;
  uint64_t tsc_hz = 0;
  std::vector<LogLine> lines;
};

// The node's payload (the sysfs `data` file): abi::LogHeader, then text.
// Every inconsistency is an Error naming it; never a partial log.
[[nodiscard]] Result<SwitchLog> parse_log_node(std::span<const uint8_t> data);

// What the log says, as the summary shows it.
struct SegmentOutcome {
  uint32_t index = 0;
  std::string role;      // kernel, initrd, boot-params, elfcorehdr, backup, other
  std::string start;     // "0x..." as printed
  std::string size;
  std::string content;   // content bytes, "0x..."
  bool ok = false;
};

struct PcieFunctionOutcome {
  std::string bdf;         // "0000:01:00.0"
  std::string id;          // "1b36:0010"
  std::string class_code;  // "010802"
  std::string action;      // reset | stop | skip | fail
  std::string method;      // bus reset, flr, af flr, nvme reset, virtio reset, bus master off; empty for skip
  std::string outcome;     // "reset ok", "failed never answered, left alone", ...; the reason for skip
  std::optional<uint64_t> ms;  // ready (or within) N ms
  std::string decision;    // the console line after the class, exactly
};

struct LogSummary {
  std::string verification = "unknown";  // ok | mismatch | skipped | unknown
  std::string engine;                    // portable | sha-ni
  std::string verification_line;         // the "sha256: ok (...)" line
  std::vector<SegmentOutcome> segments;  // per segment (empty for the stock full hash)
  std::string pcie = "unknown";          // done | off | not-reset | fault | unknown
  std::string pcie_detail;               // the line that said so
  std::vector<PcieFunctionOutcome> functions;
  std::optional<uint32_t> reset, stop, skip, fail, ports;
  std::optional<uint64_t> pcie_ms;
  std::optional<uint64_t> verify_us, pcie_us, dma_window_us, total_us, jump_us;
  bool jumped = false;                   // the "jumping to" line is there
};

[[nodiscard]] LogSummary summarize_log(const SwitchLog& log);

// Where the node came from, for the words and the JSON.
struct LogSource {
  std::string path;  // the data file read
  std::optional<SwitchLog> log;
  std::string problem;  // no log: why (no sysfs files, no node of Limbo's type, an unreadable node)
  bool found_node = false;  // a node of Limbo's type was there (problem then says why it is unusable)
};

// Looks for a node of type abi::kSetupDataLimboLog under `boot_params_dir`
// (normally /sys/kernel/boot_params) and parses it.
[[nodiscard]] LogSource find_log_node(const std::string& boot_params_dir);
// Reads a saved node payload (a copy of the data file).
[[nodiscard]] LogSource read_log_file(const std::string& path);

// The words: the command-line report's lines (describe_report), then the
// summary from the log and the whole log; or, without a log, the reason and
// the command-line report alone. Each line starts "limbo report: " except the
// log's own lines, which start "limbo log: ".
[[nodiscard]] std::string describe_switch(const ReportReading& cmdline, std::string_view cmdline_source,
                                          const LogSource& log);

// One JSON object (the field names are documented in limbo-kexec(8)).
[[nodiscard]] std::string switch_json(const ReportReading& cmdline, std::string_view cmdline_source,
                                      const LogSource& log);

}  // namespace limbo::plugin::cli
