// SPDX-License-Identifier: GPL-2.0-only
// Registers as small value types with named bit fields, declared high bit
// first to read like the vendor's tables (after Fuchsia's hwreg, much lighter).
// A register type only describes bits; a driver reads and writes its `value`
// through the I/O object it was given.
#pragma once

#include <stdint.h>

namespace limbo::reg {

template <class Int, int Hi, int Lo>
struct Bits {
  static_assert(Hi >= Lo && Lo >= 0 && Hi < static_cast<int>(sizeof(Int) * 8));
  static constexpr Int kMask =
      static_cast<Int>(((Hi - Lo + 1) >= static_cast<int>(sizeof(Int) * 8)
                            ? ~Int{0}
                            : static_cast<Int>((Int{1} << (Hi - Lo + 1)) - 1))
                       << Lo);
  static constexpr Int get(Int v) { return static_cast<Int>((v & kMask) >> Lo); }
  static constexpr Int set(Int v, Int field) {
    return static_cast<Int>((v & ~kMask) | ((static_cast<Int>(field << Lo)) & kMask));
  }
};

// CRTP base: `Derived` declares fields with LIMBO_REG_FIELD / LIMBO_REG_BIT.
template <class Derived, class Int>
struct Register {
  using IntType = Int;
  Int value = 0;

  static constexpr Derived from_value(Int v) {
    Derived d;
    d.value = v;
    return d;
  }
};

}  // namespace limbo::reg

// A multi-bit field [hi:lo], with a getter `name()`, a chaining `set_name(v)`
// and its mask `name_mask`, so that a register's reserved or write-1-to-clear
// mask is spelled as the fields it is made of, never as a number.
#define LIMBO_REG_FIELD(hi, lo, name)                                                      \
  static constexpr IntType name##_mask = ::limbo::reg::Bits<IntType, hi, lo>::kMask;         \
  constexpr IntType name() const { return ::limbo::reg::Bits<IntType, hi, lo>::get(value); } \
  constexpr auto& set_##name(IntType field) {                                              \
    value = ::limbo::reg::Bits<IntType, hi, lo>::set(value, field);                        \
    return *this;                                                                          \
  }

// A single bit, as a bool (and `name_mask`).
#define LIMBO_REG_BIT(bit, name)                                                              \
  static constexpr IntType name##_mask = ::limbo::reg::Bits<IntType, bit, bit>::kMask;         \
  constexpr bool name() const { return ::limbo::reg::Bits<IntType, bit, bit>::get(value) != 0; } \
  constexpr auto& set_##name(bool on) {                                                       \
    value = ::limbo::reg::Bits<IntType, bit, bit>::set(value, on ? 1 : 0);                    \
    return *this;                                                                             \
  }

// A field whose values are an enum (`Enum`'s underlying type holds the
// field): the getter returns the enum, which may hold a value the enum does
// not name (a reserved encoding); the caller decides what that means.
#define LIMBO_REG_ENUM_FIELD(hi, lo, Enum, name)                                                  \
  static constexpr IntType name##_mask = ::limbo::reg::Bits<IntType, hi, lo>::kMask;             \
  constexpr Enum name() const { return static_cast<Enum>(::limbo::reg::Bits<IntType, hi, lo>::get(value)); } \
  constexpr auto& set_##name(Enum field) {                                                      \
    value = ::limbo::reg::Bits<IntType, hi, lo>::set(value, static_cast<IntType>(field));       \
    return *this;                                                                               \
  }
