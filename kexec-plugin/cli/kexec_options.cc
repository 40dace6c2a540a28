// SPDX-License-Identifier: GPL-2.0-only
#include "cli/kexec_options.h"

namespace limbo::plugin::cli {
namespace {

using K = KexecOption;

// kexec-tools 2.0.25, x86_64: KEXEC_OPTIONS (kexec/kexec.h), then
// KEXEC_ARCH_OPTIONS and KEXEC_ALL_OPTIONS
// (kexec/arch/x86_64/include/arch/options.h), in table order. The ids are
// kexec's OPT_* values: "command-line"/"append" and "initrd"/"ramdisk" are
// one option each, which matters to getopt's ambiguity rule.
enum Id {
  kIdHelp = 'h', kIdVersion = 'v', kIdDebug = 'd', kIdForce = 'f', kIdNoChecks = 'i', kIdNoIfdown = 'x',
  kIdNoSync = 'y', kIdExec = 'e', kIdLoad = 'l', kIdUnload = 'u', kIdType = 't', kIdPanic = 'p',
  kIdFileSyscall = 's', kIdSyscall = 'c', kIdSyscallAuto = 'a', kIdStatus = 'S',
  kIdMemMin = 256, kIdMemMax, kIdReuseInitrd, kIdLoadPreserveContext, kIdLoadJumpBackHelper, kIdEntry,
  kIdPrintCkrSize, kIdLoadLiveUpdate, kIdExecLiveUpdate, kIdMax,
  // x86_64 arch options (OPT_MAX + n) and loader options (OPT_ARCH_MAX + n).
  kIdResetVga = kIdMax, kIdSerial, kIdSerialBaud, kIdConsoleVga, kIdConsoleSerial, kIdElf32Core, kIdElf64Core,
  kIdArchMax,
  kIdAppend = kIdArchMax, kIdReuseCmdline, kIdRamdisk, kIdArgsElf, kIdArgsLinux, kIdArgsNone, kIdCl, kIdMod,
  kIdVga, kIdRealMode, kIdEntry32bit, kIdPassMemmapCmdline, kIdNoEfi, kIdReuseVideoType,
};

const std::vector<KexecLongOption> kLongOptions = {
    {"help", false, K::kHelp, kIdHelp},
    {"version", false, K::kVersion, kIdVersion},
    {"force", false, K::kForce, kIdForce},
    {"no-checks", false, K::kOther, kIdNoChecks},
    {"no-ifdown", false, K::kOther, kIdNoIfdown},
    {"no-sync", false, K::kOther, kIdNoSync},
    {"load", false, K::kLoad, kIdLoad},
    {"unload", false, K::kUnload, kIdUnload},
    {"exec", false, K::kExec, kIdExec},
    {"exec-live-update", false, K::kOther, kIdExecLiveUpdate},
    {"load-preserve-context", false, K::kLoadPreserveContext, kIdLoadPreserveContext},
    {"load-jump-back-helper", false, K::kLoadJumpBackHelper, kIdLoadJumpBackHelper},
    {"load-live-update", false, K::kLoadLiveUpdate, kIdLoadLiveUpdate},
    {"entry", true, K::kOther, kIdEntry},
    {"type", true, K::kOther, kIdType},
    {"load-panic", false, K::kPanic, kIdPanic},
    {"mem-min", true, K::kOther, kIdMemMin},
    {"mem-max", true, K::kOther, kIdMemMax},
    {"reuseinitrd", false, K::kOther, kIdReuseInitrd},
    {"kexec-file-syscall", false, K::kFileSyscall, kIdFileSyscall},
    {"kexec-syscall", false, K::kSyscall, kIdSyscall},
    {"kexec-syscall-auto", false, K::kSyscallAuto, kIdSyscallAuto},
    {"debug", false, K::kOther, kIdDebug},
    {"status", false, K::kStatus, kIdStatus},
    {"print-ckr-size", false, K::kPrintCkrSize, kIdPrintCkrSize},
    {"reset-vga", false, K::kOther, kIdResetVga},
    {"serial", true, K::kOther, kIdSerial},
    {"serial-baud", true, K::kOther, kIdSerialBaud},
    {"console-vga", false, K::kOther, kIdConsoleVga},
    {"console-serial", false, K::kOther, kIdConsoleSerial},
    {"elf32-core-headers", false, K::kOther, kIdElf32Core},
    {"elf64-core-headers", false, K::kOther, kIdElf64Core},
    {"pass-memmap-cmdline", false, K::kOther, kIdPassMemmapCmdline},
    {"noefi", false, K::kOther, kIdNoEfi},
    {"reuse-video-type", false, K::kOther, kIdReuseVideoType},
    {"command-line", true, K::kOther, kIdAppend},
    {"append", true, K::kOther, kIdAppend},
    {"reuse-cmdline", false, K::kOther, kIdReuseCmdline},
    {"initrd", true, K::kOther, kIdRamdisk},
    {"ramdisk", true, K::kOther, kIdRamdisk},
    {"args-elf", false, K::kOther, kIdArgsElf},
    {"args-linux", false, K::kOther, kIdArgsLinux},
    {"args-none", false, K::kOther, kIdArgsNone},
    {"module", true, K::kOther, kIdMod},
    {"real-mode", false, K::kOther, kIdRealMode},
    {"entry-32bit", false, K::kOther, kIdEntry32bit},
};

// The short options of "h?vdfixyluet:pscaS" ('?' is handled apart: kexec's
// main() takes it for getopt's error return and exits 1 with its usage).
bool short_option(char c, KexecOption& option, bool& takes_value) {
  takes_value = false;
  switch (c) {
    case 'h': option = K::kHelp; return true;
    case 'v': option = K::kVersion; return true;
    case 'd': case 'i': case 'x': case 'y': option = K::kOther; return true;
    case 'f': option = K::kForce; return true;
    case 'l': option = K::kLoad; return true;
    case 'u': option = K::kUnload; return true;
    case 'e': option = K::kExec; return true;
    case 't': option = K::kOther; takes_value = true; return true;
    case 'p': option = K::kPanic; return true;
    case 's': option = K::kFileSyscall; return true;
    case 'c': option = K::kSyscall; return true;
    case 'a': option = K::kSyscallAuto; return true;
    case 'S': option = K::kStatus; return true;
    default: return false;
  }
}

}  // namespace

const std::vector<KexecLongOption>& kexec_long_options() { return kLongOptions; }

size_t KexecCommandLine::take(const std::vector<std::string>& argv, size_t i) {
  const std::string_view arg = argv[i];
  size_t taken = 1;
  if (operands_only_ || arg.size() < 2 || arg[0] != '-') return taken;  // an operand ("-" too)
  if (arg == "--") {
    operands_only_ = true;
  } else if (arg.substr(0, 2) == "--") {
    take_long(arg.substr(2), argv, i, taken);
  } else {
    take_short_group(arg.substr(1), argv, i, taken);
  }
  return taken;
}

// glibc's getopt_long: an exact name wins; otherwise a unique prefix, or
// several prefixes that are all the same option (same value and id).
void KexecCommandLine::take_long(std::string_view body, const std::vector<std::string>& argv, size_t i, size_t& taken) {
  const size_t eq = body.find('=');
  const std::string_view name = body.substr(0, eq);
  const KexecLongOption* found = nullptr;
  bool ambiguous = false;
  for (const KexecLongOption& candidate : kLongOptions) {
    if (candidate.name.substr(0, name.size()) != name) continue;
    if (candidate.name.size() == name.size()) {
      found = &candidate;
      ambiguous = false;
      break;
    }
    if (!found) found = &candidate;
    else if (found->takes_value != candidate.takes_value || found->value_id != candidate.value_id) ambiguous = true;
  }
  const std::string spelled = "--" + std::string(name);
  if (!found) {
    if (error_.empty()) error_ = "kexec does not know the option " + spelled;
    return;
  }
  if (ambiguous) {
    if (error_.empty()) error_ = "kexec's option " + spelled + " is ambiguous";
    return;
  }
  if (eq != std::string_view::npos && !found->takes_value) {
    if (error_.empty()) error_ = "kexec's option --" + std::string(found->name) + " takes no value";
    return;
  }
  if (found->takes_value && eq == std::string_view::npos) {
    if (i + 1 >= argv.size()) {
      if (error_.empty()) error_ = "kexec's option --" + std::string(found->name) + " needs a value";
      return;
    }
    taken = 2;
  }
  uses_.push_back({found->option, "--" + std::string(found->name)});
}

void KexecCommandLine::take_short_group(std::string_view group, const std::vector<std::string>& argv, size_t i,
                                        size_t& taken) {
  for (size_t at = 0; at < group.size(); ++at) {
    KexecOption option;
    bool takes_value;
    if (group[at] == '?' || !short_option(group[at], option, takes_value)) {
      if (error_.empty()) {
        error_ = group[at] == '?' ? "kexec -? prints kexec's usage and exits 1"
                                  : std::string("kexec does not know the option -") + group[at];
      }
      return;  // getopt went on, but kexec's main() stops at the first '?'
    }
    uses_.push_back({option, std::string("-") + group[at]});
    if (takes_value) {
      // The rest of the group is the value ("-tbzImage64"), or else the next argument.
      if (at + 1 == group.size()) {
        if (i + 1 >= argv.size()) {
          if (error_.empty()) error_ = std::string("kexec's option -") + group[at] + " needs a value";
          uses_.pop_back();
          return;
        }
        taken = 2;
      }
      return;
    }
  }
}

KexecCommand interpret(const std::vector<KexecOptionUse>& uses) {
  KexecCommand out;
  bool has_opt_load = false;
  bool flags_set = false;  // kexec_flags != 0 (-p, --load-preserve-context, --load-live-update)
  out.file_syscall = false;  // limbo-kexec's leading -c
  for (const KexecOptionUse& use : uses) {
    if (use.option == K::kFileSyscall || use.option == K::kSyscallAuto) out.file_syscall_spellings.push_back(use.spelling);
  }
  for (const KexecOptionUse& use : uses) {
    switch (use.option) {
      case K::kHelp:
      case K::kVersion:
      case K::kPrintCkrSize:
        out.exits_at_once = true;
        out.load = out.unload = out.exec = out.status = out.shutdown = false;
        return out;
      case K::kForce: out.load = true; out.shutdown = false; out.exec = true; break;
      case K::kLoad: has_opt_load = true; out.load = true; out.exec = false; out.shutdown = false; break;
      case K::kUnload: out.load = false; out.unload = true; out.shutdown = false; break;
      case K::kExec: out.load = false; out.exec = true; out.shutdown = false; break;
      case K::kLoadJumpBackHelper: out.load = false; out.exec = false; out.shutdown = false; break;
      case K::kLoadPreserveContext:
      case K::kLoadLiveUpdate:
        out.load = true; out.exec = false; out.shutdown = false; out.crash = false; flags_set = true; break;
      case K::kPanic: out.load = true; out.exec = false; out.shutdown = false; out.crash = true; flags_set = true; break;
      case K::kStatus: out.status = true; break;
      case K::kFileSyscall: out.file_syscall = true; break;
      case K::kSyscall: out.file_syscall = false; break;
      case K::kSyscallAuto: out.file_syscall = true; break;
      case K::kOther: break;
    }
  }
  if (out.status) {
    if (!flags_set && !has_opt_load) out.crash = true;
    out.load = out.unload = out.exec = out.shutdown = false;
  }
  return out;
}

}  // namespace limbo::plugin::cli
