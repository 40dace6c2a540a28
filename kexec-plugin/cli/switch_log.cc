// SPDX-License-Identifier: GPL-2.0-only
#include "cli/switch_log.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "abi/limbo_abi.h"

namespace limbo::plugin::cli {
namespace {

using namespace std::string_literals;

template <typename T>
bool parse_decimal(std::string_view text, T& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

template <typename T>
T read_le(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
  return v;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%x", v);
  return buf;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "[SSSSS.UUUUUU] ": the seconds right-aligned (spaces before), or the
// unknown form "[    ?.??????] ".
bool parse_stamp(std::string_view s, std::optional<uint64_t>& us) {
  if (s.size() < abi::kLogStampWidth || s[0] != '[' || s[6] != '.' || s[13] != ']' || s[14] != ' ') return false;
  if (s.substr(0, abi::kLogStampWidth) == "[    ?.??????] ") {
    us.reset();
    return true;
  }
  uint64_t seconds = 0;
  bool digits = false;
  for (int i = 1; i <= 5; ++i) {
    if (s[i] == ' ') {
      if (digits) return false;  // a space after a digit
      continue;
    }
    if (!is_digit(s[i])) return false;
    digits = true;
    seconds = seconds * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  if (!digits) return false;
  uint64_t micros = 0;
  for (int i = 7; i <= 12; ++i) {
    if (!is_digit(s[i])) return false;
    micros = micros * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  us = seconds * 1000000 + micros;
  return true;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// "0000:01:00.0"
bool is_bdf(std::string_view s) {
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
  for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u}) {
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// The number after `key` in `s` ("ready 101 ms" with key "ready ").
std::optional<uint64_t> number_after(std::string_view s, std::string_view key) {
  const size_t at = s.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  size_t end = at + key.size();
  while (end < s.size() && is_digit(s[end])) ++end;
  uint64_t v = 0;
  if (!parse_decimal(s.substr(at + key.size(), end - at - key.size()), v)) return std::nullopt;
  return v;
}

// "pcie BDF VID:DID class CCCCCC DECISION" (purgatory/lib/pcie/quiesce.h
// print_report); port lines ("pcie BDF port ...") are not functions.
std::optional<PcieFunctionOutcome> parse_function(std::string_view line) {
  if (!starts_with(line, "pcie ") || line.size() < 5 + 12 + 1 + 9 + 7 + 6 + 1) return std::nullopt;
  std::string_view rest = line.substr(5);
  if (!is_bdf(rest.substr(0, 12)) || rest[12] != ' ') return std::nullopt;
  PcieFunctionOutcome f;
  f.bdf = rest.substr(0, 12);
  rest.remove_prefix(13);
  if (rest.size() < 9 + 7 + 6 + 1 || rest[4] != ':' || rest.substr(9, 7) != " class ") return std::nullopt;
  f.id = rest.substr(0, 9);
  f.class_code = rest.substr(16, 6);
  if (rest.size() < 23 || rest[22] != ' ') return std::nullopt;
  const std::string_view d = rest.substr(23);
  f.decision = d;
  if (starts_with(d, "skip ") || starts_with(d, "leave ")) {
    const size_t space = d.find(' ');
    f.action = d.substr(0, space);
    f.outcome = d.substr(space + 1);
    return f;
  }
  if (starts_with(d, "stop by ")) {
    f.action = "stop";
    std::string_view m = d.substr(8);
    f.method = m.substr(0, m.find(" ("));
    f.method = f.method.substr(0, f.method.find(','));
    f.outcome = "stopped";
    return f;
  }
  const size_t by = d.find(" by ");
  if (by == std::string_view::npos) {
    f.action = "other";
    f.outcome = d;
    return f;
  }
  std::string_view outcome = d.substr(0, by);
  std::string_view method = d.substr(by + 4);
  f.method = method.substr(0, method.find(" ("));
  f.ms = number_after(outcome, " ready ");
  if (!f.ms) f.ms = number_after(outcome, " within ");
  // The outcome without its time: "reset ok", "failed never answered, left alone".
  for (std::string_view cut : {" ready ", " within ", " after "}) {
    const size_t at = outcome.find(cut);
    if (at != std::string_view::npos) outcome = outcome.substr(0, at);
  }
  f.outcome = outcome;
  f.action = starts_with(outcome, "failed") ? "fail" : starts_with(outcome, "stopped") ? "stop" : "reset";
  return f;
}

// "sha256: segment I (ROLE) at 0xS size 0xZ, content 0xC bytes: ok"
std::optional<SegmentOutcome> parse_segment(std::string_view line) {
  constexpr std::string_view kHead = "sha256: segment ";
  if (!starts_with(line, kHead)) return std::nullopt;
  std::string_view rest = line.substr(kHead.size());
  SegmentOutcome s;
  const size_t open = rest.find(" (");
  const size_t close = rest.find(") at ");
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  if (!parse_decimal(rest.substr(0, open), s.index)) return std::nullopt;
  s.role = rest.substr(open + 2, close - open - 2);
  rest.remove_prefix(close + 5);
  const size_t size_at = rest.find(" size ");
  const size_t content_at = rest.find(", content ");
  const size_t bytes_at = rest.find(" bytes: ");
  if (size_at == std::string_view::npos || content_at == std::string_view::npos || bytes_at == std::string_view::npos ||
      !(size_at < content_at && content_at < bytes_at)) {
    return std::nullopt;
  }
  s.start = rest.substr(0, size_at);
  s.size = rest.substr(size_at + 6, content_at - size_at - 6);
  s.content = rest.substr(content_at + 10, bytes_at - content_at - 10);
  s.ok = rest.substr(bytes_at + 8) == "ok";
  return s;
}

// "times: verify V us, pcie P us, dma window W us, total T us": any
// "NAME N us" pairs, NAME one word or more ("dma window").
void parse_times(std::string_view rest, LogSummary& s) {
  while (!rest.empty()) {
    const size_t comma = rest.find(", ");
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 2);
    if (item.size() < 5 || item.substr(item.size() - 3) != " us") continue;
    item.remove_suffix(3);
    const size_t space = item.rfind(' ');
    if (space == std::string_view::npos || space == 0) continue;
    uint64_t v = 0;
    if (!parse_decimal(item.substr(space + 1), v)) continue;
    const std::string_view name = item.substr(0, space);
    if (name == "verify") s.verify_us = v;
    else if (name == "pcie") s.pcie_us = v;
    else if (name == "dma window") s.dma_window_us = v;
    else if (name == "total") s.total_us = v;
  }
}

// ---- JSON ----------------------------------------------------------------

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c >= 0x7f) {
      // Control bytes and anything not ASCII (the purgatory writes ASCII;
      // a damaged node may not): one code point per byte, valid JSON.
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

template <typename T>
std::string json_optional(const std::optional<T>& v) {
  return v ? std::to_string(*v) : "null";
}

const char* verdict_name(ReportVerdict v) {
  switch (v) {
    case ReportVerdict::kOk: return "ok";
    case ReportVerdict::kProblem: return "problem";
    case ReportVerdict::kNotPresent: return "not-run";
    case ReportVerdict::kMalformed: return "unreadable";
  }
  return "unreadable";
}

std::string ms_text(const std::optional<uint64_t>& ms) { return ms ? " after " + std::to_string(*ms) + " ms" : ""; }

std::string seconds_text(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%llu.%06llu s", static_cast<unsigned long long>(us / 1000000),
                static_cast<unsigned long long>(us % 1000000));
  return buf;
}

}  // namespace

Result<SwitchLog> parse_log_node(std::span<const uint8_t> data) {
  if (data.size() < sizeof(abi::LogHeader)) {
    return fail("log node: " + std::to_string(data.size()) + " bytes, shorter than its " +
                std::to_string(sizeof(abi::LogHeader)) + "-byte header");
  }
  const uint8_t* p = data.data();
  const uint32_t magic = read_le<uint32_t>(p + offsetof(abi::LogHeader, magic));
  if (magic != abi::kLogMagic) return fail("log node: magic " + hex32(magic) + ", not Limbo's " + hex32(abi::kLogMagic));
  SwitchLog log;
  log.version = read_le<uint16_t>(p + offsetof(abi::LogHeader, version));
  if (log.version != abi::kLogVersion) {
    return fail("log node: version " + std::to_string(log.version) + ", this limbo-kexec reads " +
                std::to_string(abi::kLogVersion) + " (is the purgatory newer than the command?)");
  }
  const uint16_t header_size = read_le<uint16_t>(p + offsetof(abi::LogHeader, header_size));
  if (header_size < sizeof(abi::LogHeader) || header_size > data.size()) {
    return fail("log node: header size " + std::to_string(header_size) + " outside " +
                std::to_string(sizeof(abi::LogHeader)) + ".." + std::to_string(data.size()));
  }
  log.capacity = read_le<uint32_t>(p + offsetof(abi::LogHeader, capacity));
  log.used = read_le<uint32_t>(p + offsetof(abi::LogHeader, used));
  const uint32_t lines = read_le<uint32_t>(p + offsetof(abi::LogHeader, lines));
  log.dropped_lines = read_le<uint32_t>(p + offsetof(abi::LogHeader, dropped_lines));
  log.tsc_hz = read_le<uint64_t>(p + offsetof(abi::LogHeader, tsc_hz));
  if (log.capacity > data.size() - header_size) {
    return fail("log node: capacity " + std::to_string(log.capacity) + " bytes exceeds the node's " +
                std::to_string(data.size() - header_size) + " bytes of text");
  }
  if (log.used > log.capacity) {
    return fail("log node: " + std::to_string(log.used) + " bytes used of a capacity of " + std::to_string(log.capacity));
  }
  const std::string_view text(reinterpret_cast<const char*>(p + header_size), log.used);
  if (!text.empty() && text.back() != '\n') return fail("log node: the last line has no newline (cut)");
  size_t at = 0;
  while (at < text.size()) {
    const size_t nl = text.find('\n', at);
    const std::string_view line = text.substr(at, nl - at);
    const std::string where = "log node: line " + std::to_string(log.lines.size() + 1);
    if (line.find('\0') != std::string_view::npos) return fail(where + " holds a NUL byte");
    LogLine l;
    if (!parse_stamp(line, l.us)) return fail(where + " has no \"[SSSSS.UUUUUU] \" time stamp");
    l.text = line.substr(abi::kLogStampWidth);
    log.lines.push_back(std::move(l));
    at = nl + 1;
  }
  if (log.lines.size() != lines) {
    return fail("log node: the header counts " + std::to_string(lines) + " lines, the text holds " +
                std::to_string(log.lines.size()));
  }
  return log;
}

LogSummary summarize_log(const SwitchLog& log) {
  LogSummary s;
  for (const LogLine& l : log.lines) {
    const std::string_view t = l.text;
    if (t == "sha256: portable" || t == "sha256: sha-ni") {
      s.engine = t.substr(8);
    } else if (starts_with(t, "sha256: ok")) {
      s.verification = "ok";
      s.verification_line = t;
    } else if (starts_with(t, "sha256: skipped")) {
      s.verification = "skipped";
      s.verification_line = t;
    } else if (starts_with(t, "sha256: MISMATCH")) {
      s.verification = "mismatch";
      s.verification_line = t;
    } else if (auto seg = parse_segment(t)) {
      s.segments.push_back(std::move(*seg));
    } else if (t == "pcie: off") {
      s.pcie = "off";
      s.pcie_detail = t;
    } else if (starts_with(t, "pcie: not reset")) {
      s.pcie = "not-reset";
      s.pcie_detail = t;
    } else if (starts_with(t, "fault in the pcie phase")) {
      s.pcie = "fault";
      s.pcie_detail = t;
    } else if (starts_with(t, "pcie reset ")) {
      // "pcie reset R stop S skip K fail F ports P in M ms"
      std::istringstream in{std::string(t.substr(5))};
      std::string word;
      uint64_t v = 0;
      while (in >> word) {
        std::string number;
        if (!(in >> number) || !parse_decimal(std::string_view(number), v)) break;
        if (word == "reset") s.reset = static_cast<uint32_t>(v);
        else if (word == "stop") s.stop = static_cast<uint32_t>(v);
        else if (word == "skip") s.skip = static_cast<uint32_t>(v);
        else if (word == "fail") s.fail = static_cast<uint32_t>(v);
        else if (word == "ports") s.ports = static_cast<uint32_t>(v);
        else if (word == "in") s.pcie_ms = v;
      }
      if (s.pcie != "fault") {
        s.pcie = "done";
        s.pcie_detail = t;
      }
    } else if (auto f = parse_function(t)) {
      s.functions.push_back(std::move(*f));
    } else if (starts_with(t, "times: ")) {
      parse_times(t.substr(7), s);
    } else if (starts_with(t, "jumping to ")) {
      s.jumped = true;
      s.jump_us = number_after(t, ") after ");
    }
  }
  return s;
}

LogSource read_log_file(const std::string& path) {
  LogSource source;
  source.path = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    source.problem = "cannot read " + path + ": " + std::strerror(errno);
    return source;
  }
  source.found_node = true;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string data = bytes.str();
  auto parsed = parse_log_node(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  if (!parsed) {
    source.problem = parsed.error().message;
    return source;
  }
  source.log = std::move(*parsed);
  return source;
}

LogSource find_log_node(const std::string& boot_params_dir) {
  LogSource source;
  const std::string dir = boot_params_dir + "/setup_data";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    source.problem = "no " + dir + " (" + std::strerror(errno) +
                     "): no setup_data nodes, or a kernel without /sys/kernel/boot_params (before 3.14)";
    return source;
  }
  std::vector<uint32_t> numbers;
  while (const dirent* e = readdir(d)) {
    uint32_t n = 0;
    if (parse_decimal(std::string_view(e->d_name), n)) numbers.push_back(n);
  }
  closedir(d);
  std::sort(numbers.begin(), numbers.end());
  for (uint32_t n : numbers) {
    const std::string node = dir + "/" + std::to_string(n);
    std::ifstream type_file(node + "/type");
    std::string type_text;
    if (!type_file || !std::getline(type_file, type_text)) continue;
    if (type_text != hex32(abi::kSetupDataLimboLog)) continue;
    return read_log_file(node + "/data");
  }
  source.problem = "no setup_data node of Limbo's type " + hex32(abi::kSetupDataLimboLog) + " in " + dir + " (" +
                   std::to_string(numbers.size()) + " nodes): an older Limbo, or the purgatory did not link it";
  return source;
}

std::string describe_switch(const ReportReading& cmdline, std::string_view cmdline_source, const LogSource& source) {
  std::string out = describe_report(cmdline, cmdline_source);
  auto line = [&out](const std::string& text) { out += "limbo report: " + text + "\n"; };
  if (!source.log) {
    line(std::string(source.found_node ? "log node unreadable: " : "no log node: ") + source.problem +
         "; the command-line report above is all there is");
    return out;
  }
  const SwitchLog& log = *source.log;
  const LogSummary s = summarize_log(log);
  line("log: " + std::to_string(log.lines.size()) + " lines from " + source.path +
       (log.dropped_lines != 0 ? ", " + std::to_string(log.dropped_lines) + " more dropped (the node was full)" : ""));
  std::string v = "verification (log): " + s.verification;
  if (!s.engine.empty()) v += ", " + s.engine + " sha-256";
  if (!s.verification_line.empty()) v += ": " + s.verification_line;
  line(v);
  for (const SegmentOutcome& seg : s.segments) {
    line("  segment " + std::to_string(seg.index) + " " + seg.role + " at " + seg.start + " size " + seg.size +
         ", content " + seg.content + " bytes: " + (seg.ok ? "ok" : "NOT OK"));
  }
  if (s.segments.empty() && s.verification == "ok") line("  (the whole image hashed against kexec-tools' digest)");
  line("PCIe (log): " + s.pcie + (s.pcie_detail.empty() ? "" : ": " + s.pcie_detail));
  for (const PcieFunctionOutcome& f : s.functions) {
    std::string what;
    if (f.action == "skip") what = "skipped: " + f.outcome;
    else if (f.action == "stop") what = "stopped by " + f.method;
    else if (f.action == "fail") what = "FAILED (" + f.outcome + ") by " + f.method + ms_text(f.ms);
    else what = f.outcome + (f.ms ? ", ready after " + std::to_string(*f.ms) + " ms" : "") + " by " + f.method;
    line("  " + f.bdf + " " + f.id + " class " + f.class_code + ": " + what);
  }
  std::string times = "timeline (log):";
  if (s.verify_us) times += " verify " + std::to_string(*s.verify_us) + " us,";
  if (s.pcie_us) times += " pcie " + std::to_string(*s.pcie_us) + " us,";
  if (s.dma_window_us) times += " dma window " + std::to_string(*s.dma_window_us) + " us,";
  if (s.total_us) times += " total " + std::to_string(*s.total_us) + " us,";
  times += s.jump_us ? " jump at " + std::to_string(*s.jump_us) + " us" : " no jump line";
  line(times);
  for (const LogLine& l : log.lines) {
    out += "limbo log: [" + (l.us ? seconds_text(*l.us) : "?"s) + "] " + l.text + "\n";
  }
  return out;
}

std::string switch_json(const ReportReading& cmdline, std::string_view cmdline_source, const LogSource& source) {
  std::string o = "{";
  o += "\"schema\":\"limbo-report/1\"";
  o += ",\"result\":" + json_string(verdict_name(cmdline.verdict));
  o += ",\"cmdline\":{\"source\":" + json_string(cmdline_source) + ",\"text\":" +
       (cmdline.verdict == ReportVerdict::kNotPresent ? "null"s : json_string(cmdline.text));
  if (cmdline.report) {
    const LimboReport& r = *cmdline.report;
    o += ",\"version\":" + std::to_string(r.version) + ",\"verified\":" + (r.verified ? "true" : "false") +
         ",\"reset\":" + std::to_string(r.reset) + ",\"stop\":" + std::to_string(r.stop) +
         ",\"skip\":" + std::to_string(r.skip) + ",\"fail\":" + std::to_string(r.fail) +
         ",\"ms\":" + std::to_string(r.ms) + ",\"pcie_fault\":" + (r.pcie_fault ? "true" : "false");
  }
  if (cmdline.verdict == ReportVerdict::kMalformed) o += ",\"error\":" + json_string(cmdline.error);
  o += "}";
  if (!source.log) {
    o += ",\"log\":{\"present\":false,\"source\":" + (source.path.empty() ? "null"s : json_string(source.path)) +
         ",\"error\":" + json_string(source.problem) + "}}\n";
    return o;
  }
  const SwitchLog& log = *source.log;
  const LogSummary s = summarize_log(log);
  o += ",\"log\":{\"present\":true,\"source\":" + json_string(source.path) +
       ",\"version\":" + std::to_string(log.version) + ",\"capacity\":" + std::to_string(log.capacity) +
       ",\"used\":" + std::to_string(log.used) + ",\"dropped_lines\":" + std::to_string(log.dropped_lines) +
       ",\"tsc_hz\":" + std::to_string(log.tsc_hz) + ",\"lines\":[";
  for (size_t i = 0; i < log.lines.size(); ++i) {
    o += (i ? "," : "") + "{\"us\":"s + json_optional(log.lines[i].us) + ",\"text\":" + json_string(log.lines[i].text) + "}";
  }
  o += "]}";
  o += ",\"verification\":{\"state\":" + json_string(s.verification) + ",\"engine\":" +
       (s.engine.empty() ? "null"s : json_string(s.engine)) + ",\"line\":" +
       (s.verification_line.empty() ? "null"s : json_string(s.verification_line)) + ",\"segments\":[";
  for (size_t i = 0; i < s.segments.size(); ++i) {
    const SegmentOutcome& g = s.segments[i];
    o += (i ? "," : "") + "{\"index\":"s + std::to_string(g.index) + ",\"role\":" + json_string(g.role) +
         ",\"start\":" + json_string(g.start) + ",\"size\":" + json_string(g.size) + ",\"content\":" +
         json_string(g.content) + ",\"ok\":" + (g.ok ? "true" : "false") + "}";
  }
  o += "]}";
  o += ",\"pcie\":{\"state\":" + json_string(s.pcie) + ",\"line\":" +
       (s.pcie_detail.empty() ? "null"s : json_string(s.pcie_detail)) + ",\"reset\":" + json_optional(s.reset) +
       ",\"stop\":" + json_optional(s.stop) + ",\"skip\":" + json_optional(s.skip) + ",\"fail\":" +
       json_optional(s.fail) + ",\"ports\":" + json_optional(s.ports) + ",\"ms\":" + json_optional(s.pcie_ms) +
       ",\"functions\":[";
  for (size_t i = 0; i < s.functions.size(); ++i) {
    const PcieFunctionOutcome& f = s.functions[i];
    o += (i ? "," : "") + "{\"bdf\":"s + json_string(f.bdf) + ",\"id\":" + json_string(f.id) + ",\"class\":" +
         json_string(f.class_code) + ",\"action\":" + json_string(f.action) + ",\"method\":" +
         (f.method.empty() ? "null"s : json_string(f.method)) + ",\"outcome\":" + json_string(f.outcome) +
         ",\"ms\":" + json_optional(f.ms) + ",\"decision\":" + json_string(f.decision) + "}";
  }
  o += "]}";
  o += ",\"times\":{\"verify_us\":" + json_optional(s.verify_us) + ",\"pcie_us\":" + json_optional(s.pcie_us) +
       ",\"dma_window_us\":" + json_optional(s.dma_window_us) + ",\"total_us\":" + json_optional(s.total_us) +
       ",\"jump_us\":" + json_optional(s.jump_us) + "}";
  o += "}\n";
  return o;
}

}  // namespace limbo::plugin::cli
