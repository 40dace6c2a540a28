// SPDX-License-Identifier: GPL-2.0-only
// Run with liblimbo-kexec.so preloaded (tests/plugin/dry-run-host): checks
// that the interposed syscall() passes other numbers through with their
// arguments, and that in this program, which is not kexec, the plugin does
// nothing with a kexec_load either: it reaches the kernel untouched (the
// plugin prints one warning, checked by dry-run-host). The call names another
// architecture (KEXEC_ARCH_ARM), which the kernel refuses with EINVAL before
// anything else (ENOSYS where kexec_load does not exist), with or without CAP_SYS_BOOT: nothing can be loaded even if
// the probe runs outside dry-run-host's setpriv. Prints "probe: ok" and exits
// 0 on success.
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
  const long result = syscall(SYS_kexec_load, 0x1000000UL, 1UL, &segment,
                              static_cast<unsigned long>(KEXEC_ON_CRASH | KEXEC_ARCH_ARM));
  // EINVAL from a kernel with kexec, ENOSYS from one (or a sandbox) without.
  expect(result == -1 && (errno == EINVAL || errno == ENOSYS), "kexec_load reaches the kernel, which refuses it");
  if (failures == 0) std::printf("probe: ok\n");
  return failures == 0 ? 0 : 1;
}
