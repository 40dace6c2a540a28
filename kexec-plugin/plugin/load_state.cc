// SPDX-License-Identifier: GPL-2.0-only
#include "plugin/load_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/environment.h"

namespace limbo::plugin {
namespace {

constexpr const char* kRecordMagic = "limbo-crash-load v1";

// The whole of a small file, or nullopt-like empty with ok = false.
bool read_small(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The boot's identity, into a caller's buffer (no allocation).
void boot_id(char (&out)[64]) noexcept {
  out[0] = '\0';
  const char* proc = std::getenv(env::kTestProc);
  char path[256];
  std::snprintf(path, sizeof(path), "%s/sys/kernel/random/boot_id", proc && *proc ? proc : "/proc");
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  const ssize_t n = read(fd, out, sizeof(out) - 1);
  close(fd);
  if (n <= 0) return;
  out[n] = '\0';
  out[std::strcspn(out, "\n")] = '\0';
}

}  // namespace

StatePaths StatePaths::from_environment() {
  StatePaths paths;
  if (const char* sysfs = std::getenv(env::kTestSysfs); sysfs && *sysfs) paths.sysfs = sysfs;
  if (const char* proc = std::getenv(env::kTestProc); proc && *proc) paths.proc = proc;
  if (const char* run = std::getenv(env::kTestRunDir); run && *run) paths.run_dir = run;
  return paths;
}

std::string kexec_load_unavailable(const StatePaths& paths) {
  std::string text;
  const std::string lockdown = paths.sysfs + "/kernel/security/lockdown";
  if (read_small(lockdown, text)) {
    // "none [integrity] confidentiality": the bracketed word is the mode.
    const size_t open = text.find('['), close = text.find(']');
    if (open != std::string::npos && close != std::string::npos && close > open) {
      const std::string mode = text.substr(open + 1, close - open - 1);
      if (mode != "none") return "kernel lockdown is '" + mode + "' (" + lockdown + ")";
    }
  }
  const std::string disabled = paths.proc + "/sys/kernel/kexec_load_disabled";
  if (read_small(disabled, text) && first_line(text) == "1") return "kernel.kexec_load_disabled is 1 (" + disabled + ")";
  // efivarfs: 4 bytes of attributes, then the value (1: Secure Boot on).
  const std::string secure_boot = paths.sysfs + "/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0a9e5a3e7c9";
  if (read_small(secure_boot, text) && text.size() >= 5 && text[4] == 1) {
    return "EFI Secure Boot is on (" + secure_boot + "), so the kernel is locked down";
  }
  return "";
}

int write_load_record(const char* record_file, const char* run_dir, LoadedThrough through, const char* reason) noexcept {
  if (mkdir(run_dir, 0755) != 0 && errno != EEXIST) return errno;
  char temporary[512];
  if (std::snprintf(temporary, sizeof(temporary), "%s.%d", record_file, static_cast<int>(getpid())) >=
      static_cast<int>(sizeof(temporary))) {
    return ENAMETOOLONG;
  }
  const int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return errno;
  char boot[64];
  boot_id(boot);
  // The reason on one line, whatever it holds.
  char one_line[512];
  std::snprintf(one_line, sizeof(one_line), "%s", reason ? reason : "");
  for (char* c = one_line; *c; ++c) {
    if (*c == '\n' || *c == '\r') *c = ' ';
  }
  const int written = dprintf(fd, "%s\nthrough %s\nboot %s\nreason %s\n", kRecordMagic,
                              through == LoadedThrough::kLimbo ? "limbo" : "stock", boot, one_line);
  const int error = written < 0 ? EIO : (fsync(fd) != 0 ? errno : 0);
  close(fd);
  if (error != 0 || rename(temporary, record_file) != 0) {
    const int failure = error != 0 ? error : errno;
    unlink(temporary);
    return failure;
  }
  return 0;
}

void remove_load_record(const char* record_file) noexcept { unlink(record_file); }

CrashStatus read_crash_status(const StatePaths& paths) {
  CrashStatus status;
  std::string loaded;
  const std::string loaded_file = paths.sysfs + "/kernel/kexec_crash_loaded";
  if (!read_small(loaded_file, loaded) || first_line(loaded) != "1") {
    status.slot = CrashSlot::kNotLoaded;
    status.line = "not loaded: no crash kernel is loaded (" + loaded_file + " is " +
                  (loaded.empty() ? std::string("unreadable") : first_line(loaded)) + ")";
    return status;
  }
  std::string record;
  const std::string file = paths.record_file();
  status.slot = CrashSlot::kLoadedWithoutRecord;
  if (!read_small(file, record)) {
    status.reason = "no record in " + file + ": loaded by a kexec without Limbo's plugin, or the plugin could not write the record";
  } else {
    std::istringstream lines(record);
    std::string magic, line, through, boot, reason;
    std::getline(lines, magic);
    while (std::getline(lines, line)) {
      if (line.rfind("through ", 0) == 0) through = line.substr(8);
      else if (line.rfind("boot ", 0) == 0) boot = line.substr(5);
      else if (line.rfind("reason ", 0) == 0) reason = line.substr(7);
    }
    char this_boot[64];
    boot_id(this_boot);
    if (magic != kRecordMagic || (through != "limbo" && through != "stock")) {
      status.reason = file + " is not a Limbo load record";
    } else if (boot != this_boot) {
      status.reason = file + " is from another boot";
    } else if (through == "limbo") {
      status.slot = CrashSlot::kLimbo;
    } else {
      status.slot = CrashSlot::kStockAfterRefusal;
      status.reason = reason;
    }
  }
  switch (status.slot) {
    case CrashSlot::kLimbo: status.line = "loaded through Limbo"; break;
    case CrashSlot::kStockAfterRefusal: status.line = "loaded stock, after a refusal: " + status.reason; break;
    case CrashSlot::kLoadedWithoutRecord: status.line = "loaded, not through Limbo's plugin (" + status.reason + ")"; break;
    case CrashSlot::kNotLoaded: break;
  }
  return status;
}

}  // namespace limbo::plugin
