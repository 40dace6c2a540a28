#include "kexec/sha256_engine.h"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>

#include "lib/cpu_features.h"

namespace limbo::plugin::kexec {
namespace {

sha256::BlockFunction choose() {
  if (const char* forced = std::getenv("LIMBO_SHA256"); forced && std::strcmp(forced, "portable") == 0) {
    return sha256::compress_portable;
  }
  cpu::CpuidSha id{};
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __cpuid(0, eax, ebx, ecx, edx);
  id.max_leaf = eax;
  __cpuid(1, eax, ebx, ecx, edx);
  id.leaf1_ecx = ecx;
  id.leaf1_edx = edx;
  if (id.max_leaf >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    id.leaf7_ebx = ebx;
  }
  return cpu::sha_ni_usable(id) ? sha256::compress_sha_ni : sha256::compress_portable;
}

}  // namespace

sha256::BlockFunction host_sha256_engine() {
  static const sha256::BlockFunction engine = choose();
  return engine;
}

}  // namespace limbo::plugin::kexec
