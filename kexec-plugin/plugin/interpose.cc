// SPDX-License-Identifier: GPL-2.0-only
// The preload shell: stock kexec calls libc's syscall(SYS_kexec_load, ...).
// This definition of syscall() takes that one call to the handler and hands
// every other number to the next syscall() (libc's), arguments untouched.
// In a program that is not kexec (plugin/trust.h) the plugin does nothing:
// its kexec_load goes to libc untouched too, after one warning line.
#include <dlfcn.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/environment.h"
#include "plugin/handler.h"
#include "plugin/resources.h"
#include "plugin/syscall_forward.h"
#include "plugin/trust.h"

namespace {

using limbo::plugin::next_syscall;

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

// The one exported C entry point: noexcept, and a catch-all around all the
// plugin does, so that nothing thrown inside crosses into kexec's C code. A
// failure before the handler runs (reading the settings, the program check)
// ends as the handler's own would: a refusal, or with LIMBO_FALLBACK=stock
// kexec-tools' load passed to the kernel unchanged.
extern "C" __attribute__((visibility("default"))) long syscall(long number, ...) noexcept {
  va_list args;
  va_start(args, number);
  const limbo::plugin::SyscallArgs a = limbo::plugin::syscall_arguments(args);
  va_end(args);

  if (!next_syscall()) {
    errno = ENOSYS;
    return -1;
  }
  if (number != SYS_kexec_load) return limbo::plugin::forward_syscall(number, a);
  const auto entry = static_cast<unsigned long>(a[0]);
  const auto nr_segments = static_cast<unsigned long>(a[1]);
  const auto* segments = reinterpret_cast<const kexec_segment*>(a[2]);
  const auto flags = static_cast<unsigned long>(a[3]);
  const char* failure = nullptr;
  int error = EINVAL;
  try {
    if (!acting_in_this_program()) return real_kexec_load(entry, nr_segments, segments, flags);
    const limbo::plugin::Settings settings = limbo::plugin::Settings::from_environment();
    // Verbose: what the handler holds after it returned, against before.
    const limbo::plugin::ResourceUse before =
        settings.verbose ? limbo::plugin::resource_use() : limbo::plugin::ResourceUse{};
    const long result = limbo::plugin::handle_kexec_load(settings, entry, nr_segments, segments, flags, real_kexec_load, stderr);
    if (settings.verbose) {
      const int handler_error = errno;  // the handler's errno is the caller's answer
      limbo::plugin::print_resource_change(stderr, before, limbo::plugin::resource_use());
      errno = handler_error;
    }
    return result;
  } catch (const std::bad_alloc&) {
    failure = "out of memory in the plugin (std::bad_alloc) before the load was examined";
    error = ENOMEM;
  } catch (...) {
    failure = "internal error in the plugin before the load was examined";
  }
  // An unload is passed through as always.
  if (nr_segments == 0) return real_kexec_load(entry, nr_segments, segments, flags);
  const limbo::plugin::FallbackPolicy policy = limbo::plugin::FallbackPolicy::from_environment();
  int status_fd = -1;
  if (const char* fd = std::getenv(limbo::plugin::env::kStatusFd); fd && *fd) {
    char* end = nullptr;
    const long value = std::strtol(fd, &end, 10);
    if (*end == '\0' && value >= 0 && value <= INT32_MAX) status_fd = static_cast<int>(value);
  }
  const char* dry = std::getenv(limbo::plugin::env::kDryRun);
  return limbo::plugin::refuse_or_fall_back(policy, dry && std::strcmp(dry, "1") == 0, status_fd, failure, error, false,
                                            entry, nr_segments, segments, flags, real_kexec_load, stderr);
}
