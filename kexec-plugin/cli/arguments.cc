// SPDX-License-Identifier: GPL-2.0-only
#include "cli/arguments.h"

#include <array>
#include <string_view>

#include "pcie/address.h"
#include "cli/kexec_options.h"

namespace limbo::plugin::cli {
namespace {

bool take_value(const std::string& arg, std::string_view option, std::string& value) {
  if (arg.size() > option.size() && arg.compare(0, option.size(), option) == 0 && arg[option.size()] == '=') {
    value = arg.substr(option.size() + 1);
    return true;
  }
  return false;
}

}  // namespace

Result<Arguments> read_arguments(const std::vector<std::string>& argv) {
  Arguments out;
  KexecCommandLine kexec;
  bool after_dashdash = false;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (after_dashdash) {
      out.kexec_args.push_back(arg);
      continue;
    }
    std::string value;
    if (arg == "--") {
      after_dashdash = true;
      kexec.take(argv, i);
      out.kexec_args.push_back(arg);
    } else if (take_value(arg, "--fallback", value)) {
      if (value != "stock" && value != "none") return fail("--fallback takes stock or none, not '" + value + "'");
      out.fallback = value;
    } else if (arg == "--status") {
      out.status = true;
    } else if (take_value(arg, "--purgatory", value)) {
      if (value.empty()) return fail("--purgatory= needs a file");
      out.purgatory = value;
    } else if (arg == "--purgatory" || arg == "--kexec") {
      if (i + 1 >= argv.size()) return fail(arg + " needs a value");
      (arg == "--purgatory" ? out.purgatory : out.kexec) = argv[++i];
    } else if (take_value(arg, "--kexec", value)) {
      if (value.empty()) return fail("--kexec= needs a path");
      out.kexec = value;
    } else if (take_value(arg, "--on-fault", value)) {
      if (value != "halt" && value != "reboot") return fail("--on-fault takes reboot or halt, not '" + value + "'");
      out.on_fault = value;
    } else if (take_value(arg, "--on-corruption", value)) {
      if (value != "halt" && value != "reboot") return fail("--on-corruption takes halt or reboot, not '" + value + "'");
      out.on_corruption = value;
    } else if (take_value(arg, "--test-damage-segment", value)) {
      if (value.empty()) return fail("--test-damage-segment= needs ROLE[:OFFSET]");
      out.test.damage_segment = value;
    } else if (arg == "--dry-run") {
      out.dry_run = true;
    } else if (arg == "--verbose") {
      out.verbose = true;
    } else if (take_value(arg, "--pcie", value)) {
      auto mode = pcie::parse_mode(value);
      if (!mode) return fail(arg + ": " + mode.error().message);
      out.pcie.mode = *mode;
    } else if (take_value(arg, "--pcie-order", value)) {
      auto order = pcie::parse_order(value);
      if (!order) return fail(arg + ": " + order.error().message);
      out.pcie.order = *order;
    } else if (take_value(arg, "--pcie-exclude", value) || take_value(arg, "--pcie-include", value)) {
      // Repeatable: the lists add up, still within the configuration's room.
      const bool include = arg.rfind("--pcie-include=", 0) == 0;
      auto selection =
          pcie::parse_selection(value, include ? abi::PcieRuleAction::kInclude : abi::PcieRuleAction::kExclude);
      if (!selection) {
        return fail(arg + ": " + selection.error().message);
      } else if (auto added = pcie::add_selection(out.pcie, *selection); !added) {
        return fail(arg + ": " + added.error().message);
      }
    } else if (arg == "--pcie-include-display") {
      out.pcie.include_display = true;
    } else if (take_value(arg, "--pcie-settle-ms", value)) {
      auto ms = pcie::parse_settle_ms(value);
      if (!ms) return fail(arg + ": " + ms.error().message);
      out.pcie.settle_ms = *ms;
    } else if (take_value(arg, "--pcie-ready-timeout-ms", value)) {
      auto ms = pcie::parse_ready_timeout_ms(value);
      if (!ms) return fail(arg + ": " + ms.error().message);
      out.pcie.ready_timeout_ms = *ms;
    } else if (arg == "--pcie" || arg == "--pcie-order" || arg == "--pcie-exclude" || arg == "--pcie-include" || arg == "--pcie-settle-ms" ||
               arg == "--pcie-ready-timeout-ms") {
      return fail(arg + " takes its value after '=' (" + arg + "=...)");
    } else if (arg == "--report") {
      out.report = true;
    } else if (take_value(arg, "--report", value)) {
      if (value.empty()) return fail("--report= needs a file (or --report alone for /proc/cmdline)");
      out.report = true;
      out.report_file = value;
    } else if (arg == "--json") {
      out.report_json = true;
    } else if (take_value(arg, "--log", value)) {
      if (value.empty()) return fail("--log= needs a file (a saved copy of the log node's data)");
      out.report = true;
      out.report_log = value;
    } else if (take_value(arg, "--cmdline", value) || arg == "--cmdline=") {
      out.report = true;
      out.report_cmdline = value;
    } else if (arg == "--plan") {
      out.plan = true;
    } else if (arg == "--test-corrupt-digest") {
      out.test.corrupt_digest = true;
    } else if (arg == "--help") {
      out.help = true;
    } else if (arg == "--version") {
      out.version = true;
    } else {
      // kexec's own argument, read as its getopt_long will read it: an
      // option that takes a value swallows the next argument, whatever it
      // looks like (--append --dry-run is kexec's command line "--dry-run").
      const size_t taken = kexec.take(argv, i);
      for (size_t k = 0; k < taken; ++k) out.kexec_args.push_back(argv[i + k]);
      i += taken - 1;
    }
  }
  out.kexec_command = interpret(kexec.uses());
  out.expects_load = out.kexec_command.load;
  if (!kexec.error().empty()) {
    return fail(kexec.error() + " (kexec would print its usage and load nothing)");
  }
  return out;
}

