// SPDX-License-Identifier: GPL-2.0-only
// SHA-256 (purgatory/lib/sha256.cc) against FIPS 180-4 / NIST CAVP example
// vectors and against OpenSSL on random inputs, incremental updates included.
#include "lib/sha256.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <string>
#include <vector>

namespace limbo::sha256 {
namespace {

std::string to_hex(const Digest& d) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d.bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 0xf]);
  }
  return s;
}

std::string hash_hex(const std::string& message) {
  return to_hex(hash(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
}

Digest openssl_sha256(const uint8_t* data, size_t length) {
  Digest d{};
  unsigned int out_length = 0;
  EXPECT_EQ(EVP_Digest(data, length, d.bytes, &out_length, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(out_length, kDigestSize);
  return d;
}

// FIPS 180-4 examples (NIST "SHA256.pdf" example values; CAVP SHA256ShortMsg).
TEST(Sha256Nist, EmptyMessage) {
  EXPECT_EQ(hash_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Nist, Abc) {
  EXPECT_EQ(hash_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Nist, TwoBlockMessage448Bits) {
  EXPECT_EQ(hash_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Nist, Message896Bits) {
  EXPECT_EQ(hash_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
                     "lmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256Nist, OneMillionA) {
  EXPECT_EQ(hash_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Nist, OneMillionAFedOneByteAtATime) {
  Hasher hasher;
  const uint8_t a = 'a';
  for (int i = 0; i < 1000000; ++i) hasher.update(&a, 1);
  EXPECT_EQ(to_hex(hasher.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t length) {
  std::vector<uint8_t> v(length);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST(Sha256VersusOpenssl, EveryLengthUpTo1024) {
  std::mt19937_64 rng(20260101);
  for (size_t length = 0; length <= 1024; ++length) {
    const auto data = random_bytes(rng, length);
    EXPECT_EQ(to_hex(hash(data.data(), data.size())), to_hex(openssl_sha256(data.data(), data.size())))
        << "length " << length;
  }
}

TEST(Sha256VersusOpenssl, EveryLengthUpTo1024SplitAtRandomPoints) {
  std::mt19937_64 rng(42);
  for (size_t length = 0; length <= 1024; ++length) {
    const auto data = random_bytes(rng, length);
    Hasher hasher;
    size_t done = 0;
    while (done < length) {
      const size_t piece = std::uniform_int_distribution<size_t>(0, length - done)(rng);
      hasher.update(data.data() + done, piece);
      done += piece;
    }
    EXPECT_EQ(to_hex(hasher.finish()), to_hex(openssl_sha256(data.data(), data.size())))
        << "length " << length;
  }
}

TEST(Sha256VersusOpenssl, SeveralMegabytesInOneAndManyUpdates) {
  std::mt19937_64 rng(7);
  for (size_t length : {size_t{3} << 20, (size_t{5} << 20) + 17, (size_t{8} << 20) - 1}) {
    const auto data = random_bytes(rng, length);
    const std::string expected = to_hex(openssl_sha256(data.data(), data.size()));
    EXPECT_EQ(to_hex(hash(data.data(), data.size())), expected) << "length " << length;

    Hasher hasher;
    size_t done = 0;
    while (done < length) {
      size_t piece = std::uniform_int_distribution<size_t>(0, 300000)(rng);
      if (piece > length - done) piece = length - done;
      hasher.update(data.data() + done, piece);
      done += piece;
    }
    EXPECT_EQ(to_hex(hasher.finish()), expected) << "length " << length << " in pieces";
  }
}

// All-zero blocks take their own path (no loads, no schedule): zero fill
// alone, data then zero fill (a kexec segment), zeros with single bytes set
// at every offset of a block, and zero runs split at random points.
TEST(Sha256ZeroBlocks, ZeroFillMatchesOpenssl) {
  for (size_t length : {size_t{64}, size_t{128}, size_t{4096}, size_t{1} << 20, (size_t{1} << 20) + 63}) {
    const std::vector<uint8_t> zeros(length, 0);
    EXPECT_EQ(to_hex(hash(zeros.data(), zeros.size())), to_hex(openssl_sha256(zeros.data(), zeros.size())))
        << "length " << length;
  }
}

TEST(Sha256ZeroBlocks, DataThenZeroFillLikeAKexecSegment) {
  std::mt19937_64 rng(99);
  std::vector<uint8_t> segment(3 << 20, 0);
  for (size_t i = 0; i < 777777; ++i) segment[i] = static_cast<uint8_t>(rng());
  EXPECT_EQ(to_hex(hash(segment.data(), segment.size())), to_hex(openssl_sha256(segment.data(), segment.size())));
}

TEST(Sha256ZeroBlocks, OneNonZeroByteAnywhereInABlockIsSeen) {
  std::vector<uint8_t> data(256, 0);
  const std::string all_zero = to_hex(hash(data.data(), data.size()));
  for (size_t i = 64; i < 128; ++i) {
    data[i] = 1;
    const std::string got = to_hex(hash(data.data(), data.size()));
    EXPECT_EQ(got, to_hex(openssl_sha256(data.data(), data.size()))) << "byte " << i;
    EXPECT_NE(got, all_zero) << "byte " << i;
    data[i] = 0;
  }
}

TEST(Sha256ZeroBlocks, SparseDataSplitAtRandomPoints) {
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 50; ++round) {
    std::vector<uint8_t> data(std::uniform_int_distribution<size_t>(0, 20000)(rng), 0);
    for (int k = 0; k < 5 && !data.empty(); ++k)
      data[std::uniform_int_distribution<size_t>(0, data.size() - 1)(rng)] = static_cast<uint8_t>(rng() | 1);
    Hasher hasher;
    size_t done = 0;
    while (done < data.size()) {
      const size_t piece = std::uniform_int_distribution<size_t>(0, data.size() - done)(rng);
      hasher.update(data.data() + done, piece);
      done += piece;
    }
    EXPECT_EQ(to_hex(hasher.finish()), to_hex(openssl_sha256(data.data(), data.size())))
        << "length " << data.size();
  }
}

// The engine interface: every block goes through the injected function.
size_t g_blocks_seen = 0;
void counting_engine(uint32_t state[8], const uint8_t* blocks, size_t count) {
  g_blocks_seen += count;
  compress_portable(state, blocks, count);
}

TEST(Sha256Engine, AllBlocksGoThroughTheInjectedEngine) {
  g_blocks_seen = 0;
  const std::string message(1000, 'x');  // 1000 bytes + padding = 16 blocks
  const Digest d = hash(reinterpret_cast<const uint8_t*>(message.data()), message.size(), counting_engine);
  EXPECT_EQ(g_blocks_seen, 16u);
  EXPECT_EQ(to_hex(d), hash_hex(message));
}

}  // namespace
}  // namespace limbo::sha256
