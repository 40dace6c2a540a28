// SPDX-License-Identifier: GPL-2.0-only
// Whether this kernel accepts kexec_load (lockdown, the sysctl,
// Secure Boot), and what `limbo-kexec --status` makes of the crash slot and
// the plugin's record, over a fake /sys and /proc.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "plugin/load_state.h"

namespace limbo::plugin {
namespace {

class LoadState : public ::testing::Test {
 protected:
  void SetUp() override {
    char root[] = "/tmp/limbo-state-XXXXXX";
    ASSERT_NE(mkdtemp(root), nullptr);
    root_ = root;
    paths_.sysfs = root_ + "/sys";
    paths_.proc = root_ + "/proc";
    paths_.run_dir = root_ + "/run/limbo";
    std::filesystem::create_directories(root_ + "/run");
    write("proc/sys/kernel/random/boot_id", "0b0e1d00-1111-2222-3333-444455556666\n");
    setenv("LIMBO_TEST_PROC", paths_.proc.c_str(), 1);  // the record's boot id
  }
  void TearDown() override {
    unsetenv("LIMBO_TEST_PROC");
    std::filesystem::remove_all(root_);
  }
  void write(const std::string& relative, const std::string& text) {
    const std::filesystem::path path = root_ + "/" + relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
  }
  std::string root_;
  StatePaths paths_;
};

TEST_F(LoadState, NothingLockedMeansKexecLoadWorks) {
  write("sys/kernel/security/lockdown", "[none] integrity confidentiality\n");
  write("proc/sys/kernel/kexec_load_disabled", "0\n");
  write("sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0a9e5a3e7c9", std::string("\x06\0\0\0\0", 5));
  EXPECT_EQ(kexec_load_unavailable(paths_), "");
  std::filesystem::remove_all(root_ + "/sys");  // no securityfs, no EFI: nothing says no
  EXPECT_EQ(kexec_load_unavailable(paths_), "");
}

TEST_F(LoadState, EachReasonIsNamed) {
  write("sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
  EXPECT_EQ(kexec_load_unavailable(paths_), "kernel lockdown is 'integrity' (" + paths_.sysfs + "/kernel/security/lockdown)");
  write("sys/kernel/security/lockdown", "none integrity [confidentiality]\n");
  EXPECT_NE(kexec_load_unavailable(paths_).find("'confidentiality'"), std::string::npos);
  write("sys/kernel/security/lockdown", "[none] integrity confidentiality\n");
  write("proc/sys/kernel/kexec_load_disabled", "1\n");
  EXPECT_EQ(kexec_load_unavailable(paths_).rfind("kernel.kexec_load_disabled is 1 (", 0), 0u);
  write("proc/sys/kernel/kexec_load_disabled", "0\n");
  write("sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0a9e5a3e7c9", std::string("\x06\0\0\0\x01", 5));
  EXPECT_EQ(kexec_load_unavailable(paths_).rfind("EFI Secure Boot is on (", 0), 0u);
}

TEST_F(LoadState, StatusOfEachSlot) {
  // Not loaded: whatever the record says.
  write("sys/kernel/kexec_crash_loaded", "0\n");
  ASSERT_EQ(write_load_record(paths_.record_file().c_str(), paths_.run_dir.c_str(), LoadedThrough::kLimbo, ""), 0);
  CrashStatus status = read_crash_status(paths_);
  EXPECT_EQ(status.slot, CrashSlot::kNotLoaded);
  EXPECT_EQ(status.line.rfind("not loaded: ", 0), 0u) << status.line;
  // Loaded, with the record of this boot.
  write("sys/kernel/kexec_crash_loaded", "1\n");
  status = read_crash_status(paths_);
  EXPECT_EQ(status.slot, CrashSlot::kLimbo);
  EXPECT_EQ(status.line, "loaded through Limbo");
  ASSERT_EQ(write_load_record(paths_.record_file().c_str(), paths_.run_dir.c_str(), LoadedThrough::kStock,
                              "crash reservation too small:\nno hole"), 0);
  status = read_crash_status(paths_);
  EXPECT_EQ(status.slot, CrashSlot::kStockAfterRefusal);
  EXPECT_EQ(status.line, "loaded stock, after a refusal: crash reservation too small: no hole");
  // A record of another boot does not count.
  write("proc/sys/kernel/random/boot_id", "ffffffff-1111-2222-3333-444455556666\n");
  status = read_crash_status(paths_);
  EXPECT_EQ(status.slot, CrashSlot::kLoadedWithoutRecord);
  EXPECT_NE(status.line.find("from another boot"), std::string::npos) << status.line;
  // No record: loaded by something else.
  remove_load_record(paths_.record_file().c_str());
  status = read_crash_status(paths_);
  EXPECT_EQ(status.slot, CrashSlot::kLoadedWithoutRecord);
  EXPECT_EQ(status.line.rfind("loaded, not through Limbo's plugin (no record in ", 0), 0u) << status.line;
}

TEST_F(LoadState, TheRecordIsReplacedWholeAndLeavesNoTemporary) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(write_load_record(paths_.record_file().c_str(), paths_.run_dir.c_str(), LoadedThrough::kLimbo, ""), 0);
  }
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(paths_.run_dir)) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "crash-kernel");
  }
  EXPECT_EQ(files, 1u);
  struct stat st;
  ASSERT_EQ(stat(paths_.record_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(write_load_record("/nonexistent/dir/crash-kernel", "/nonexistent/dir", LoadedThrough::kLimbo, ""), ENOENT);
}

}  // namespace
}  // namespace limbo::plugin
