// SPDX-License-Identifier: GPL-2.0-only
// Force-included into every purgatory translation unit (see the Makefile):
// every symbol gets hidden visibility, so that -fpie code reaches globals with
// RIP-relative PC32 relocations instead of GOT loads (R_X86_64_REX_GOTPCRELX),
// which the kexec-tools loader does not apply. Binding stays STB_GLOBAL.
#pragma GCC visibility push(hidden)