Status check_arguments(const Arguments& args) {
  // -s or -a in any spelling or grouping, wherever it is: kexec_file_load
  // runs the kernel's own purgatory. Refused before kexec runs.
  if (!args.kexec_command.file_syscall_spellings.empty()) {
    return fail(args.kexec_command.file_syscall_spellings.front() +
                " selects kexec_file_load, where the kernel uses its own purgatory: "
                "Limbo works only through kexec_load (limbo-kexec passes -c)");
  }
  // With none of -l, -p, -u, -e, -f, -S... kexec loads the kernel and then
  // runs `shutdown -r` into it (its do_shutdown): a reboot of this machine,
  // not a crash-kernel load. limbo-kexec loads; it never reboots by default.
  if (args.kexec_command.shutdown && !args.kexec_command.exits_at_once && !args.kexec_args.empty()) {
    return fail("no -p or -l: kexec would load this kernel and reboot into it at once (its shutdown path); "
                "limbo-kexec only loads: give -p for a crash kernel, or -l");
  }
  if (args.status && (args.plan || args.report || !args.kexec_args.empty())) {
    return fail("--status reads what is loaded: give it no kexec arguments, no --plan or --report (kexec's own status is -S)");
  }
  if (args.report && !args.report_file.empty() && args.report_cmdline) {
    return fail("--report=FILE and --cmdline=STRING both name the command line to read: give one");
  }
  if (args.report_json && !args.report) {
    return fail("--json goes with --report (limbo-kexec --report --json)");
  }
  if (args.report && (args.plan || !args.kexec_args.empty())) {
    return fail("--report loads nothing: give it no kexec arguments and no --plan");
  }
  // A plan next to kexec arguments would read as if it loaded something.
  if (args.plan && !args.kexec_args.empty()) {
    return fail("--plan loads nothing: give it no kexec arguments (only Limbo's PCIe options)");
  }
  return Ok{};
}

Result<Arguments> parse_arguments(const std::vector<std::string>& argv) {
  LIMBO_TRY_ASSIGN(Arguments args, read_arguments(argv));
  LIMBO_TRY(check_arguments(args));
  return args;
}

