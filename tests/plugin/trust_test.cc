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
