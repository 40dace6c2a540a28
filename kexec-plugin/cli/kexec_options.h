// SPDX-License-Identifier: GPL-2.0-only
// kexec-tools' own command line, read as its main() reads it: GNU
// getopt_long over the x86_64 option table of kexec-tools 2.0.25
// (KEXEC_ALL_OPTIONS, short options "h?vdfixyluet:pscaS"), then main()'s
// rules for what the options add up to. limbo-kexec uses it to know, before
// kexec runs, whether kexec will load, unload or select kexec_file_load,
// whatever the spelling: grouped short options (-ps, -uc), abbreviated long
// options (--kexec-file), values in the next argument (-t TYPE, --append X).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace limbo::plugin::cli {

// The options of kexec's main() that decide what it does; every other option
// of the table (the x86_64 and loader options) is `kOther`.
enum class KexecOption {
  kHelp, kVersion, kPrintCkrSize,              // print and exit 0 at once
  kForce, kLoad, kUnload, kExec, kPanic, kLoadPreserveContext, kLoadLiveUpdate, kLoadJumpBackHelper,
  kStatus,
  kFileSyscall, kSyscall, kSyscallAuto,        // -s, -c, -a
  kOther,
};

struct KexecLongOption {
  std::string_view name;
  bool takes_value;
  KexecOption option;
  int value_id;  // kexec's OPT_* identity: two names with one id are one option for getopt
};

// One option occurrence as getopt_long returns it.
struct KexecOptionUse {
  KexecOption option;
  std::string spelling;  // "-p" (from a group like "-ps"), "--load-panic", "--kexec-file-syscall" (from "--kexec-file")
};

// Feeds kexec's arguments one at a time, as getopt_long permutes them: an
// option that takes a value swallows the next argument. `error` is what
// getopt would reject (kexec then prints its usage and exits 1 without
// loading): unknown or ambiguous options, a missing value, a value given to
// an option that takes none.
class KexecCommandLine {
 public:
  // Reads argv[i] (and its value from argv[i + 1] when it needs one);
  // returns how many arguments it took (1 or 2). After "--" every
  // argument is an operand.
  size_t take(const std::vector<std::string>& argv, size_t i);

  const std::vector<KexecOptionUse>& uses() const { return uses_; }
  const std::string& error() const { return error_; }

 private:
  void take_long(std::string_view arg, const std::vector<std::string>& argv, size_t i, size_t& taken);
  void take_short_group(std::string_view arg, const std::vector<std::string>& argv, size_t i, size_t& taken);

  std::vector<KexecOptionUse> uses_;
  std::string error_;
  bool operands_only_ = false;
};

// What kexec 2.0.25's main() will do with these options, after the -c that
// limbo-kexec puts first (kexec/kexec.c main, in option order).
struct KexecCommand {
  bool exits_at_once = false;  // -h, -v, --print-ckr-size: prints, exits 0, loads nothing
  bool load = true;            // do_load
  bool unload = false;         // do_unload (kexec_load with 0 segments, before any load)
  bool crash = false;          // KEXEC_ON_CRASH: -p (also -S without -l)
  bool exec = false;           // do_exec (-e, -f)
  bool shutdown = true;        // do_shutdown: no -l/-p/-u/-e/-f/-S...: load, then reboot into it
  bool status = false;         // -S
  bool file_syscall = false;   // the last of -s/-a/-c is -s or -a
  // Every -s/-a/--kexec-file-syscall/--kexec-syscall-auto, as spelled.
  std::vector<std::string> file_syscall_spellings;
  // Whether kexec will call kexec_load at all (a load or an unload).
  bool calls_kexec_load() const { return !exits_at_once && !file_syscall && (load || unload); }
};

KexecCommand interpret(const std::vector<KexecOptionUse>& uses);

// The table itself, for the tests.
const std::vector<KexecLongOption>& kexec_long_options();
inline constexpr std::string_view kKexecShortOptions = "h?vdfixyluet:pscaS";

}  // namespace limbo::plugin::cli
