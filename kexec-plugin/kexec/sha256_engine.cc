// SPDX-License-Identifier: GPL-2.0-only
#include "kexec/sha256_engine.h"

#include <cstdlib>
#include <cstring>

#include "common/environment.h"
#include "lib/cpu_features.h"

namespace limbo::plugin::kexec {
namespace {

sha256::BlockFunction choose() {
  if (const char* forced = std::getenv(env::kSha256); forced && std::strcmp(forced, "portable") == 0) {
    return sha256::compress_portable;
  }
  return cpu::sha_ni_usable(cpu::read_cpuid_sha()) ? sha256::compress_sha_ni : sha256::compress_portable;
}

}  // namespace

sha256::BlockFunction host_sha256_engine() {
  static const sha256::BlockFunction engine = choose();
  return engine;
}

}  // namespace limbo::plugin::kexec
