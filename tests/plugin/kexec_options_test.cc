// SPDX-License-Identifier: GPL-2.0-only
// limbo-kexec reads kexec's command line as kexec-tools 2.0.25's getopt_long
// and main() do (cli/kexec_options.h): one row per spelling, with what kexec
// will do and what limbo-kexec makes of it.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "arguments_helpers.h"
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
  kUnloadThenLoad,       // kexec -u -l
  kExecOnly,      // -e: no kexec_load
  kStatus,        // -S: no kexec_load
  kExitsAtOnce,   // -h, -v, --print-ckr-size
  kRefusedFile,   // -s/-a anywhere: usage error before kexec runs
  kRefusedReboot, // no -l/-p/-u/-e/-S...: kexec would load and reboot (do_shutdown): refused
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
    {{"/k"}, kRefusedReboot},                             // do_load = 1 by default, and do_shutdown: a reboot into it
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
    {{"-ul", "/k"}, kUnloadThenLoad},
    {{"-lu"}, kUnload},
    // The same spellings with -l: on a host without a crash reservation kexec
    // stops a -p load before any system call, so these are the rows
    // RealKexecAgrees sees kexec_file_load in.
    {{"-ls", "/k"}, kRefusedFile},
    {{"-lcs", "/k"}, kRefusedFile},
    {{"-lsc", "/k"}, kRefusedFile},                       // kexec: -c last, kexec_load; limbo-kexec: -s named, refused
    {{"-la", "/k"}, kRefusedFile},
    {{"-l", "/k", "-s"}, kRefusedFile},
    {{"-l", "--kexec-file", "/k"}, kRefusedFile},
    {{"-l", "--kexec-syscall-a", "/k"}, kRefusedFile},
    {{"-lt", "bzImage64", "/k"}, kLoad},
    {{"-l", "/k", "--append", "-s"}, kLoad},
    {{"-l", "/k", "--", "-s"}, kLoad},
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
                                      "unload then load",
                                      "exec only", "status", "exits at once", "refused (kexec_file_load)",
                                      "refused (a reboot)", "usage error"};
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
    // What kexec's getopt refuses fails the reading; the rest reads, then
    // check_arguments refuses what limbo-kexec will not run.
    const auto read = read_arguments(argv);
    const Status checked = read ? check_arguments(*read) : Status(read.error());
    const std::string error = checked ? "" : checked.error().message;
    SCOPED_TRACE("limbo-kexec " + joined(row.argv) + ": expected " + name(row.meaning) + "; error '" + error + "'");
    if (row.meaning == kUsageError) {
      EXPECT_NE(error.find("kexec would print its usage"), std::string::npos);
      continue;
    }
    ASSERT_TRUE(read.ok());
    const Arguments& args = *read;
    const KexecCommand& c = args.kexec_command;
    switch (row.meaning) {
      case kRefusedFile:
        EXPECT_NE(error.find("selects kexec_file_load"), std::string::npos);
        continue;
      case kRefusedReboot:
        EXPECT_TRUE(c.shutdown);
        EXPECT_NE(error.find("reboot into it at once"), std::string::npos);
        continue;
      default:
        break;
    }
    ASSERT_EQ(error, "");
    EXPECT_FALSE(c.file_syscall);
    EXPECT_TRUE(c.file_syscall_spellings.empty());
    EXPECT_EQ(args.kexec_args, row.kexec_args.empty() ? row.argv : row.kexec_args);
    EXPECT_EQ(args.expects_load, c.load);
    switch (row.meaning) {
      case kLoad:
      case kCrashLoad:
        EXPECT_FALSE(c.shutdown);  // the bare "/k" row is kRefusedReboot
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
      case kUnloadThenLoad:
        EXPECT_TRUE(c.load);
        EXPECT_TRUE(c.unload);
        EXPECT_EQ(c.crash, row.meaning == kUnloadThenCrashLoad);
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

// The table's facts checked against the real /sbin/kexec (kexec-tools
// 2.0.25 as Debian ships it): each row runs as limbo-kexec would run it
// (kexec -c ARGS, the kernel path real), under the TEST-ONLY preload that logs
// every kexec_load / kexec_file_load and never calls the kernel, CAP_SYS_BOOT
// dropped as well. Rows with -e/-f (a reboot) are not run. A crash load
// cannot be seen on a host without a crash reservation (kexec stops first),
// so for those the check is that nothing else happened.
std::string run_real_kexec(const std::vector<std::string>& args, const std::string& log) {
  std::string command = "setpriv --bounding-set -sys_boot env -u POSIXLY_CORRECT LD_PRELOAD=" LIMBO_TEST_CAPTURE_LIB
                        " LIMBO_CAPTURE_LOG=" + log + " /sbin/kexec -c";
  for (const std::string& a : args) command += " '" + a + "'";
  command += " >/dev/null 2>&1 </dev/null";
  unlink(log.c_str());
  const int status = std::system(command.c_str());
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return "exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "\n" + text;
}

TEST(KexecOptions, RealKexecAgrees) {
  FILE* ls = popen("ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1", "r");
  ASSERT_NE(ls, nullptr);
  char kernel_buffer[256] = "";
  const bool got = fgets(kernel_buffer, sizeof(kernel_buffer), ls) != nullptr;
  pclose(ls);
  ASSERT_TRUE(got) << "no /boot/vmlinuz-*";
  std::string kernel(kernel_buffer, strcspn(kernel_buffer, "\n"));
  const std::string log = "/tmp/limbo-kexec-calls-" + std::to_string(getpid());
  // kexec stops a crash load before any system call when nothing is reserved.
  std::ifstream iomem("/proc/iomem");
  const std::string iomem_text((std::istreambuf_iterator<char>(iomem)), std::istreambuf_iterator<char>());
  const bool reserved = iomem_text.find("Crash kernel") != std::string::npos;
  size_t run = 0, loads_seen = 0, unloads_seen = 0, file_loads_seen = 0, refused_by_getopt = 0;
  for (const Row& row : kRows) {
    std::vector<std::string> args = row.kexec_args.empty() ? row.argv : row.kexec_args;
    for (std::string& a : args) {
      if (a == "/k") a = kernel;
    }
    std::vector<std::string> argv = {"limbo-kexec"};
    argv.insert(argv.end(), row.argv.begin(), row.argv.end());
    const auto read = read_arguments(argv);  // fails only for what kexec's getopt refuses too
    ASSERT_EQ(read.ok(), row.meaning != kUsageError);
    const KexecCommand c = read ? read->kexec_command : KexecCommand{};
    // Never a command that could reboot this host: kexec -e/-f, or kexec
    // with none of -l/-p/-u/... (it loads, then runs shutdown -r when a kernel
    // is loaded). Getopt errors stop before any of that.
    if (row.meaning != kUsageError && (c.exec || c.shutdown)) continue;
    const std::string seen = run_real_kexec(args, log);
    ++run;
    SCOPED_TRACE("kexec -c " + joined(args) + ":\n" + seen);
    const bool file_call = seen.find("kexec_file_load") != std::string::npos;
    const bool unload_call = seen.find("kexec_load nr=0 ") != std::string::npos;
    const bool load_call = seen.find("kexec_load nr=") != std::string::npos &&
                           seen.find("kexec_load nr=0 ") != seen.find("kexec_load nr=");
    if (row.meaning == kUsageError) {
      EXPECT_EQ(seen.rfind("exit 1\n", 0), 0u);  // kexec's usage, nothing called
      EXPECT_FALSE(file_call || unload_call || load_call);
      ++refused_by_getopt;
      continue;
    }
    if (row.meaning == kExitsAtOnce) {
      EXPECT_EQ(seen, "exit 0\n");
      continue;
    }
    if (c.load && c.crash && !reserved) {
      EXPECT_EQ(seen, "exit 1\n");  // "Memory for crashkernel is not reserved"
      continue;
    }
    // What the model says kexec does, for the -s/-a rows too (limbo-kexec refuses them).
    EXPECT_EQ(file_call, c.file_syscall && (c.load || c.unload));
    if (!c.file_syscall) {
      EXPECT_EQ(unload_call, c.unload);
      if (unload_call) {
        EXPECT_NE(seen.find(std::string("kexec_load nr=0 crash=") + (c.crash ? "1" : "0")), std::string::npos);
      }
      if (load_call) {
        EXPECT_TRUE(c.load);
        EXPECT_NE(seen.find(std::string("crash=") + (c.crash ? "1" : "0")), std::string::npos);
      }
      // Not vacuous: a normal load with real files reaches kexec_load.
      if (row.meaning == kLoad && args.size() == 2 && args[1] == kernel) {
        EXPECT_TRUE(load_call);
      }
    } else if (c.load && !c.crash) {
      EXPECT_NE(seen.find("kexec_file_load unload=0 crash=0"), std::string::npos);
    }
    loads_seen += load_call;
    unloads_seen += unload_call;
    file_loads_seen += file_call;
  }
  std::printf("real kexec: %zu rows run, %zu kexec_load loads, %zu unloads, %zu kexec_file_load calls, %zu refused by its getopt\n",
              run, loads_seen, unloads_seen, file_loads_seen, refused_by_getopt);
  EXPECT_GT(loads_seen, 0u);
  EXPECT_GT(unloads_seen, 0u);
  EXPECT_GT(file_loads_seen, 0u);
  unlink(log.c_str());
}

TEST(KexecOptions, LimboOwnStatusAndFallback) {
  const Arguments status = testing::arguments_of({"limbo-kexec", "--status"});
  EXPECT_TRUE(status.status);
  EXPECT_NE(testing::usage_error({"limbo-kexec", "--status", "-p", "/k"}), "");
  const Arguments stock = testing::arguments_of({"limbo-kexec", "--fallback=stock", "-p", "/k"});
  EXPECT_EQ(stock.fallback, "stock");
  EXPECT_NE(testing::usage_error({"limbo-kexec", "--fallback=maybe", "-p", "/k"}), "");
  // kexec's own status is -S, passed through.
  const Arguments kexec_status = testing::arguments_of({"limbo-kexec", "-S"});
  EXPECT_FALSE(kexec_status.status);
  EXPECT_TRUE(kexec_status.kexec_command.status);
}

}  // namespace
}  // namespace limbo::plugin::cli
