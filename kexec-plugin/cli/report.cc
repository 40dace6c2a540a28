// SPDX-License-Identifier: GPL-2.0-only
#include "cli/report.h"

#include <charconv>

namespace limbo::plugin::cli {
namespace {

// The purgatory's saturation points (purgatory/lib/report.h), per version.
struct Saturation {
  uint32_t reset, count;
  uint64_t ms;
};
constexpr Saturation kV1{999, 999, 9999999};
constexpr Saturation kV2{999, 99, 99999};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

template <typename T>
bool parse_decimal(std::string_view text, T& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

ReportReading malformed(std::string text, std::string error) {
  ReportReading reading;
  reading.verdict = ReportVerdict::kMalformed;
  reading.text = std::move(text);
  reading.error = std::move(error);
  return reading;
}

std::string plural(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string at_least(uint64_t n, uint64_t saturation) { return n >= saturation ? "at least " : ""; }

}  // namespace

ReportReading read_report(std::string_view cmdline) {
  constexpr std::string_view kKey = "limbo=";
  // The last word that starts with limbo=.
  std::optional<size_t> start;
  for (size_t at = cmdline.find(kKey); at != std::string_view::npos; at = cmdline.find(kKey, at + 1)) {
    if (at == 0 || is_space(cmdline[at - 1])) start = at;
  }
  if (!start) return ReportReading{};
  size_t end = *start + kKey.size();
  while (end < cmdline.size() && !is_space(cmdline[end])) ++end;
  const std::string text(cmdline.substr(*start + kKey.size(), end - *start - kKey.size()));

  std::vector<std::string_view> items;
  for (std::string_view rest = text;;) {
    const size_t comma = rest.find(',');
    items.push_back(rest.substr(0, comma));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (items.front() != "v1" && items.front() != "v2" && items.front() != "v3") {
    return malformed(text, "report version '" + std::string(items.front()) +
                               "' is not one this limbo-kexec reads (v1, v2, v3): is the purgatory newer than the command?");
  }
  LimboReport report;
  report.version = items.front() == "v3" ? 3 : items.front() == "v2" ? 2 : 1;
  const bool v2 = report.version >= 2;  // v3's fields are v2's, plus pcie:fault
  bool have_pcie = false;
  bool have_verify = false, have_reset = false, have_stop = false, have_skip = false, have_fail = false,
       have_ms = false;
  for (size_t i = 1; i < items.size(); ++i) {
    const std::string_view item = items[i];
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return malformed(text, "field '" + std::string(item) + "' is not NAME:VALUE");
    }
    const std::string_view name = item.substr(0, colon);
    const std::string_view value = item.substr(colon + 1);
    auto counter = [&](bool& seen, uint32_t& out) -> std::optional<ReportReading> {
      if (seen) return malformed(text, "field '" + std::string(name) + "' appears twice");
      if (!parse_decimal(value, out)) return malformed(text, "field '" + std::string(item) + "' is not a decimal count");
      seen = true;
      return std::nullopt;
    };
    std::optional<ReportReading> bad;
    if (name == "verify") {
      if (have_verify) return malformed(text, "field 'verify' appears twice");
      const std::string_view not_verified = v2 ? "off" : "skipped";
      if (value == "ok") report.verified = true;
      else if (value == not_verified) report.verified = false;
      else return malformed(text, "verify is '" + std::string(value) + "', neither ok nor " + std::string(not_verified));
      have_verify = true;
    } else if (name == "reset") {
      bad = counter(have_reset, report.reset);
    } else if (name == "stop" && v2) {
      bad = counter(have_stop, report.stop);
    } else if (name == "skip") {
      bad = counter(have_skip, report.skip);
    } else if (name == "fail") {
      bad = counter(have_fail, report.fail);
    } else if (name == "pcie" && report.version == 3) {
      if (have_pcie) return malformed(text, "field 'pcie' appears twice");
      if (value != "fault") return malformed(text, "pcie is '" + std::string(value) + "', not fault");
      report.pcie_fault = have_pcie = true;
    } else if (name == "ms") {
      if (have_ms) return malformed(text, "field 'ms' appears twice");
      if (!parse_decimal(value, report.ms)) return malformed(text, "field '" + std::string(item) + "' is not a decimal time");
      have_ms = true;
    } else {
      report.other.emplace_back(std::string(name), std::string(value));
    }
    if (bad) return *bad;
  }
  // v3's fault form has no counters, and must not have them.
  if (report.pcie_fault && (have_reset || have_stop || have_skip || have_fail)) {
    return malformed(text, "pcie:fault together with counters");
  }
  const bool counted = report.pcie_fault;
  std::string missing;
  for (auto [seen, name] : {std::pair{have_verify, "verify"}, std::pair{have_reset || counted, "reset"},
                            std::pair{have_stop || !v2 || counted, "stop"}, std::pair{have_skip || counted, "skip"},
                            std::pair{have_fail || counted, "fail"}, std::pair{have_ms, "ms"}}) {
    if (!seen) missing += std::string(missing.empty() ? "" : ", ") + name;
  }
  // A text cut short (the spare bytes after the command line are few) must
  // not read as a clean run.
  if (!missing.empty()) return malformed(text, "field(s) missing: " + missing);

  ReportReading reading;
  reading.text = text;
  reading.verdict =
      report.verified && report.fail == 0 && !report.pcie_fault ? ReportVerdict::kOk : ReportVerdict::kProblem;
  reading.report = std::move(report);
  return reading;
}

std::string describe_report(const ReportReading& reading, std::string_view source) {
  std::string out;
  auto line = [&out](const std::string& text) { out += "limbo report: " + text + "\n"; };
  switch (reading.verdict) {
    case ReportVerdict::kNotPresent:
      line("no limbo= on " + std::string(source) +
           ": Limbo did not run before this kernel (loaded without Limbo, or this is not a capture kernel)");
      line("result: NOT RUN");
      return out;
    case ReportVerdict::kMalformed:
      line("limbo=" + reading.text + " found on " + std::string(source) + " but not readable: " + reading.error);
      line("result: UNREADABLE");
      return out;
    case ReportVerdict::kOk:
    case ReportVerdict::kProblem:
      break;
  }
  const LimboReport& r = *reading.report;
  line("Limbo ran before this kernel (limbo=" + reading.text + " on " + std::string(source) + ")");
  if (r.verified) {
    line("verification: ok: every loaded segment matched the SHA-256 digest kexec-tools computed at load time");
  } else {
    line("verification: SKIPPED: the load asked for no checks (kexec -i), nothing was verified");
  }
  const Saturation& max = r.version >= 2 ? kV2 : kV1;
  if (r.pcie_fault) {
    line("PCIe: FAULT: an exception in the PCIe phase abandoned it after verification; Secondary Bus Reset was "
         "cleared on every port it had asserted, the endpoints below were not restored, and nothing was counted");
  } else if (r.version >= 2) {
    line("PCIe: " + at_least(r.reset, max.reset) + plural(r.reset, "function reset", "functions reset") +
         " (bus reset, FLR or class reset), " + at_least(r.stop, max.count) +
         plural(r.stop, "function stopped", "functions stopped") + " (bus master and MSI off, not reset), " +
         at_least(r.skip, max.count) + plural(r.skip, "function left alone", "functions left alone") + " (by policy), " +
         at_least(r.fail, max.count) + plural(r.fail, "reset failed", "resets failed"));
  } else {
    line("PCIe: " + at_least(r.reset, max.reset) + plural(r.reset, "endpoint reset", "endpoints reset") + ", " +
         at_least(r.skip, max.count) + plural(r.skip, "device left alone", "devices left alone") + " (by policy), " +
         at_least(r.fail, max.count) + plural(r.fail, "reset failed", "resets failed"));
  }
  if (r.fail > 0) line("PCIe: a device behind a failed reset may still be in the state the crashed kernel left it");
  line("time in the purgatory: " + at_least(r.ms, max.ms) + std::to_string(r.ms) + " ms");
  for (const auto& [name, value] : r.other) line("field " + name + ": " + value + " (not known to this limbo-kexec)");
  if (reading.verdict == ReportVerdict::kOk) {
    line("result: OK");
  } else {
    std::string why;
    if (!r.verified) why = "verification skipped";
    if (r.fail > 0) why += std::string(why.empty() ? "" : ", ") + plural(r.fail, "PCIe reset failed", "PCIe resets failed");
    if (r.pcie_fault) why += std::string(why.empty() ? "" : ", ") + "PCIe phase faulted";
    line("result: PROBLEM (" + why + ")");
  }
  return out;
}

}  // namespace limbo::plugin::cli