std::string usage_text() {
  return
      "Usage: limbo-kexec [LIMBO OPTIONS] KEXEC ARGUMENTS...\n"
      "       limbo-kexec --plan [PCIE OPTIONS]\n"
      "       limbo-kexec --report[=FILE] | --cmdline=STRING [--log=FILE] [--json]\n"
      "Runs the system kexec with Limbo's purgatory in place of the stock one.\n"
      "Example: limbo-kexec -p /vmlinuz --initrd=/initrd.img --append=\"...\" \\\n"
      "           --console-serial --serial=0x3f8 --serial-baud=115200\n"
      "\n"
      "Every argument that is not a Limbo option is passed to kexec unchanged;\n"
      "limbo-kexec adds -c (the kexec_load system call: with kexec_file_load the\n"
      "kernel uses its own purgatory, so -s and -a are refused, in any grouping\n"
      "or spelling). kexec's arguments are read as kexec 2.0.25's getopt_long reads\n"
      "them (-ps, -uc, --kexec-file, -t TYPE, --append VALUE).\n"
      "Under kernel lockdown, kernel.kexec_load_disabled=1 or Secure Boot the kernel\n"
      "refuses kexec_load: limbo-kexec then refuses before kexec runs (exit 5) and\n"
      "names the stock command that works (kexec -s ...).\n"
      "\n"
      "Limbo options:\n"
      "  --purgatory=FILE       Limbo purgatory object (default " LIMBO_PURGATORY_PATH ")\n"
      "  --kexec=PATH           kexec binary (default /sbin/kexec, then /usr/sbin/kexec)\n"
      "  --dry-run              do everything except the kexec_load system call\n"
      "  --verbose              print the layout, segments and placement (lines 'limbo: ')\n"
      "  --test-corrupt-digest  TEST ONLY: give Limbo a wrong digest (it must refuse to boot)\n"
      "\n"
      "PCIe quiesce (the purgatory resets endpoints before the jump; --verbose\n"
      "prints the plan before loading):\n"
      "  --pcie=reset|off       secondary bus reset of eligible ports (default), or touch no device\n"
      "  --pcie-order=serial|overlap\n"
      "                         verify the image, then reset (default); or reset first and\n"
      "                         verify during the settle time (shorter DMA window and switch;\n"
      "                         a damaged image then finds the devices already reset)\n"
      "  --pcie-exclude=SSSS:BB:DD.F|VVVV:DDDD|VVVV:*|class:CC[SS[PP]][,...]\n"
      "                         leave these functions (and the port above) alone: by address\n"
      "                         (at most 32), Vendor:Device ID or class (at most 32 rules)\n"
      "  --pcie-include=...     (same syntax) reset these although Limbo's table of devices\n"
      "                         known not to survive a bus reset or FLR (Linux quirks) says not\n"
      "  --pcie-include-display also reset ports above display devices (class 03)\n"
      "  --pcie-settle-ms=N     wait after the reset, 100..60000 (default 100, PCIe r6.0 6.6.1)\n"
      "  --pcie-ready-timeout-ms=N\n"
      "                         give up on a device after N ms more, 1..60000 (default 1000)\n"
      "  --plan                 print this system's reset plan (tree, decision and reason per\n"
      "                         function) and load nothing; needs root to read config space\n"
      "                         past its first 64 bytes\n"
      "  --report               in the capture kernel: Limbo's report from /proc/cmdline in words\n"
      "                         (--report=FILE reads FILE, --cmdline=STRING reads STRING), and the\n"
      "                         purgatory's whole log from /sys/kernel/boot_params/setup_data\n"
      "                         (--log=FILE: a saved copy of the node's data); --json: one JSON object\n"
      "  --fallback=stock|none  a load Limbo refuses: stock = kexec-tools' own load goes to\n"
      "                         the kernel unchanged (stock purgatory, exit 6); none (default)\n"
      "                         = nothing is loaded, a crash kernel already loaded stays (exit 1)\n"
      "  --status               the crash kernel slot: loaded through Limbo (exit 0), loaded\n"
      "                         stock after a refusal (6), not loaded (7), loaded by a kexec\n"
      "                         without the plugin (8); kexec's own status is -S\n"
      "  --help, --version\n"
      "\n"
      "Verification (the purgatory hashes each segment's content and scans its zero fill):\n"
      "  --on-corruption=halt|reboot\n"
      "                         on a damaged image stop the CPU (default, as stock) or reset the\n"
      "                         machine (ACPI reset register, 0xCF9, keyboard controller, triple fault)\n"
      "  --on-fault=reboot|halt\n"
      "                         a fault (exception, machine check) in the purgatory before the image\n"
      "                         is verified: reset the machine (default, as stock's triple fault, with\n"
      "                         the diagnosis first) or stop the CPU; a fault in Limbo's optional\n"
      "                         work after verification (PCIe, report) abandons it and jumps\n"
      "  --test-damage-segment=ROLE[:OFFSET]\n"
      "                         TEST ONLY: change one byte of the first segment with that role\n"
      "                         (kernel, initrd, boot-params, elfcorehdr, backup, other) at OFFSET\n"
      "                         (default 0; 'last' = its last byte) after the digests were computed\n"
      "\n"
      "Exit status: 0 loaded through Limbo (or kexec -u/-e/-S passed through),\n"
      "  1 kexec or Limbo failed, 2 usage error, 3 kexec, plugin or purgatory not found,\n"
      "  5 this kernel refuses kexec_load (lockdown), 6 loaded stock after Limbo refused.\n"
      "  --report: 0 verified and no PCIe reset failed, 1 verification skipped or a reset\n"
      "  failed, 3 the command line cannot be read, 4 no readable limbo= report (Limbo did not run).\n";
}

}  // namespace limbo::plugin::cli
