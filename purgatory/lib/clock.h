// Time in the purgatory: TSC ticks converted with a known frequency, and the
// frequency's measurement against the 8254 PIT when the loader did not give it.
// Reference: Intel 82C54 datasheet (23124406), "Control Word Format" and
// "Mode 0: Interrupt on Terminal Count"; IBM PC port 0x61 (system control
// port B: bit 0 gates counter 2, bit 1 speaker data, bit 5 reads OUT2).
#pragma once

#include <stdint.h>

#include "lib/reg.h"

namespace limbo::clock {

inline constexpr uint64_t kPitHz = 1193182;  // 82C54 input clock on the PC: 14.31818 MHz / 12
inline constexpr uint16_t kPitCounter2 = 0x42;
inline constexpr uint16_t kPitControl = 0x43;
inline constexpr uint16_t kSystemControlB = 0x61;

// 82C54 control word (datasheet "Control Word Format").
struct PitControlWord : reg::Register<PitControlWord, uint8_t> {
  static constexpr uint8_t kSelectCounter2 = 0b10;
  static constexpr uint8_t kAccessLowThenHigh = 0b11;
  static constexpr uint8_t kMode0 = 0b000;  // interrupt on terminal count
  LIMBO_REG_FIELD(7, 6, select_counter)
  LIMBO_REG_FIELD(5, 4, read_write)
  LIMBO_REG_FIELD(3, 1, mode)
  LIMBO_REG_BIT(0, bcd)
};

// Port 0x61 (PC/AT system control port B).
struct SystemControlB : reg::Register<SystemControlB, uint8_t> {
  LIMBO_REG_BIT(5, counter2_output)  // read only: OUT of PIT counter 2
  LIMBO_REG_BIT(1, speaker_data)
  LIMBO_REG_BIT(0, counter2_gate)
};

// Calibration interval: 10 ms of PIT input clock, rounded. Long enough for a
// <0.1% error from one PIT tick of skew, short against the switch's budget.
inline constexpr uint16_t kCalibrationPitTicks = 11932;
// Polls of port 0x61 before calibration gives up (a port read takes about
// 1 us on hardware, far less under emulation): well over 10 ms either way.
inline constexpr uint32_t kCalibrationSpinLimit = 5000000;

// TSC ticks to time. hz = 0 means unknown; conversions then answer 0.
class Clock {
 public:
  constexpr Clock() = default;
  explicit constexpr Clock(uint64_t hz) : hz_(hz) {}

  [[nodiscard]] constexpr bool known() const { return hz_ != 0; }
  [[nodiscard]] constexpr uint64_t hz() const { return hz_; }

  // Split into whole seconds and the remainder, so that no product can
  // overflow 64 bits (no 128-bit division in a freestanding build).
  [[nodiscard]] constexpr uint64_t to_us(uint64_t ticks) const {
    if (hz_ == 0) return 0;
    return ticks / hz_ * 1000000 + ticks % hz_ * 1000000 / hz_;
  }
  // Rounded up: a report of 0 ms would hide a short but real interval.
  [[nodiscard]] constexpr uint64_t to_ms_ceil(uint64_t ticks) const {
    if (hz_ == 0) return 0;
    return ticks / hz_ * 1000 + (ticks % hz_ * 1000 + hz_ - 1) / hz_;
  }

 private:
  uint64_t hz_ = 0;
};

// Measures the TSC against PIT counter 2 in mode 0: OUT2 rises when the count
// reaches zero. `read_ticks` is the TSC. Returns 0 when OUT2 never rose.
template <class PortIo, class ReadTicks>
[[nodiscard]] uint64_t calibrate_tsc_hz(PortIo& io, ReadTicks read_ticks) {
  const uint8_t saved = io.in8(kSystemControlB);
  // Gate on, speaker off: counter 2 counts and makes no sound.
  io.out8(kSystemControlB,
          SystemControlB::from_value(saved).set_counter2_gate(true).set_speaker_data(false).value);
  io.out8(kPitControl, PitControlWord{}
                           .set_select_counter(PitControlWord::kSelectCounter2)
                           .set_read_write(PitControlWord::kAccessLowThenHigh)
                           .set_mode(PitControlWord::kMode0)
                           .value);
  io.out8(kPitCounter2, static_cast<uint8_t>(kCalibrationPitTicks & 0xff));
  io.out8(kPitCounter2, static_cast<uint8_t>(kCalibrationPitTicks >> 8));
  const uint64_t start = read_ticks();
  bool expired = false;
  for (uint32_t spin = 0; spin < kCalibrationSpinLimit; ++spin) {
    if (SystemControlB::from_value(io.in8(kSystemControlB)).counter2_output()) {
      expired = true;
      break;
    }
  }
  const uint64_t end = read_ticks();
  io.out8(kSystemControlB, saved);
  if (!expired || end <= start) return 0;
  return (end - start) * kPitHz / kCalibrationPitTicks;
}

}  // namespace limbo::clock
