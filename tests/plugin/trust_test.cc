// SPDX-License-Identifier: GPL-2.0-only
// The plugin's trust rule and its kexec recognition (plugin/trust.h).
#include "plugin/trust.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace limbo::plugin {
namespace {

struct stat file_of(uid_t uid, mode_t mode) {
  struct stat st {};
  st.st_uid = uid;
  st.st_mode = S_IFREG | mode;
  return st;
}

TEST(Trust, RootOwnedNotWritableByOthersIsAccepted) {
  EXPECT_TRUE(check_trusted("p", file_of(0, 0644), {}).ok());
  EXPECT_TRUE(check_trusted("p", file_of(0, 0400), {}).ok());
  EXPECT_TRUE(check_trusted("p", file_of(0, 0755), {}).ok());
}

TEST(Trust, EachBreachIsNamed) {
  auto other = check_trusted("p", file_of(1000, 0644), {});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().message, "p: refused: owned by uid 1000, not root (Limbo loads only files root owns)");
  EXPECT_EQ(other.error().errno_value, kTrustRefused);
  auto group = check_trusted("p", file_of(0, 0664), {});
  ASSERT_FALSE(group.ok());
  EXPECT_NE(group.error().message.find("mode 0664 is writable by group "), std::string::npos) << group.error().message;
  auto world = check_trusted("p", file_of(0, 0646), {});
  ASSERT_FALSE(world.ok());
  EXPECT_NE(world.error().message.find("mode 0646 is writable by others "), std::string::npos) << world.error().message;
  auto both = check_trusted("p", file_of(0, 0666), {});
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message.find("writable by group and others"), std::string::npos);
  struct stat dir = file_of(0, 0755);
  dir.st_mode = S_IFDIR | 0755;
  auto not_file = check_trusted("d", dir, {});
  ASSERT_FALSE(not_file.ok());
  EXPECT_EQ(not_file.error().message, "d: refused: not a regular file");
}

TEST(Trust, TheCallersOwnFilesOnlyWhenTheRuleSaysSo) {
  const TrustRule dry{true, 1000};
  EXPECT_TRUE(check_trusted("p", file_of(1000, 0644), dry).ok());
  EXPECT_FALSE(check_trusted("p", file_of(1001, 0644), dry).ok());
  EXPECT_FALSE(check_trusted("p", file_of(1000, 0664), dry).ok());  // still not writable by group
}

TEST(Trust, ReadTrustedFileChecksTheOpenFile) {
  char name[] = "/tmp/limbo-trust-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "abc", 3), 3);
  close(fd);
  const TrustRule rule{true, geteuid()};
  ASSERT_EQ(chmod(name, 0644), 0);
  auto bytes = read_trusted_file(name, rule);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  EXPECT_EQ(bytes->size(), 3u);
  ASSERT_EQ(chmod(name, 0622), 0);
  auto refused = read_trusted_file(name, rule);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().errno_value, kTrustRefused);
  unlink(name);
  auto missing = read_trusted_file(name, rule);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().errno_value, ENOENT);
}

struct stat dir_of(uid_t uid, mode_t mode) {
  struct stat st {};
  st.st_uid = uid;
  st.st_mode = S_IFDIR | mode;
  return st;
}

TEST(TrustDirectory, RootsDirectoriesAndStickyOnesAreAccepted) {
  EXPECT_TRUE(check_trusted_directory("/usr/lib", dir_of(0, 0755), {}).ok());
  EXPECT_TRUE(check_trusted_directory("/tmp", dir_of(0, 01777), {}).ok());
  EXPECT_TRUE(check_trusted_directory("/home/u", dir_of(1000, 0755), TrustRule{true, 1000}).ok());
}

TEST(TrustDirectory, EachBreachIsNamed) {
  auto owner = check_trusted_directory("/home/u", dir_of(1000, 0755), {});
  ASSERT_FALSE(owner.ok());
  EXPECT_EQ(owner.error().message,
            "directory /home/u: refused: owned by uid 1000, not root (its owner could replace the file)");
  EXPECT_EQ(owner.error().errno_value, kTrustRefused);
  auto open = check_trusted_directory("/srv/x", dir_of(0, 0777), {});
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.error().message.find("directory /srv/x: refused: mode 0777 lets group and others replace the file"),
            std::string::npos)
      << open.error().message;
  auto group = check_trusted_directory("/srv/g", dir_of(0, 0775), {});
  ASSERT_FALSE(group.ok());
  EXPECT_NE(group.error().message.find("mode 0775 lets group replace"), std::string::npos) << group.error().message;
  EXPECT_FALSE(check_trusted_directory("/srv/f", file_of(0, 0755), {}).ok());
}

