// Run with liblimbo-kexec.so preloaded (tests/plugin/dry-run-host): checks
// that the interposed syscall() passes other numbers through with their
// arguments, and that a kexec_load the plugin cannot decode fails with EINVAL
// and the plugin's one error line, without reaching the kernel (this binary
// embeds no stock purgatory). Prints "probe: ok" and exits 0 on success.
#include <linux/kexec.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main() {
  int failures = 0;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) {
      std::printf("probe: FAIL %s (errno %d)\n", what, errno);
      ++failures;
    }
  };
  expect(syscall(SYS_getpid) == getpid(), "getpid passes through");
  expect(syscall(SYS_write, 1, "probe: write\n", 13) == 13, "write(3 args) passes through");
  char buffer[8];
  expect(syscall(SYS_read, -1, buffer, sizeof(buffer)) == -1 && errno == EBADF, "read(-1) keeps the kernel's errno");
  static const char page[4096] = {};
  kexec_segment segment = {page, sizeof(page), reinterpret_cast<const void*>(0x1000000), 0x1000};
  errno = 0;
  const long result = syscall(SYS_kexec_load, 0x1000000UL, 1UL, &segment, static_cast<unsigned long>(KEXEC_ON_CRASH));
  expect(result == -1 && errno == EINVAL, "undecodable kexec_load fails with EINVAL");
  if (failures == 0) std::printf("probe: ok\n");
  return failures == 0 ? 0 : 1;
}
