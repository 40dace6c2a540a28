// SPDX-License-Identifier: GPL-2.0-only
// The zero-fill scan: proves that the tail of a segment past its content is
// still all zero, at memory speed, instead of hashing it. Same
// integrity promise as hashing: any changed byte is found, with its offset.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace limbo::verify {

// Offset of the first non-zero byte of [data, data + length), or `length`
// when every byte is zero. General registers only (the purgatory's flags).
[[nodiscard]] size_t find_nonzero(const uint8_t* data, size_t length);

}  // namespace limbo::verify
