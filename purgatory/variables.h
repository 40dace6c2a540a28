// SPDX-License-Identifier: GPL-2.0-only
// The variables of the loader contract (abi/limbo_abi.h kSymbols), as the
// purgatory declares them: C linkage so their names are the ELF symbol names.
#pragma once

#include <stdint.h>

#include "abi/limbo_abi.h"

extern "C" {
extern limbo::abi::Entry64Regs entry64_regs;
extern limbo::abi::Sha256Region sha256_regions[limbo::abi::kSha256RegionCount];
extern uint8_t sha256_digest[limbo::abi::kSha256DigestSize];
extern int32_t skip_checks;
extern uint8_t panic_kernel;
extern uint8_t reset_vga;
extern uint8_t legacy_pic;
extern uint8_t console_vga;
extern uint8_t console_serial;
extern uint16_t serial_base;
extern uint32_t serial_baud;
extern uint64_t backup_start;
extern uint64_t backup_src_start;
extern uint64_t backup_src_size;
extern uint64_t cmdline_end;
extern uint64_t jump_back_entry;
extern limbo::abi::Config limbo_config;
}
