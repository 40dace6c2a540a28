#include "cli/arguments.h"

#include <array>
#include <string_view>

#include "pcie/address.h"

namespace limbo::plugin::cli {
namespace {

bool take_value(const std::string& arg, std::string_view option, std::string& value) {
  if (arg.size() > option.size() && arg.compare(0, option.size(), option) == 0 && arg[option.size()] == '=') {
    value = arg.substr(option.size() + 1);
    return true;
  }
  return false;
}

// kexec options that set do_load = 1 / do_load = 0 (kexec-tools 2.0.25 main()).
constexpr std::array<std::string_view, 8> kLoadOptions = {
    "-l", "--load", "-p", "--load-panic", "--load-preserve-context", "--load-live-update", "-f", "--force"};
constexpr std::array<std::string_view, 10> kNoLoadOptions = {
    "-u", "--unload", "-e", "--exec", "-S", "--status", "-h", "-v", "--load-jump-back-helper", "--print-ckr-size"};

template <size_t N>
bool is_one_of(const std::string& arg, const std::array<std::string_view, N>& options) {
  for (std::string_view option : options) {
    if (arg == option) return true;
    // Long options that take a value: --load-jump-back-helper=ADDR and the like.
    if (option.size() > 2 && option[1] == '-' && arg.size() > option.size() && arg.compare(0, option.size(), option) == 0 &&
        arg[option.size()] == '=') {
      return true;
    }
  }
  return false;
}

}  // namespace

Arguments parse_arguments(const std::vector<std::string>& argv) {
  Arguments out;
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
      out.kexec_args.push_back(arg);
    } else if (take_value(arg, "--purgatory", value)) {
      if (value.empty()) out.error = "--purgatory= needs a file";
      out.purgatory = value;
    } else if (arg == "--purgatory" || arg == "--kexec") {
      if (i + 1 >= argv.size()) {
        out.error = arg + " needs a value";
        break;
      }
      (arg == "--purgatory" ? out.purgatory : out.kexec) = argv[++i];
    } else if (take_value(arg, "--kexec", value)) {
      if (value.empty()) out.error = "--kexec= needs a path";
      out.kexec = value;
    } else if (take_value(arg, "--on-corruption", value)) {
      if (value != "halt" && value != "reboot") out.error = "--on-corruption takes halt or reboot, not '" + value + "'";
      out.on_corruption = value;
    } else if (take_value(arg, "--test-damage-segment", value)) {
      if (value.empty()) out.error = "--test-damage-segment= needs ROLE[:OFFSET]";
      out.damage_segment = value;
    } else if (arg == "--dry-run") {
      out.dry_run = true;
    } else if (arg == "--verbose") {
      out.verbose = true;
    } else if (take_value(arg, "--pcie", value)) {
      auto mode = pcie::parse_mode(value);
      if (!mode) out.error = arg + ": " + mode.error().message;
      else out.pcie.mode = *mode;
    } else if (take_value(arg, "--pcie-exclude", value)) {
      auto excluded = pcie::parse_excluded(value);
      if (!excluded) {
        out.error = arg + ": " + excluded.error().message;
      } else {
        // Repeatable: the lists add up, still within the configuration's room.
        std::string all;
        for (const abi::PciAddress& a : out.pcie.excluded) all += pcie::format_function_address(a) + ",";
        auto merged = pcie::parse_excluded(all + value);
        if (!merged) out.error = arg + ": " + merged.error().message;
        else out.pcie.excluded = std::move(merged.value());
      }
    } else if (arg == "--pcie-include-display") {
      out.pcie.include_display = true;
    } else if (take_value(arg, "--pcie-settle-ms", value)) {
      auto ms = pcie::parse_settle_ms(value);
      if (!ms) out.error = arg + ": " + ms.error().message;
      else out.pcie.settle_ms = *ms;
    } else if (take_value(arg, "--pcie-ready-timeout-ms", value)) {
      auto ms = pcie::parse_ready_timeout_ms(value);
      if (!ms) out.error = arg + ": " + ms.error().message;
      else out.pcie.ready_timeout_ms = *ms;
    } else if (arg == "--pcie" || arg == "--pcie-exclude" || arg == "--pcie-settle-ms" || arg == "--pcie-ready-timeout-ms") {
      out.error = arg + " takes its value after '=' (" + arg + "=...)";
    } else if (arg == "--report") {
      out.report = true;
    } else if (take_value(arg, "--report", value)) {
      if (value.empty()) out.error = "--report= needs a file (or --report alone for /proc/cmdline)";
      out.report = true;
      out.report_file = value;
    } else if (take_value(arg, "--cmdline", value) || arg == "--cmdline=") {
      out.report = true;
      out.report_cmdline = value;
    } else if (arg == "--plan") {
      out.plan = true;
    } else if (arg == "--test-corrupt-digest") {
      out.corrupt_digest = true;
    } else if (arg == "--help") {
      out.help = true;
    } else if (arg == "--version") {
      out.version = true;
    } else if (arg == "-s" || arg == "--kexec-file-syscall" || arg == "-a" || arg == "--kexec-syscall-auto") {
      out.error = arg + " selects kexec_file_load, where the kernel uses its own purgatory: "
                        "Limbo works only through kexec_load (limbo-kexec passes -c)";
    } else {
      if (is_one_of(arg, kLoadOptions)) out.expects_load = true;
      if (is_one_of(arg, kNoLoadOptions)) out.expects_load = false;
      out.kexec_args.push_back(arg);
    }
    if (!out.error.empty()) break;
  }
  if (out.error.empty() && out.report && !out.report_file.empty() && out.report_cmdline) {
    out.error = "--report=FILE and --cmdline=STRING both name the command line to read: give one";
  }
  if (out.error.empty() && out.report && (out.plan || !out.kexec_args.empty())) {
    out.error = "--report loads nothing: give it no kexec arguments and no --plan";
  }
  // A plan next to kexec arguments would read as if it loaded something.
  if (out.error.empty() && out.plan && !out.kexec_args.empty()) {
    out.error = "--plan loads nothing: give it no kexec arguments (only Limbo's PCIe options)";
  }
  return out;
}

