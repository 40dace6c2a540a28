// SPDX-License-Identifier: GPL-2.0-only
// Time for the reset sequence's polled delays: a template parameter. In the
// purgatory the calibrated TSC (or the PIT), in tests a fake clock that
// advances on every read. Every wait in pcie/ has a deadline on this clock.
#pragma once

#include <concepts>
#include <stdint.h>

namespace limbo::pcie {

// now_us(): microseconds since any fixed origin, monotonic, and advancing (a
// clock that stops would turn every deadline into a hang: the backend must
// guarantee progress). relax(): called once per poll round (a `pause`, or
// nothing).
template <class T>
concept Clock = requires(T& clock) {
  { clock.now_us() } -> std::same_as<uint64_t>;
  { clock.relax() } -> std::same_as<void>;
};

// Waits until now_us() >= deadline_us. Returns the time it saw last.
template <Clock C>
uint64_t wait_until(C& clock, uint64_t deadline_us) {
  uint64_t now = clock.now_us();
  while (now < deadline_us) {
    clock.relax();
    now = clock.now_us();
  }
  return now;
}

}  // namespace limbo::pcie
