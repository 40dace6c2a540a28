// SPDX-License-Identifier: GPL-2.0-only
// limbo-kexec: runs the distribution's kexec with the Limbo plugin preloaded,
// forces the kexec_load path, and tells a load that went through Limbo (the
// plugin's status line) from one that did not.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/arguments.h"
#include "cli/report.h"
#include "cli/switch_log.h"
#include "common/environment.h"
#include "pcie/plan.h"
#include "pcie/settings.h"
#include "pcie/system.h"
#include "plugin/load_state.h"

#ifndef LIMBO_PLUGIN_PATH
#error "LIMBO_PLUGIN_PATH must be defined by the build (kexec-plugin/plugin.mk)"
#endif
#ifndef LIMBO_VERSION
#error "LIMBO_VERSION must be defined by the build"
#endif

namespace {

using namespace limbo::plugin::cli;

bool executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }
bool readable(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

// An argument as a shell reads it back.
std::string shell_quoted(const std::string& arg) {
  if (!arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/.,:@+%") ==
                          std::string::npos) {
    return arg;
  }
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Under lockdown (or with kexec_load disabled) kexec_load cannot work, for
// Limbo or for kexec -c: say so before anything runs, and name the stock
// command that does work (kexec_file_load, the kernel's own purgatory).
int refuse_without_kexec_load(const std::string& kexec, const Arguments& args, const std::string& reason) {
  std::string stock = kexec + " -s";
  for (const std::string& arg : args.kexec_args) stock += " " + shell_quoted(arg);
  std::fprintf(stderr,
               "limbo-kexec: refused: this kernel refuses kexec_load (%s); Limbo needs kexec_load and cannot be "
               "used here. Use the stock command instead (kexec_file_load, the kernel's own purgatory; under lockdown the kernel must verify its signature): %s\n",
               reason.c_str(), stock.c_str());
  return kExitKexecLoadUnavailable;
}

int run(const Arguments& args) {
  std::string kexec = args.kexec;
  if (kexec.empty()) {
    for (const char* candidate : {"/sbin/kexec", "/usr/sbin/kexec"}) {
      if (executable(candidate)) {
        kexec = candidate;
        break;
      }
    }
    if (kexec.empty()) {
      std::fprintf(stderr, "limbo-kexec: kexec not found in /sbin or /usr/sbin (install kexec-tools or use --kexec=PATH)\n");
      return kExitNotFound;
    }
  } else if (!executable(kexec)) {
    std::fprintf(stderr, "limbo-kexec: %s: not an executable kexec: %s\n", kexec.c_str(), std::strerror(errno));
    return kExitNotFound;
  }
  const std::string plugin = LIMBO_PLUGIN_PATH;
  if (!readable(plugin)) {
    std::fprintf(stderr, "limbo-kexec: plugin %s: %s\n", plugin.c_str(), std::strerror(errno));
    return kExitNotFound;
  }
  const std::string purgatory = args.purgatory.empty() ? LIMBO_PURGATORY_PATH : args.purgatory;
  if (args.expects_load && !readable(purgatory)) {
    std::fprintf(stderr, "limbo-kexec: purgatory %s: %s\n", purgatory.c_str(), std::strerror(errno));
    return kExitNotFound;
  }

  if (args.kexec_command.calls_kexec_load()) {
    const std::string unavailable =
        limbo::plugin::kexec_load_unavailable(limbo::plugin::StatePaths::from_environment());
    if (!unavailable.empty()) return refuse_without_kexec_load(kexec, args, unavailable);
  }

  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "limbo-kexec: pipe: %s\n", std::strerror(errno));
    return kExitFailed;
  }
  std::vector<std::string> argv_strings = {kexec, "-c"};
  argv_strings.insert(argv_strings.end(), args.kexec_args.begin(), args.kexec_args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const pid_t child = fork();
  if (child < 0) {
    std::fprintf(stderr, "limbo-kexec: fork: %s\n", std::strerror(errno));
    return kExitFailed;
  }
  if (child == 0) {
    // The status pipe's write end must survive exec: dup it without O_CLOEXEC.
    const int fd = dup(status_pipe[1]);
    if (fd < 0) _exit(127);
    setenv("LD_PRELOAD", plugin.c_str(), 1);
    setenv(limbo::plugin::env::kPurgatory, purgatory.c_str(), 1);
    setenv(limbo::plugin::env::kStatusFd, std::to_string(fd).c_str(), 1);
    if (!args.on_corruption.empty()) setenv(limbo::plugin::env::kOnCorruption, args.on_corruption.c_str(), 1);
    if (!args.on_fault.empty()) setenv(limbo::plugin::env::kOnFault, args.on_fault.c_str(), 1);
    if (!args.test.damage_segment.empty()) setenv(limbo::plugin::env::kTestDamageSegment, args.test.damage_segment.c_str(), 1);
    else unsetenv(limbo::plugin::env::kTestDamageSegment);
    if (args.dry_run) setenv(limbo::plugin::env::kDryRun, "1", 1); else unsetenv(limbo::plugin::env::kDryRun);
    // limbo-kexec's default: a refused load loads nothing (exit 1).
    setenv(limbo::plugin::env::kFallback, args.fallback.empty() ? "none" : args.fallback.c_str(), 1);
    // kexec must read its arguments as cli/kexec_options.h did: GNU getopt's
    // permutation, which POSIXLY_CORRECT would turn off.
    unsetenv("POSIXLY_CORRECT");
    if (args.verbose) setenv(limbo::plugin::env::kVerbose, "1", 1); else unsetenv(limbo::plugin::env::kVerbose);
    if (args.test.corrupt_digest) setenv(limbo::plugin::env::kTestCorruptDigest, "1", 1); else unsetenv(limbo::plugin::env::kTestCorruptDigest);
    for (const auto& [name, value] : limbo::plugin::pcie::options_to_environment(args.pcie)) setenv(name.c_str(), value.c_str(), 1);
    execv(kexec.c_str(), argv.data());
    std::fprintf(stderr, "limbo-kexec: cannot run %s: %s\n", kexec.c_str(), std::strerror(errno));
    _exit(127);
  }
  close(status_pipe[1]);
  std::string status;
  char buffer[512];
  for (;;) {
    const ssize_t n = read(status_pipe[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    status.append(buffer, static_cast<size_t>(n));
  }
  close(status_pipe[0]);
  int wait_status = 0;
  while (waitpid(child, &wait_status, 0) < 0) {
    if (errno != EINTR) {
      std::fprintf(stderr, "limbo-kexec: waitpid: %s\n", std::strerror(errno));
      return kExitFailed;
    }
  }
  if (WIFSIGNALED(wait_status)) {
    std::fprintf(stderr, "limbo-kexec: kexec killed by signal %d\n", WTERMSIG(wait_status));
    return kExitFailed;
  }
  const int code = WEXITSTATUS(wait_status);
  if (code == 127 && status.empty()) return kExitNotFound;
  const bool limbo_ok = status.find("limbo-status: ok ") != std::string::npos;
  const bool limbo_error = status.find("limbo-status: error ") != std::string::npos;
  const size_t stock_at = status.find("limbo-status: stock ");
  if (code != 0) {
    std::fprintf(stderr, "limbo-kexec: kexec failed (exit %d)%s\n", code, limbo_error ? "; Limbo refused the load (see 'limbo: error:' above)" : "");
    return kExitFailed;
  }
  if (args.expects_load && !limbo_ok && stock_at != std::string::npos) {
    const size_t from = stock_at + std::strlen("limbo-status: stock ");
    std::fprintf(stderr, "limbo-kexec: %s (kexec-tools' own purgatory), not Limbo: %s\n",
                 args.dry_run ? "dry run: would load STOCK" : "loaded STOCK",
                 status.substr(from, status.find('\n', from) - from).c_str());
    return kExitStatusStock;
  }
  if (args.expects_load && !limbo_ok) {
    std::fprintf(stderr, "limbo-kexec: kexec exited 0 but no load went through Limbo (%s)\n",
                 limbo_error ? "Limbo reported an error" : "the plugin saw no kexec_load: was it preloaded, is -c honoured?");
    return kExitFailed;
  }
  return kExitOk;
}

// --plan: the purgatory's discovery and policy over this system's config
// space (sysfs), as a tree; nothing is loaded and no device is written.
int run_plan(const Arguments& args) {
  namespace pcie = limbo::plugin::pcie;
  const pcie::SystemPaths paths = pcie::SystemPaths::from_environment();
  const pcie::Topology topology = pcie::read_topology(paths);
  const pcie::FilledSettings load = pcie::fill_settings(args.pcie, topology);
  const pcie::FilledSettings filled = pcie::plan_settings(args.pcie, topology);
  std::printf("PCIe reset plan (limbo-kexec %s; read from %s, nothing is written)\n", LIMBO_VERSION, paths.sysfs.c_str());
  if (topology.ecam) std::printf("ECAM windows from %s\n", topology.ecam->source.c_str());
  for (const std::string& line : pcie::describe_settings(filled.settings, &filled.rules)) std::printf("%s\n", line.c_str());
  for (const std::string& warning : load.warnings) {
    std::printf("%s: %s\n", load.quiesce_disabled ? "WARNING" : "warning", warning.c_str());
  }
  if (load.quiesce_disabled) {
    std::printf("The tree below is what the policy would do if the purgatory could reach config space.\n");
  }
  if (geteuid() != 0) std::printf("note: not root: MCFG and config space past 64 bytes are unreadable\n");
  const pcie::PlanSummary plan = pcie::make_plan(paths.sysfs, filled.settings, &filled.rules);
  std::fputs(plan.text.c_str(), stdout);
  for (const std::string& note : plan.notes) std::printf("note: %s\n", note.c_str());
  if (plan.functions == 0) {
    std::fprintf(stderr, "limbo-kexec: --plan found no PCI function under %s (%s)\n", paths.sysfs.c_str(),
                 topology.root_buses ? "no function on the root buses" : topology.root_buses.error().message.c_str());
    return kExitFailed;
  }
  return kExitOk;
}

// Where Linux (3.14 and later, arch/x86/kernel/ksysfs.c) lists the
// boot_params setup_data nodes.
constexpr const char* kBootParamsDir = "/sys/kernel/boot_params";

// --report: run by a kdump script in the capture kernel; the exit status is
// the verdict, the words are for its log.
int run_report(const Arguments& args) {
  std::string source = "/proc/cmdline";
  std::string cmdline;
  if (args.report_cmdline) {
    source = "the given command line";
    cmdline = *args.report_cmdline;
  } else {
    if (!args.report_file.empty()) source = args.report_file;
    std::ifstream in(source);
    if (!in) {
      std::fprintf(stderr, "limbo-kexec: --report: cannot read %s: %s\n", source.c_str(), std::strerror(errno));
      return kExitNotFound;
    }
    std::ostringstream text;
    text << in.rdbuf();
    cmdline = text.str();
  }
  const ReportReading reading = read_report(cmdline);
  // The whole log from the setup_data node, when there is one.
  const LogSource log = args.report_log.empty() ? find_log_node(kBootParamsDir) : read_log_file(args.report_log);
  if (args.report_json) {
    std::fputs(switch_json(reading, source, log).c_str(), stdout);
  } else {
    std::fputs(describe_switch(reading, source, log).c_str(), stdout);
  }
  switch (reading.verdict) {
    case ReportVerdict::kOk: return kExitOk;
    case ReportVerdict::kProblem: return kExitFailed;
    case ReportVerdict::kNotPresent:
    case ReportVerdict::kMalformed: return kExitNoReport;
  }
  return kExitNoReport;
}

// --status: what the crash kernel slot holds, and through what.
int run_status() {
  const limbo::plugin::CrashStatus status = limbo::plugin::read_crash_status(limbo::plugin::StatePaths::from_environment());
  std::printf("%s\n", status.line.c_str());
  switch (status.slot) {
    case limbo::plugin::CrashSlot::kLimbo: return kExitOk;
    case limbo::plugin::CrashSlot::kStockAfterRefusal: return kExitStatusStock;
    case limbo::plugin::CrashSlot::kNotLoaded: return kExitStatusNotLoaded;
    case limbo::plugin::CrashSlot::kLoadedWithoutRecord: return kExitStatusUnknown;
  }
  return kExitStatusUnknown;
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = parse_arguments(std::vector<std::string>(argv, argv + argc));
  if (!parsed) {
    std::fprintf(stderr, "limbo-kexec: %s\nTry 'limbo-kexec --help'.\n", parsed.error().message.c_str());
    return kExitUsage;
  }
  const Arguments& args = *parsed;
  if (args.help) {
    std::fputs(usage_text().c_str(), stdout);
    return kExitOk;
  }
  if (args.version) {
    std::printf("limbo-kexec %s\n", LIMBO_VERSION);
    return kExitOk;
  }
  if (args.plan) return run_plan(args);
  if (args.report) return run_report(args);
  if (args.status) return run_status();
  if (args.kexec_args.empty()) {
    std::fprintf(stderr, "limbo-kexec: no kexec arguments\nTry 'limbo-kexec --help'.\n");
    return kExitUsage;
  }
  return run(args);
}