std::string usage_text() {
  return
      "Usage: limbo-kexec [LIMBO OPTIONS] KEXEC ARGUMENTS...\n"
      "       limbo-kexec --plan [PCIE OPTIONS]\n"
      "       limbo-kexec --report[=FILE] | --cmdline=STRING\n"
      "Runs the system kexec with Limbo's purgatory in place of the stock one.\n"
      "Example: limbo-kexec -p /vmlinuz --initrd=/initrd.img --append=\"...\" \\\n"
      "           --console-serial --serial=0x3f8 --serial-baud=115200\n"
      "\n"
      "Every argument that is not a Limbo option is passed to kexec unchanged;\n"
      "limbo-kexec adds -c (the kexec_load system call: with kexec_file_load the\n"
      "kernel uses its own purgatory, so -s and -a are refused).\n"
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
      "  --pcie-exclude=SSSS:BB:DD.F[,...]\n"
      "                         leave the port above these functions alone (at most 32)\n"
      "  --pcie-include-display also reset ports above display devices (class 03)\n"
      "  --pcie-settle-ms=N     wait after the reset, 100..60000 (default 100, PCIe r6.0 6.6.1)\n"
      "  --pcie-ready-timeout-ms=N\n"
      "                         give up on a device after N ms more, 1..60000 (default 1000)\n"
      "  --plan                 print this system's reset plan (tree, decision and reason per\n"
      "                         function) and load nothing; needs root to read config space\n"
      "                         past its first 64 bytes\n"
      "  --report               in the capture kernel: Limbo's report from /proc/cmdline in words\n"
      "                         (--report=FILE reads FILE, --cmdline=STRING reads STRING)\n"
      "  --help, --version\n"
      "\n"
      "Verification (the purgatory hashes each segment's content and scans its zero fill):\n"
      "  --on-corruption=halt|reboot\n"
      "                         on a damaged image stop the CPU (default, as stock) or reset the\n"
      "                         machine (ACPI reset register, 0xCF9, keyboard controller, triple fault)\n"
      "  --test-damage-segment=ROLE[:OFFSET]\n"
      "                         TEST ONLY: change one byte of the first segment with that role\n"
      "                         (kernel, initrd, boot-params, elfcorehdr, backup, other) at OFFSET\n"
      "                         (default 0; 'last' = its last byte) after the digests were computed\n"
      "\n"
      "Exit status: 0 loaded through Limbo (or kexec -u/-e/-S passed through),\n"
      "  1 kexec or Limbo failed, 2 usage error, 3 kexec, plugin or purgatory not found.\n"
      "  --report: 0 verified and no PCIe reset failed, 1 verification skipped or a reset\n"
      "  failed, 3 the command line cannot be read, 4 no readable limbo= report (Limbo did not run).\n";
}

}  // namespace limbo::plugin::cli
