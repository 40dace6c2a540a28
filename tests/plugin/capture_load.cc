// SPDX-License-Identifier: GPL-2.0-only
// TEST ONLY: a preload for the real /sbin/kexec that writes the kexec_load
// call kexec-tools builds (entry, flags, every segment's place and bytes) to
// $LIMBO_CAPTURE_FILE and returns 0 without calling the kernel; every other
// system call passes through. tests/plugin/alloc_sweep_test.cc replays the
// Debian kernel and initrd's load from it. With $LIMBO_CAPTURE_LOG set it
// instead appends one line per kexec_load / kexec_file_load call to that
// file ("kexec_load nr=N crash=0|1", "kexec_file_load unload=0|1 crash=0|1")
// and returns 0, never calling the kernel either: what kexec does with its
// arguments (tests/plugin/kexec_options_test.cc, RealKexecAgrees).
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/kexec.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "capture_format.h"
#include "plugin/syscall_forward.h"

namespace {

bool write_all(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void log_call(const char* log, const char* text) {
  const int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  write_all(fd, text, std::strlen(text));
  close(fd);
}

long capture(unsigned long entry, unsigned long nr, const kexec_segment* segments, unsigned long flags) {
  if (const char* log = std::getenv("LIMBO_CAPTURE_LOG")) {
    char line[96];
    std::snprintf(line, sizeof(line), "kexec_load nr=%lu crash=%d\n", nr, (flags & KEXEC_ON_CRASH) ? 1 : 0);
    log_call(log, line);
    return 0;
  }
  const char* path = std::getenv("LIMBO_CAPTURE_FILE");
  if (!path) {
    std::fprintf(stderr, "capture_load: LIMBO_CAPTURE_FILE is not set\n");
    errno = EINVAL;
    return -1;
  }
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  limbo::test::CaptureHeader header{limbo::test::kCaptureMagic, entry, flags, nr};
  bool ok = write_all(fd, &header, sizeof(header));
  for (unsigned long i = 0; ok && i < nr; ++i) {
    limbo::test::CaptureSegment s{reinterpret_cast<uint64_t>(segments[i].mem), segments[i].memsz, segments[i].bufsz};
    ok = write_all(fd, &s, sizeof(s)) && write_all(fd, segments[i].buf, segments[i].bufsz);
  }
  close(fd);
  if (!ok) {
    errno = EIO;
    return -1;
  }
  std::fprintf(stderr, "capture_load: %lu segments written to %s, kexec_load not called\n", nr, path);
  return 0;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) long syscall(long number, ...) noexcept {
  va_list args;
  va_start(args, number);
  const limbo::plugin::SyscallArgs a = limbo::plugin::syscall_arguments(args);
  va_end(args);
  if (number == SYS_kexec_file_load) {
    if (const char* log = std::getenv("LIMBO_CAPTURE_LOG")) {
      // KEXEC_FILE_UNLOAD 0x1, KEXEC_FILE_ON_CRASH 0x2 (linux/kexec.h).
      char line[96];
      std::snprintf(line, sizeof(line), "kexec_file_load unload=%d crash=%d\n", (a[4] & 1) ? 1 : 0, (a[4] & 2) ? 1 : 0);
      log_call(log, line);
      return 0;
    }
    errno = EPERM;  // never the kernel's
    return -1;
  }
  if (number == SYS_kexec_load) {
    return capture(static_cast<unsigned long>(a[0]), static_cast<unsigned long>(a[1]),
                   reinterpret_cast<const kexec_segment*>(a[2]), static_cast<unsigned long>(a[3]));
  }
  return limbo::plugin::forward_syscall(number, a);
}
