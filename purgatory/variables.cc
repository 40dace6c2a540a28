// SPDX-License-Identifier: GPL-2.0-only
// Definitions of the loader contract's variables. All live in .data, never
// .bss (kexec-tools refuses to set a symbol in a NOBITS section; the build's
// -fno-zero-initialized-in-bss keeps zero-initialised ones out of .bss), and
// each one's size is checked against the ABI header's table here.
#include "variables.h"

namespace {

constexpr bool same_name(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}

// The size limbo_abi.h kSymbols gives `name`; 0 if the table lacks it.
constexpr uint64_t abi_size(const char* name) {
  for (const limbo::abi::Symbol& symbol : limbo::abi::kSymbols) {
    if (same_name(symbol.name, name)) return symbol.size;
  }
  return 0;
}

}  // namespace

#define LIMBO_ABI_CHECK(name) \
  static_assert(sizeof(name) == abi_size(#name), #name " differs in size from limbo_abi.h kSymbols")

extern "C" {

// kexec-tools reads entry64_regs first and sets only rbx, rsi, rip and rsp.
limbo::abi::Entry64Regs entry64_regs = {};
limbo::abi::Sha256Region sha256_regions[limbo::abi::kSha256RegionCount] = {};
uint8_t sha256_digest[limbo::abi::kSha256DigestSize] = {};
int32_t skip_checks = 0;
uint8_t panic_kernel = 0;
uint8_t reset_vga = 0;
uint8_t legacy_pic = 0;
uint8_t console_vga = 0;
uint8_t console_serial = 0;
uint16_t serial_base = 0x3f8;  // COM1, kexec-tools' default
uint32_t serial_baud = 0;
uint64_t backup_start = 0;
uint64_t backup_src_start = 0;
uint64_t backup_src_size = 0;
uint64_t cmdline_end = 0;
uint64_t jump_back_entry = 0;  // written by entry.S from 0(%rsp)

// A valid block with the TSC frequency unknown: a stock kexec that knows
// nothing of Limbo leaves it so, and the purgatory calibrates the TSC itself.
limbo::abi::Config limbo_config = {
    .magic = limbo::abi::kConfigMagic,
    .version = limbo::abi::kConfigVersion,
    .size = sizeof(limbo::abi::Config),
    .flags = 0,
    .reserved0 = 0,
    .tsc_hz = 0,
    .on_corruption = 0,
    .segment_check_count = 0,
    .segments = {},
    .pcie = {},
    .reset_register = {},
    .on_fault = 0,  // abi::OnFault::kReboot
    .reserved_fault = 0,
    .pcie_rules = {},
};

}  // extern "C"

LIMBO_ABI_CHECK(entry64_regs);
LIMBO_ABI_CHECK(sha256_regions);
LIMBO_ABI_CHECK(sha256_digest);
LIMBO_ABI_CHECK(skip_checks);
LIMBO_ABI_CHECK(panic_kernel);
LIMBO_ABI_CHECK(reset_vga);
LIMBO_ABI_CHECK(legacy_pic);
LIMBO_ABI_CHECK(console_vga);
LIMBO_ABI_CHECK(console_serial);
LIMBO_ABI_CHECK(serial_base);
LIMBO_ABI_CHECK(serial_baud);
LIMBO_ABI_CHECK(backup_start);
LIMBO_ABI_CHECK(backup_src_start);
LIMBO_ABI_CHECK(backup_src_size);
LIMBO_ABI_CHECK(cmdline_end);
LIMBO_ABI_CHECK(jump_back_entry);
LIMBO_ABI_CHECK(limbo_config);
