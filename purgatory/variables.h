// SPDX-License-Identifier: GPL-2.0-only
// The variables of the loader contract (abi/limbo_abi.h
// LIMBO_ABI_LOADER_VARIABLES), as the purgatory declares them: C linkage so
// their names are the ELF symbol names.
#pragma once

#include <stdint.h>

#include "abi/limbo_abi.h"

extern "C" {
#define LIMBO_DECLARE_VARIABLE(name, type, size, writer, initial) extern type name;
LIMBO_ABI_LOADER_VARIABLES(LIMBO_DECLARE_VARIABLE)
#undef LIMBO_DECLARE_VARIABLE
}
