// SPDX-License-Identifier: GPL-2.0-only
// The SHA-NI engine (purgatory/arch/x86_64/sha256_ni.cc) and the portable one
// (purgatory/lib/sha256.cc) against the FIPS 180-4 / NIST CAVP vectors, against
// each other and against OpenSSL on random inputs of every length 0..4096 and
// several of many MB. The host must have SHA-NI for half of this: when it
// does not, those tests are skipped with a message saying which path did not run.
#include <cpuid.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "lib/cpu_features.h"
#include "lib/sha256.h"

namespace limbo::sha256 {
namespace {

// The same decision as the purgatory's gate (lib/cpu_features.h), from the
// host's CPUID. The host OS has SSE enabled already.
bool host_has_sha_ni() { return cpu::sha_ni_usable(cpu::read_cpuid_sha()); }

#define REQUIRE_SHA_NI()                                                                      \
  if (!host_has_sha_ni())                                                                     \
  GTEST_SKIP() << "this host's CPU has no SHA extensions: the SHA-NI path was NOT tested here " \
                  "(only the portable one)"

std::string to_hex(const Digest& d) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d.bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 0xf]);
  }
  return s;
}

Digest openssl_sha256(const uint8_t* data, size_t length) {
  Digest d{};
  unsigned int n = 0;
  EXPECT_EQ(EVP_Digest(data, length, d.bytes, &n, EVP_sha256(), nullptr), 1);
  return d;
}

struct Vector {
  std::string message;
  const char* digest;
};

// FIPS 180-4 examples (NIST "SHA256.pdf"), and the one-million-'a' message.
const std::vector<Vector>& nist_vectors() {
  static const std::vector<Vector> kVectors = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
      {std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
  return kVectors;
}

void expect_nist(BlockFunction compress) {
  for (const Vector& v : nist_vectors()) {
    const auto* data = reinterpret_cast<const uint8_t*>(v.message.data());
    EXPECT_EQ(to_hex(hash(data, v.message.size(), compress)), v.digest) << "message length " << v.message.size();
    // The same bytes fed in odd pieces: the buffering path around the engine.
    Hasher h(compress);
    for (size_t at = 0; at < v.message.size();) {
      const size_t piece = std::min<size_t>(v.message.size() - at, 1 + at % 97);
      h.update(data + at, piece);
      at += piece;
    }
    EXPECT_EQ(to_hex(h.finish()), v.digest) << "incremental, message length " << v.message.size();
  }
}

TEST(Sha256Engines, PortableMatchesNist) { expect_nist(compress_portable); }

TEST(Sha256Engines, ShaNiMatchesNist) {
  REQUIRE_SHA_NI();
  expect_nist(compress_sha_ni);
}

TEST(Sha256Engines, EngineNames) {
  EXPECT_STREQ(engine_name(compress_portable), "portable");
  EXPECT_STREQ(engine_name(compress_sha_ni), "sha-ni");
}

// Every length 0..4096 bytes, random content, from an odd address.
TEST(Sha256Engines, EveryLengthTo4096AgreesWithPortableAndOpenSsl) {
  REQUIRE_SHA_NI();
  std::mt19937_64 rng(0x5ea1);
  std::vector<uint8_t> buffer(4096 + 1);
  for (auto& b : buffer) b = static_cast<uint8_t>(rng());
  const uint8_t* data = buffer.data() + 1;
  for (size_t length = 0; length <= 4096; ++length) {
    const Digest ni = hash(data, length, compress_sha_ni);
    const Digest portable = hash(data, length, compress_portable);
    const Digest reference = openssl_sha256(data, length);
    ASSERT_EQ(to_hex(ni), to_hex(reference)) << "length " << length;
    ASSERT_EQ(to_hex(portable), to_hex(reference)) << "length " << length;
  }
}

// Several inputs of many MB, random and crash-kernel shaped (data, then zeros).
TEST(Sha256Engines, ManyMegabytesAgree) {
  REQUIRE_SHA_NI();
  std::mt19937_64 rng(0xb16);
  for (size_t length : {size_t{1} << 20, (size_t{8} << 20) + 37, (size_t{33} << 20) + 4095}) {
    std::vector<uint8_t> data(length);
    for (size_t i = 0; i + 8 <= length; i += 8) {
      const uint64_t word = rng();
      std::memcpy(&data[i], &word, 8);
    }
    const std::string reference = to_hex(openssl_sha256(data.data(), length));
    EXPECT_EQ(to_hex(hash(data.data(), length, compress_sha_ni)), reference) << "length " << length;
    EXPECT_EQ(to_hex(hash(data.data(), length, compress_portable)), reference) << "length " << length;
    std::fill(data.begin() + length / 4, data.end(), 0);
    const std::string zero_tail = to_hex(openssl_sha256(data.data(), length));
    EXPECT_EQ(to_hex(hash(data.data(), length, compress_sha_ni)), zero_tail) << "zero tail, length " << length;
    EXPECT_EQ(to_hex(hash(data.data(), length, compress_portable)), zero_tail) << "zero tail, length " << length;
  }
}

// The gate's decision: each missing feature means the portable engine.
TEST(CpuFeatures, ShaNiNeedsEveryFeature) {
  const cpu::CpuidSha all{7, cpu::kLeaf1EcxSsse3 | cpu::kLeaf1EcxSse41, cpu::kLeaf1EdxFxsr | cpu::kLeaf1EdxSse2,
                          cpu::kLeaf7EbxSha};
  EXPECT_TRUE(cpu::sha_ni_usable(all));
  cpu::CpuidSha id = all;
  id.max_leaf = 6;
  EXPECT_FALSE(cpu::sha_ni_usable(id));
  id = all;
  id.leaf7_ebx = 0;
  EXPECT_FALSE(cpu::sha_ni_usable(id));
  id = all;
  id.leaf1_ecx &= ~cpu::kLeaf1EcxSse41;
  EXPECT_FALSE(cpu::sha_ni_usable(id));
  id = all;
  id.leaf1_ecx &= ~cpu::kLeaf1EcxSsse3;
  EXPECT_FALSE(cpu::sha_ni_usable(id));
  id = all;
  id.leaf1_edx &= ~cpu::kLeaf1EdxFxsr;
  EXPECT_FALSE(cpu::sha_ni_usable(id));
}

// SDM Vol. 3A §13.1: EM clear, MP set, TS clear; OSFXSR and OSXMMEXCPT set;
// every other bit kept.
TEST(CpuFeatures, ControlRegistersForSse) {
  const uint64_t cr0_at_entry = 0x80000001 | cpu::kCr0Em | cpu::kCr0Ts;  // PG, PE, EM, TS
  EXPECT_EQ(cpu::cr0_for_sse(cr0_at_entry), 0x80000001u | cpu::kCr0Mp);
  const uint64_t cr4_at_entry = 1u << 5;  // PAE only
  EXPECT_EQ(cpu::cr4_for_sse(cr4_at_entry), (1u << 5) | (1u << 9) | (1u << 10));
}

}  // namespace
}  // namespace limbo::sha256
