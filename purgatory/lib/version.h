// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's version, printed in its banner. LIMBO_VERSION comes from the
// top Makefile's VERSION (purgatory/purgatory.mk and the tests pass it).
#pragma once

namespace limbo {

#ifndef LIMBO_VERSION
#error "LIMBO_VERSION must be defined by the build (the top Makefile's VERSION)"
#endif
inline constexpr char kVersion[] = LIMBO_VERSION;

}  // namespace limbo
