// SPDX-License-Identifier: GPL-2.0-only
// Declares, for the static checker (tools/checker), the possible targets of
// the indirect calls in the function where it is used: a record in the
// non-allocated section .limbo.calltargets (never loaded, never relocated by
// kexec-tools). Only in the freestanding purgatory build; empty on the host.
#pragma once

#if __STDC_HOSTED__ == 0
// One target. The local label ties the record to the function the code ends
// up in, even after inlining.
#define LIMBO_CALL_TARGET(target)                                              \
  asm(".pushsection .limbo.calltargets,\"\",@progbits\n\t"                     \
      ".quad 1f, %c0, 0\n\t"                                                   \
      ".popsection\n1:" ::"i"(&(target)))
#else
#define LIMBO_CALL_TARGET(target) static_cast<void>(&(target))
#endif
