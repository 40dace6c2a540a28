// SPDX-License-Identifier: GPL-2.0-only
// Interposing libc's variadic syscall(): its arguments as six longs (the
// x86_64 system call ABI passes at most six, all register-sized), and the
// next definition of syscall (libc's) to pass a call on to. Shared by the
// plugin's interposer and the test preload that captures loads.
#pragma once

#include <dlfcn.h>

#include <array>
#include <cstdarg>

namespace limbo::plugin {

using SyscallArgs = std::array<long, 6>;
using SyscallFn = long (*)(long, ...);

// Reads the six argument registers' worth from a variadic syscall's list;
// the caller did va_start and does va_end.
inline SyscallArgs syscall_arguments(va_list args) {
  SyscallArgs a;
  for (long& arg : a) arg = va_arg(args, long);
  return a;
}

// libc's syscall (null if none follows this library in the lookup order).
inline SyscallFn next_syscall() {
  static const SyscallFn next = reinterpret_cast<SyscallFn>(dlsym(RTLD_NEXT, "syscall"));
  return next;
}

inline long forward_syscall(long number, const SyscallArgs& a) {
  return next_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

}  // namespace limbo::plugin