// A real tree under /tmp (sticky, root's): the file passes alone, and is
// refused once a directory above it is opened to others or given away.
TEST(TrustDirectory, ReadTrustedFileChecksEveryDirectoryAbove) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (chown of the test directory)";
  char top[] = "/tmp/limbo-trust-dir-XXXXXX";
  ASSERT_NE(mkdtemp(top), nullptr);
  ASSERT_EQ(chmod(top, 0755), 0);
  const std::string inner = std::string(top) + "/inner";
  ASSERT_EQ(mkdir(inner.c_str(), 0755), 0);
  const std::string file = inner + "/p.ro";
  { std::ofstream(file) << "abc"; }
  ASSERT_EQ(chmod(file.c_str(), 0644), 0);
  const TrustRule root_only{};

  auto ok = read_trusted_file(file, root_only);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->size(), 3u);

  ASSERT_EQ(chmod(top, 0777), 0);
  auto open = read_trusted_file(file, root_only);
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.error().errno_value, kTrustRefused);
  EXPECT_EQ(open.error().message.rfind(file + ": directory " + top + ": refused: mode 0777", 0), 0u)
      << open.error().message;
  ASSERT_EQ(chmod(top, 01777), 0);  // sticky, like /tmp: accepted
  EXPECT_TRUE(read_trusted_file(file, root_only).ok());

  ASSERT_EQ(chown(inner.c_str(), 1000, 0), 0);
  auto given = read_trusted_file(file, root_only);
  ASSERT_FALSE(given.ok());
  EXPECT_NE(given.error().message.find("directory " + inner + ": refused: owned by uid 1000"), std::string::npos)
      << given.error().message;

  // Through a symlink the resolved file's directories are the ones checked.
  const std::string link = std::string(top) + "/link.ro";
  ASSERT_EQ(chown(inner.c_str(), 0, 0), 0);
  ASSERT_EQ(symlink(file.c_str(), link.c_str()), 0);
  EXPECT_TRUE(read_trusted_file(link, root_only).ok());

  unlink(link.c_str());
  unlink(file.c_str());
  rmdir(inner.c_str());
  rmdir(top);
}

TEST(KexecProgram, ThisTestIsNotKexec) {
  auto self = check_kexec_program("/proc/self/exe");
  ASSERT_FALSE(self.ok());
  EXPECT_NE(self.error().message.find("not kexec"), std::string::npos) << self.error().message;
}

TEST(KexecProgram, TheNameAloneIsNotEnough) {
  char dir[] = "/tmp/limbo-kexec-name-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string fake = std::string(dir) + "/kexec";
  std::ofstream(fake) << "#!/bin/sh\nexit 0\n";
  auto named = check_kexec_program(fake);
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.error().message.find("embeds no x86_64 relocatable object"), std::string::npos) << named.error().message;
  // A link named kexec to another program is that program (readlink).
  const std::string link = std::string(dir) + "/link";
  ASSERT_EQ(symlink("/bin/true", link.c_str()), 0);
  auto linked = check_kexec_program(link);
  ASSERT_FALSE(linked.ok());
  EXPECT_NE(linked.error().message.find("/bin/true, not kexec"), std::string::npos) << linked.error().message;
  unlink(link.c_str());
  unlink(fake.c_str());
  rmdir(dir);
}

TEST(KexecProgram, TheDistributionsKexecIs) {
  for (const char* path : {"/usr/sbin/kexec", "/sbin/kexec"}) {
    if (access(path, R_OK) != 0) continue;
    auto real = check_kexec_program(path);
    EXPECT_TRUE(real.ok()) << path << ": " << real.error().message;
    return;
  }
  GTEST_SKIP() << "no kexec installed";
}

}  // namespace
}  // namespace limbo::plugin
