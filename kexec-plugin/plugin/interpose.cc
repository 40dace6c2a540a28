// The preload shell: stock kexec calls libc's syscall(SYS_kexec_load, ...).
// This definition of syscall() takes that one call to the handler and hands
// every other number to the next syscall() (libc's), arguments untouched.
// In a program that is not kexec (plugin/trust.h) the plugin does nothing:
// its kexec_load goes to libc untouched too, after one warning line.
#include <dlfcn.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "plugin/handler.h"
#include "plugin/resources.h"
#include "plugin/trust.h"

namespace {

using SyscallFn = long (*)(long, ...);

SyscallFn next_syscall() {
  static SyscallFn next = reinterpret_cast<SyscallFn>(dlsym(RTLD_NEXT, "syscall"));
  return next;
}

long real_kexec_load(unsigned long entry, unsigned long nr_segments, const kexec_segment* segments,
                     unsigned long flags) {
  return next_syscall()(SYS_kexec_load, entry, nr_segments, segments, flags);
}

// Decided once per process, at its first kexec_load (never at load time of
// the library: a program that never calls kexec_load hears nothing from it).
bool acting_in_this_program() {
  static const bool acting = [] {
    const limbo::plugin::Status kexec = limbo::plugin::check_kexec_program("/proc/self/exe");
    if (!kexec) {
      std::fprintf(stderr, "limbo: warning: preloaded into a program that is not kexec (%s): "
                           "Limbo does nothing here; kexec_load passed through untouched\n",
                   kexec.error().message.c_str());
    }
    return kexec.ok();
  }();
  return acting;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) long syscall(long number, ...) {
  // The x86_64 syscall ABI has at most six arguments, all register-sized.
  va_list args;
  va_start(args, number);
  long a[6];
  for (long& arg : a) arg = va_arg(args, long);
  va_end(args);

  if (!next_syscall()) {
    errno = ENOSYS;
    return -1;
  }
  if (number != SYS_kexec_load || !acting_in_this_program()) return next_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  const limbo::plugin::Settings settings = limbo::plugin::Settings::from_environment();
  // Verbose: what the handler holds after it returned, against before.
  const limbo::plugin::ResourceUse before =
      settings.verbose ? limbo::plugin::resource_use() : limbo::plugin::ResourceUse{};
  const long result = limbo::plugin::handle_kexec_load(settings, static_cast<unsigned long>(a[0]),
                                                       static_cast<unsigned long>(a[1]),
                                                       reinterpret_cast<const kexec_segment*>(a[2]),
                                                       static_cast<unsigned long>(a[3]), real_kexec_load, stderr);
  if (settings.verbose) {
    const int error = errno;  // the handler's errno is the caller's answer
    limbo::plugin::print_resource_change(stderr, before, limbo::plugin::resource_use());
    errno = error;
  }
  return result;
}
