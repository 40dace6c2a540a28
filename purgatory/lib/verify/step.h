// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's verification step (flow.h step 3): choose the SHA-256
// engine, then either check each segment against its own digest and scan its
// zero fill (when Limbo's config block describes the segments), or hash every
// region in full against kexec-tools' sha256_digest (stock-compatible). On a
// mismatch, name each damaged segment on the console.
//
// What it asks of the machine: the concept VerifyMachine below.
#pragma once

#include <concepts>
#include <stddef.h>
#include <stdint.h>

#include "abi/limbo_abi.h"
#include "lib/clock.h"
#include "lib/format.h"
#include "lib/sha256.h"
#include "lib/verify/segments.h"

namespace limbo::verify {

// The console (put(char)), the TSC, identity-mapped physical memory, and the
// SHA-256 engine, with sha256_release() called once, on every path, when
// hashing is over.
template <class T>
concept VerifyMachine = requires(T& machine, uint64_t address, char c) {
  machine.console().put(c);
  { machine.read_tsc() } -> std::same_as<uint64_t>;
  { machine.phys(address) } -> std::same_as<uint8_t*>;
  { machine.sha256_engine() } -> std::same_as<sha256::BlockFunction>;
  machine.sha256_release();
};

struct FullHash {
  bool match;
  size_t regions;  // regions with a non-zero length
  uint64_t bytes;
  sha256::Digest computed;
};

// kexec-tools' check: the digest of every region in table order (a region of
// length 0 adds nothing, exactly as in the stock loop over all 16), in
// chunks of kChunkBytes with `between()` after each (segments.h).
template <class Machine, class Between>
[[nodiscard]] FullHash hash_in_full(Machine& machine, const abi::Sha256Region (&regions)[abi::kSha256RegionCount],
                                    const uint8_t (&digest)[abi::kSha256DigestSize], sha256::BlockFunction compress,
                                    Between& between) {
  sha256::Hasher hasher(compress);
  FullHash result{false, 0, 0, {}};
  for (const abi::Sha256Region& region : regions) {
    if (region.len == 0) continue;
    const uint8_t* base = machine.phys(region.start);
    for (uint64_t at = 0; at < region.len;) {
      const uint64_t n = region.len - at < kChunkBytes ? region.len - at : kChunkBytes;
      hasher.update(base + at, n);
      at += n;
      between();
    }
    ++result.regions;
    result.bytes += region.len;
  }
  result.computed = hasher.finish();
  result.match = true;
  for (size_t i = 0; i < abi::kSha256DigestSize; ++i) {
    if (result.computed.bytes[i] != digest[i]) result.match = false;
  }
  return result;
}

// verify_image with the engine chosen: every outcome below.
template <class Machine, class Between>
[[nodiscard]] bool verify_with(Machine& machine, const abi::Sha256Region (&regions)[abi::kSha256RegionCount],
                               const uint8_t (&digest)[abi::kSha256DigestSize], const abi::Config* config,
                               const clock::Clock& clk, sha256::BlockFunction compress, uint64_t start,
                               Between& between) {
  auto& con = machine.console();
  fmt::println(con, "sha256: ", sha256::engine_name(compress));

  const Plan plan = config ? check_plan(regions, *config) : Plan::kNotProvided;
  if (plan != Plan::kPerSegment) {
    if (plan != Plan::kNotProvided) fmt::println(con, "sha256: ", plan_text(plan), "; hashing every region in full");
    const FullHash full = hash_in_full(machine, regions, digest, compress, between);
    const uint64_t took_us = clk.to_us(machine.read_tsc() - start);
    if (full.match) {
      fmt::println(con, "sha256: ok (", fmt::dec(full.regions), " regions, ", fmt::dec(full.bytes), " bytes, ",
                   fmt::dec(took_us), " us)");
      return true;
    }
    fmt::println(con, "sha256: MISMATCH");
    fmt::println(con, "computed ", fmt::hex_bytes(full.computed.bytes, sha256::kDigestSize));
    fmt::println(con, "expected ", fmt::hex_bytes(digest, abi::kSha256DigestSize));
    for (size_t i = 0; i < abi::kSha256RegionCount; ++i) {
      if (regions[i].len == 0) continue;
      fmt::println(con, "region ", fmt::dec(i), " start 0x", fmt::hex(regions[i].start), " len 0x",
                   fmt::hex(regions[i].len));
    }
    return false;
  }

  SegmentResult results[abi::kSha256RegionCount];
  const size_t count = config->segment_check_count;
  size_t damaged = 0;
  uint64_t hashed = 0, scanned = 0;
  for (size_t i = 0; i < count; ++i) {
    results[i] = check_segment_chunked(machine.phys(regions[i].start), regions[i].len, config->segments[i], compress,
                                       between);
    hashed += config->segments[i].content_len;
    scanned += regions[i].len - config->segments[i].content_len;
    if (results[i].damaged()) ++damaged;
  }
  const uint64_t took_us = clk.to_us(machine.read_tsc() - start);
  if (damaged == 0) {
    fmt::println(con, "sha256: ok (", fmt::dec(count), " regions, ", fmt::dec(hashed + scanned), " bytes: ",
                 fmt::dec(hashed), " hashed, ", fmt::dec(scanned), " zero fill scanned, ", fmt::dec(took_us), " us)");
    // Each segment on the record (the capture kernel's
    // limbo-kexec --report lists them from the log node).
    for (size_t i = 0; i < count; ++i) {
      fmt::println(con, "sha256: segment ", fmt::dec(i), " (", role_name(config->segments[i].role), ") at 0x",
                   fmt::hex(regions[i].start), " size 0x", fmt::hex(regions[i].len), ", content 0x",
                   fmt::hex(config->segments[i].content_len), " bytes: ok");
    }
    return true;
  }
  fmt::println(con, "sha256: MISMATCH in ", fmt::dec(damaged), " of ", fmt::dec(count), " segments");
  for (size_t i = 0; i < count; ++i) {
    if (!results[i].damaged()) continue;
    const abi::SegmentCheck& check = config->segments[i];
    fmt::println(con, "damaged: segment ", fmt::dec(i), " (", role_name(check.role), ") at 0x",
                 fmt::hex(regions[i].start), " size 0x", fmt::hex(regions[i].len), ", content 0x",
                 fmt::hex(check.content_len), " bytes");
    if (results[i].content_damaged) {
      fmt::println(con, "computed ", fmt::hex_bytes(results[i].computed.bytes, sha256::kDigestSize));
      fmt::println(con, "expected ", fmt::hex_bytes(check.digest, sha256::kDigestSize));
    }
    if (results[i].fill_damaged) {
      fmt::println(con, "zero fill changed: first non-zero byte at offset 0x", fmt::hex(results[i].first_changed),
                   " (address 0x", fmt::hex(regions[i].start + results[i].first_changed), ")");
    }
  }
  return false;
}

// Returns true when the image is intact. `config` is null when the block was
// refused (then: full hash). Prints the engine, the outcome and its time.
// The engine is given back (SSE switched off again after SHA-NI) before the
// result is: nothing after verification runs SIMD code. `between()` runs
// after each chunk of at most kChunkBytes hashed or scanned (the
// PCIe delay clock keeps counting while the devices settle).
template <VerifyMachine Machine, class Between>
[[nodiscard]] bool verify_image(Machine& machine, const abi::Sha256Region (&regions)[abi::kSha256RegionCount],
                                const uint8_t (&digest)[abi::kSha256DigestSize], const abi::Config* config,
                                const clock::Clock& clk, Between& between) {
  const uint64_t start = machine.read_tsc();
  const sha256::BlockFunction compress = machine.sha256_engine();
  const bool intact = verify_with(machine, regions, digest, config, clk, compress, start, between);
  machine.sha256_release();
  return intact;
}

template <VerifyMachine Machine>
[[nodiscard]] bool verify_image(Machine& machine, const abi::Sha256Region (&regions)[abi::kSha256RegionCount],
                                const uint8_t (&digest)[abi::kSha256DigestSize], const abi::Config* config,
                                const clock::Clock& clk) {
  auto nothing = [] {};
  return verify_image(machine, regions, digest, config, clk, nothing);
}

}  // namespace limbo::verify
