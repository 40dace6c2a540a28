// SPDX-License-Identifier: GPL-2.0-only
// Definitions of the loader contract's variables, from abi/limbo_abi.h
// LIMBO_ABI_LOADER_VARIABLES (which also checks each one's size). All live in
// .data, never .bss (kexec-tools refuses to set a symbol in a NOBITS section;
// the build's -fno-zero-initialized-in-bss keeps zero-initialised ones out of
// .bss). kexec-tools reads entry64_regs first and sets only rbx, rsi, rip and
// rsp; entry.S writes jump_back_entry from 0(%rsp).
#include "variables.h"

extern "C" {
#define LIMBO_DEFINE_VARIABLE(name, type, size, writer, initial) type name = initial;
LIMBO_ABI_LOADER_VARIABLES(LIMBO_DEFINE_VARIABLE)
#undef LIMBO_DEFINE_VARIABLE
}  // extern "C"
