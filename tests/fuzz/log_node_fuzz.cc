// SPDX-License-Identifier: GPL-2.0-only
// Fuzz target: limbo-kexec --report's reading of the purgatory's
// log node (kexec-plugin/cli/switch_log.h) over arbitrary bytes: the node
// parser must refuse by name or return whole, stamped lines that agree with
// the header; the summary, the words and the JSON must never crash, and the
// JSON must stay printable ASCII whatever the node held. The input is also
// read as raw log text, so that the line interpreters see arbitrary lines.
//
// Seeds (LIMBO_FUZZ_WRITE_SEEDS=<dir>, tests/fuzz/seed_writer.h): nodes
// written by the purgatory's own recorder (purgatory/lib/log.h), trimmed to
// their used text.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "abi/limbo_abi.h"
#include "cli/switch_log.h"
#include "lib/log.h"
#include "tests/fuzz/seed_writer.h"

namespace {

using namespace limbo;
using namespace limbo::plugin::cli;

[[noreturn]] void violated(const char* what) {
  fprintf(stderr, "log_node_fuzz: invariant violated: %s\n", what);
  abort();
}

std::vector<uint8_t> node_bytes(const std::vector<std::string>& lines, uint64_t hz, bool fill) {
  auto node = std::make_unique<abi::LogNode>();
  log::Recorder r;
  r.start(*node, 100);
  r.set_clock(hz);
  uint64_t tsc = 100;
  for (int round = 0; round < (fill ? 400 : 1); ++round) {
    for (const std::string& line : lines) {
      tsc += 977;
      for (char c : line) r.put(c, tsc);
      r.put('\n', tsc);
    }
  }
  node->header.capacity = node->header.used;  // trimmed: the fuzzer need not carry 16 KiB of zeros
  std::vector<uint8_t> out;
  fuzz::append(out, node->header);
  out.insert(out.end(), node->text, node->text + node->header.used);
  return out;
}

void check_json(const std::string& json) {
  if (json.empty() || json.front() != '{' || json.substr(json.size() - 2) != "}\n") violated("json not one object");
  for (size_t i = 0; i + 1 < json.size(); ++i) {
    const auto c = static_cast<unsigned char>(json[i]);
    if (c < 0x20 || c >= 0x7f) violated("json holds a raw control or non-ASCII byte");
  }
}

void exercise(const SwitchLog& log) {
  const LogSummary s = summarize_log(log);
  for (const auto& f : s.functions) {
    if (f.bdf.size() != 12 || f.id.size() != 9 || f.class_code.size() != 6) violated("function identity widths");
  }
  LogSource source;
  source.path = "fuzz";
  source.found_node = true;
  source.log = log;
  const ReportReading cmdline = read_report("limbo=v3,verify:ok,reset:1,stop:0,skip:0,fail:0,ms:5");
  check_json(switch_json(cmdline, "/proc/cmdline", source));
  (void)describe_switch(cmdline, "/proc/cmdline", source);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (fuzz::seed_dir() == nullptr) return 0;
  const std::vector<std::string> fabric = {
      "Limbo purgatory 0.1.0 entered, jump_back_entry 0x0, panic_kernel 1",
      "sha256: portable",
      "sha256: ok (5 regions, 68575232 bytes: 9444235 hashed, 59130997 zero fill scanned, 298470 us)",
      "sha256: segment 0 (kernel) at 0x38e00000 size 0x2a00000, content 0x8d4e00 bytes: ok",
      "sha256: segment 2 (boot parameters) at 0x3cf4e000 size 0x4000, content 0x3a10 bytes: ok",
      "pcie 0000:00:00.0 8086:29c0 class 060000 skip bridge class, no dma",
      "pcie 0000:01:00.0 1b36:0010 class 010802 reset ok ready 101 ms by bus reset (port 0000:00:02.0)",
      "pcie 0000:00:04.0 8086:10d3 class 020000 stop by bus master off (root complex integrated endpoint, no port)",
      "pcie 0000:00:05.0 1af4:1000 class 020000 reset ok within 113 ms by virtio reset (conventional pci)",
      "pcie 0000:00:03.0 1b36:0010 class 010802 failed never answered, left alone by flr (root complex integrated endpoint, no port)",
      "pcie reset 2 stop 1 skip 1 fail 1 ports 1 in 132 ms",
      "fault in the pcie phase: abandoning it; going on to the jump",
      "times: verify 299081 us, pcie 141586 us, total 461664 us",
      "jumping to 0x38e00200 (rsi 0x3cf4e000) after 461915 us",
  };
  fuzz::write_seed("fabric", node_bytes(fabric, 2098882000, false));
  fuzz::write_seed("unknown-clock", node_bytes({"tsc frequency unknown", "sha256: skipped (skip_checks set)", "pcie: off"}, 0, false));
  fuzz::write_seed("full", node_bytes(fabric, 1000000, true));
  exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  auto parsed = parse_log_node(bytes);
  if (!parsed) {
    if (parsed.error().message.rfind("log node: ", 0) != 0) violated("a refusal that does not name the node");
  } else {
    const SwitchLog& log = *parsed;
    if (log.used > log.capacity || log.capacity + sizeof(abi::LogHeader) > size) violated("sizes beyond the input");
    size_t text = 0;
    for (const LogLine& l : log.lines) {
      if (l.text.find('\n') != std::string::npos || l.text.find('\0') != std::string::npos) violated("a line with a newline or NUL");
      if (l.us && *l.us > 99999999999ull) violated("a stamp beyond its field");
      text += abi::kLogStampWidth + l.text.size() + 1;
    }
    if (text != log.used) violated("lines do not add up to the used bytes");
    exercise(log);
  }
  // The same bytes as log text: every line interpreter over arbitrary lines.
  SwitchLog raw;
  std::string line;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      raw.lines.push_back(LogLine{i, line});
      line.clear();
    } else {
      line.push_back(static_cast<char>(data[i]));
    }
  }
  if (!line.empty()) raw.lines.push_back(LogLine{std::nullopt, line});
  exercise(raw);
  return 0;
}
