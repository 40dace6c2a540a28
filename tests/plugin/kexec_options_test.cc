// limbo-kexec reads kexec's command line as kexec-tools 2.0.25's getopt_long
// and main() do (cli/kexec_options.h): one row per spelling, with what kexec
// will do and what limbo-kexec makes of it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/arguments.h"
#include "cli/kexec_options.h"

namespace limbo::plugin::cli {
namespace {

// What a row expects.
enum Meaning {
  kLoad,          // a normal load (kexec -l), through Limbo
  kCrashLoad,     // a crash load (kexec -p), through Limbo
  kUnload,        // an unload of the normal kernel, nothing loaded
  kCrashUnload,   // an unload of the crash kernel, nothing loaded
  kUnloadThenCrashLoad,  // kexec -u -p: unload, then load (do_unload and do_load)
  kExecOnly,      // -e: no kexec_load
  kStatus,        // -S: no kexec_load
  kExitsAtOnce,   // -h, -v, --print-ckr-size
  kRefusedFile,   // -s/-a anywhere: usage error before kexec runs
  kUsageError,    // what kexec's getopt rejects: usage error before kexec runs
};

struct Row {
  std::vector<std::string> argv;  // after "limbo-kexec"
  Meaning meaning;
  std::vector<std::string> kexec_args = {};  // what kexec gets (empty: same as argv)
};

const std::vector<Row> kRows = {
    {{"-p", "/k"}, kCrashLoad},
    {{"-l", "/k"}, kLoad},
    {{"/k"}, kLoad},                                      // do_load = 1 by default
    {{"--load-panic", "/k"}, kCrashLoad},
    {{"--load-p", "/k"}, kUsageError},                    // ambiguous: load-panic, load-preserve-context
    {{"--load", "/k"}, kLoad},                            // exact name wins over load-panic, load-preserve-context...
    {{"--lo", "/k"}, kUsageError},                        // ambiguous: load, load-panic, ...
    {{"--load-pan", "/k"}, kCrashLoad},
    // Grouped short options (getopt reads them left to right).
    {{"-ps", "/k"}, kRefusedFile},
    {{"-sp", "/k"}, kRefusedFile},
    {{"-pcs", "/k"}, kRefusedFile},
    {{"-psc", "/k"}, kRefusedFile},                       // -c after -s would win for kexec, but -s is still named
    {{"-pa", "/k"}, kRefusedFile},
    {{"-p", "/k", "-s"}, kRefusedFile},                   // permuted: options after the operand count
    {{"-p", "--kexec-file", "/k"}, kRefusedFile},         // abbreviation of --kexec-file-syscall
    {{"-p", "--kexec-file-syscall", "/k"}, kRefusedFile},
    {{"-p", "--kexec-syscall-a", "/k"}, kRefusedFile},    // abbreviation of --kexec-syscall-auto
    {{"-p", "--kexec-syscall", "/k"}, kCrashLoad},        // exact: -c
    {{"-p", "--kexec-s", "/k"}, kUsageError},             // ambiguous: -syscall or -syscall-auto
    {{"-pc", "/k"}, kCrashLoad},
    {{"-cp", "/k"}, kCrashLoad},
    {{"-pd", "/k"}, kCrashLoad},
    {{"-pi", "/k"}, kCrashLoad},
    {{"-uc"}, kUnload},
    {{"-cu"}, kUnload},
    {{"-pu"}, kCrashUnload},                              // -p sets KEXEC_ON_CRASH, -u unloads it
    {{"-up", "/k"}, kUnloadThenCrashLoad},                // -u then -p: kexec unloads, then loads
    {{"-u", "-p", "/k"}, kUnloadThenCrashLoad},
    {{"-p", "-u"}, kCrashUnload},
    {{"--unload"}, kUnload},
    {{"--un"}, kUnload},
    {{"-e"}, kExecOnly},
    {{"--exec"}, kExecOnly},
    {{"-pe"}, kExecOnly},                                 // the last of -p/-e: no load
    {{"-S"}, kStatus},
    {{"-pS", "/k"}, kStatus},
    {{"-h"}, kExitsAtOnce},
    {{"-v"}, kExitsAtOnce},
    {{"--ver"}, kExitsAtOnce},                            // --version, abbreviated
    {{"--print-ckr-size"}, kExitsAtOnce},
    // Values: -t takes one (the rest of the group or the next argument), and
    // so do the long options that need one, "--opt value" or "--opt=value".
    {{"-ts", "-p", "/k"}, kCrashLoad},                    // type "s", not -s
    {{"-t", "-s", "-p", "/k"}, kCrashLoad},               // type "-s"
    {{"-pt", "bzImage64", "/k"}, kCrashLoad},
    {{"-ptbzImage64", "/k"}, kCrashLoad},
    {{"-p", "--append", "-s", "/k"}, kCrashLoad},         // the command line is "-s"
    {{"-p", "--append=-s", "/k"}, kCrashLoad},
    {{"-p", "--command-line", "-u", "/k"}, kCrashLoad},   // the command line is "-u"
    {{"-p", "--initrd", "-u", "/k"}, kCrashLoad},
    {{"-p", "--ramdisk=/i", "/k"}, kCrashLoad},
    {{"-p", "--serial", "0x3f8", "--serial-baud", "115200", "/k"}, kCrashLoad},
    {{"-p", "--mem-min", "0x1000", "/k"}, kCrashLoad},
    {{"-p", "--comm=x", "/k"}, kCrashLoad},               // --command-line, abbreviated
    {{"-p", "--a=x", "/k"}, kUsageError},                 // ambiguous: append, args-elf, args-linux, args-none
    {{"-p", "--init", "/i", "/k"}, kCrashLoad},           // --initrd, abbreviated
    // -- ends kexec's options: what follows is an operand, whatever it looks like.
    {{"-p", "/k", "--", "-s"}, kCrashLoad},
    {{"-p", "--", "-u"}, kCrashLoad},
    // What getopt rejects: kexec prints its usage and loads nothing.
    {{"-p", "-z", "/k"}, kUsageError},
    {{"-pz", "/k"}, kUsageError},
    {{"-p?"}, kUsageError},
    {{"-p", "--load=x", "/k"}, kUsageError},
    {{"-p", "--bogus", "/k"}, kUsageError},
    {{"-p", "/k", "--append"}, kUsageError},              // needs a value
    {{"-p", "/k", "-t"}, kUsageError},
    // Limbo's own options among kexec's; a value swallowed by kexec is kexec's.
    {{"-p", "--dry-run", "/k"}, kCrashLoad, {"-p", "/k"}},
    {{"-p", "--append", "--dry-run", "/k"}, kCrashLoad, {"-p", "--append", "--dry-run", "/k"}},
};

const char* name(Meaning meaning) {
  static const char* const names[] = {"load", "crash load", "unload", "crash unload", "unload then crash load",
                                      "exec only", "status", "exits at once", "refused (kexec_file_load)",
                                      "usage error"};
  return names[meaning];
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

TEST(KexecOptions, EachSpellingMeansWhatKexecMakesOfIt) {
  for (const Row& row : kRows) {
    std::vector<std::string> argv = {"limbo-kexec"};
    argv.insert(argv.end(), row.argv.begin(), row.argv.end());
    const Arguments args = parse_arguments(argv);
    const KexecCommand& c = args.kexec_command;
    SCOPED_TRACE("limbo-kexec " + joined(row.argv) + ": expected " + name(row.meaning) + "; error '" + args.error + "'");
    switch (row.meaning) {
      case kRefusedFile:
        EXPECT_NE(args.error.find("selects kexec_file_load"), std::string::npos);
        continue;
      case kUsageError:
        EXPECT_NE(args.error.find("kexec would print its usage"), std::string::npos);
        continue;
      default:
        break;
    }
    ASSERT_EQ(args.error, "");
    EXPECT_FALSE(c.file_syscall);
    EXPECT_TRUE(c.file_syscall_spellings.empty());
    EXPECT_EQ(args.kexec_args, row.kexec_args.empty() ? row.argv : row.kexec_args);
    EXPECT_EQ(args.expects_load, c.load);
    switch (row.meaning) {
      case kLoad:
      case kCrashLoad:
        EXPECT_TRUE(c.load);
        EXPECT_FALSE(c.unload);
        EXPECT_EQ(c.crash, row.meaning == kCrashLoad);
        EXPECT_TRUE(c.calls_kexec_load());
        break;
      case kUnload:
      case kCrashUnload:
        EXPECT_FALSE(c.load);
        EXPECT_TRUE(c.unload);
        EXPECT_EQ(c.crash, row.meaning == kCrashUnload);
        EXPECT_TRUE(c.calls_kexec_load());
        break;
      case kUnloadThenCrashLoad:
        EXPECT_TRUE(c.load);
        EXPECT_TRUE(c.unload);
        EXPECT_TRUE(c.crash);
        break;
      case kExecOnly:
        EXPECT_FALSE(c.load);
        EXPECT_FALSE(c.unload);
        EXPECT_TRUE(c.exec);
        EXPECT_FALSE(c.calls_kexec_load());
        break;
      case kStatus:
        EXPECT_TRUE(c.status);
        EXPECT_FALSE(c.load);
        EXPECT_FALSE(c.unload);
        EXPECT_FALSE(c.calls_kexec_load());
        break;
      case kExitsAtOnce:
        EXPECT_TRUE(c.exits_at_once);
        EXPECT_FALSE(c.calls_kexec_load());
        break;
      default:
        break;
    }
  }
}

// The table mirrors kexec-tools 2.0.25's option list (x86_64): every name once.
TEST(KexecOptions, TheLongOptionTableIsKexecs) {
  const auto& table = kexec_long_options();
  EXPECT_EQ(table.size(), 46u);  // 25 KEXEC_OPTIONS + 10 arch + 11 loader options
  for (size_t i = 0; i < table.size(); ++i) {
    for (size_t j = i + 1; j < table.size(); ++j) EXPECT_NE(table[i].name, table[j].name);
  }
  EXPECT_EQ(kKexecShortOptions, "h?vdfixyluet:pscaS");
}

TEST(KexecOptions, LimboOwnStatusAndFallback) {
  const Arguments status = parse_arguments({"limbo-kexec", "--status"});
  EXPECT_EQ(status.error, "");
  EXPECT_TRUE(status.status);
  EXPECT_NE(parse_arguments({"limbo-kexec", "--status", "-p", "/k"}).error, "");
  const Arguments stock = parse_arguments({"limbo-kexec", "--fallback=stock", "-p", "/k"});
  EXPECT_EQ(stock.error, "");
  EXPECT_EQ(stock.fallback, "stock");
  EXPECT_NE(parse_arguments({"limbo-kexec", "--fallback=maybe", "-p", "/k"}).error, "");
  // kexec's own status is -S, passed through.
  const Arguments kexec_status = parse_arguments({"limbo-kexec", "-S"});
  EXPECT_FALSE(kexec_status.status);
  EXPECT_TRUE(kexec_status.kexec_command.status);
}

}  // namespace
}  // namespace limbo::plugin::cli
