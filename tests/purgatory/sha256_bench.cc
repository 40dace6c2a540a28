// SPDX-License-Identifier: GPL-2.0-only
// Throughput of the purgatory's SHA-256 as shipped: linked against the
// freestanding object build/purgatory/lib/sha256.o (the purgatory's flags),
// on dense data and on a crash kernel's shape (data, then zero fill).
// Not a test: `make purgatory-bench` builds and runs it.
#include <chrono>
#include <cstdio>
#include <vector>

#include <openssl/evp.h>

#include "lib/sha256.h"

namespace {

double megabytes_per_second(const std::vector<uint8_t>& data) {
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    const auto start = std::chrono::steady_clock::now();
    const limbo::sha256::Digest d = limbo::sha256::hash(data.data(), data.size());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    uint8_t reference[32];
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), reference, &n, EVP_sha256(), nullptr);
    if (__builtin_memcmp(reference, d.bytes, 32) != 0) {
      std::fprintf(stderr, "digest differs from OpenSSL's\n");
      return -1;
    }
    const double rate = data.size() / seconds / 1e6;
    if (rate > best) best = rate;
  }
  return best;
}

}  // namespace

int main() {
  constexpr size_t kSize = size_t{64} << 20;
  std::vector<uint8_t> dense(kSize);
  for (size_t i = 0; i < kSize; ++i) dense[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  // The QEMU crash kernel's first segment: 8 MB of file, 58 MB of zero fill.
  std::vector<uint8_t> kdump(kSize, 0);
  for (size_t i = 0; i < (size_t{8} << 20); ++i) kdump[i] = dense[i];
  std::printf("portable SHA-256 (purgatory object), best of 3 over 64 MiB:\n");
  std::printf("  dense data             %7.1f MB/s\n", megabytes_per_second(dense));
  std::printf("  8 MiB data + zero fill %7.1f MB/s\n", megabytes_per_second(kdump));
  return 0;
}
