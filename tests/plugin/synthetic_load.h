// SPDX-License-Identifier: GPL-2.0-only
// A kexec_load segment list built the way kexec-tools 2.0.25 builds one for
// bzImage64, by the tests' own code: the stock purgatory laid out and
// relocated at an address (RawElf), its variables written, a kernel-like,
// a boot-params-like and an initrd-like segment, their digest and regions.
#pragma once

#include <openssl/evp.h>

#include <random>

#include "abi/limbo_abi.h"
#include "kexec/segment.h"
#include "raw_elf.h"

namespace limbo::test {

struct SyntheticLoad {
  RawElf stock;
  std::vector<std::vector<uint8_t>> buffers;  // contents of each segment
  std::vector<plugin::kexec::Segment> segments;
  size_t purgatory_index = 1;
  uint64_t entry = 0;
  abi::Entry64Regs regs{};
  std::array<abi::Sha256Region, abi::kSha256RegionCount> regions{};
  std::array<uint8_t, 32> digest{};
  uint64_t cmdline_end = 0;

  static constexpr uint64_t kKernel = 0x1000000, kSetup = 0x2000000, kInitrd = 0x3000000, kPurgatory = 0x3800000;

  template <typename T>
  void set(std::vector<uint8_t>& image, const std::string& name, const T& value) {
    std::memcpy(image.data() + stock.image_offset(name), &value, sizeof(T));
  }

  explicit SyntheticLoad(RawElf stock_object, bool crash = true) : stock(std::move(stock_object)) {
    std::mt19937_64 random(42);
    auto random_bytes = [&](size_t n) {
      std::vector<uint8_t> v(n);
      for (auto& b : v) b = static_cast<uint8_t>(random());
      return v;
    };
    const auto layout = stock.layout();
    const uint64_t purgatory_memsz = (layout.bufsz + layout.bss_pad + layout.bsssz + 4095) / 4096 * 4096;
    std::vector<uint8_t> kernel = random_bytes(0x5123);
    std::vector<uint8_t> setup(0x1100, 0);
    const char cmdline[] = "console=ttyS0 panic=1";
    std::memcpy(setup.data() + 0x1000, cmdline, sizeof(cmdline));
    std::vector<uint8_t> initrd = random_bytes(0x3000);
    std::vector<uint8_t> purgatory = stock.load_at(kPurgatory);
    buffers = {kernel, purgatory, setup, initrd};
    const uint64_t mems[] = {kKernel, kPurgatory, kSetup, kInitrd};
    const uint64_t memszs[] = {0x8000, purgatory_memsz, 0x2000, 0x3000};

    // What bzImage64_load and arch_update_purgatory write.
    regs.rbx = 0;
    regs.rsi = kSetup;
    regs.rip = kKernel + 0x200;
    regs.rsp = kPurgatory + stock.image_offset("stack_end");
    cmdline_end = kSetup + 0x1000 + sizeof(cmdline) - 1;
    set(purgatory, "entry64_regs", regs);
    set(purgatory, "cmdline_end", cmdline_end);
    set(purgatory, "reset_vga", uint8_t{0});
    set(purgatory, "serial_base", uint16_t{0x3f8});
    set(purgatory, "serial_baud", uint32_t{115200});
    set(purgatory, "console_vga", uint8_t{0});
    set(purgatory, "console_serial", uint8_t{1});
    set(purgatory, "backup_src_start", uint64_t{0});
    set(purgatory, "backup_src_size", uint64_t{0xa0000});
    if (crash) set(purgatory, "backup_start", uint64_t{0x3900000});
    set(purgatory, "panic_kernel", static_cast<uint8_t>(crash ? 1 : 0));
    buffers[1] = purgatory;

    // update_purgatory: hash every other segment, bytes then zeros.
    std::vector<uint8_t> hashed;
    size_t region = 0;
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (i == purgatory_index) continue;
      hashed.insert(hashed.end(), buffers[i].begin(), buffers[i].end());
      hashed.resize(hashed.size() + (memszs[i] - buffers[i].size()), 0);
      regions[region++] = {mems[i], memszs[i]};
    }
    unsigned int length = 0;
    EVP_Digest(hashed.data(), hashed.size(), digest.data(), &length, EVP_sha256(), nullptr);
    set(buffers[1], "sha256_regions", regions);
    set(buffers[1], "sha256_digest", digest);

    entry = kPurgatory + layout.offsets[stock.section_index(".text")] + stock.ehdr().e_entry;
    for (size_t i = 0; i < buffers.size(); ++i) {
      segments.push_back({buffers[i].data(), buffers[i].size(), mems[i], memszs[i]});
    }
  }
};

}  // namespace limbo::test
