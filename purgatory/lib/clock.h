// SPDX-License-Identifier: GPL-2.0-only
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

// ---- The clock of the PCIe reset's polled delays ----------------------
//
// The TSC measures time only when its rate is invariant (Intel SDM Vol. 3B
// §18.17.1; CPUID 8000_0007h EDX[8]) and its frequency is right. The
// plugin's measurement (limbo_config.tsc_hz) is checked against PIT counter 2;
// when the TSC is not invariant, or the two disagree by more than
// kTscTolerancePermille, the delays run on the PIT itself.

// 1%: the plugin's measurement and the 10 ms PIT calibration are each good to
// about 0.1%; anything wider is a wrong frequency, not noise.
inline constexpr uint64_t kTscTolerancePermille = 10;

enum class DelaySource : uint8_t { kTsc, kPit, kNone };
enum class DelayReason : uint8_t {
  kTscAgrees,        // invariant TSC, the plugin's frequency within tolerance of the PIT's
  kTscCalibrated,    // invariant TSC, no frequency from the plugin: the PIT-measured one
  kTscUnchecked,     // invariant TSC, the PIT did not count: the plugin's frequency unchecked
  kTscNotInvariant,  // the PIT, because the TSC rate may change
  kTscDisagrees,     // the PIT, because the plugin's frequency is off
  kNoClock,          // neither: no delay can be timed
  kTscMeasuredLater, // overlap: the PIT first, the invariant TSC measured against it while the devices settle
};

[[nodiscard]] constexpr const char* delay_reason_text(DelayReason r) {
  switch (r) {
    case DelayReason::kTscAgrees: return "invariant tsc agrees with the pit";
    case DelayReason::kTscCalibrated: return "invariant tsc, frequency measured against the pit";
    case DelayReason::kTscUnchecked: return "invariant tsc, pit not counting: frequency unchecked";
    case DelayReason::kTscNotInvariant: return "tsc not invariant";
    case DelayReason::kTscDisagrees: return "tsc frequency disagrees with the pit";
    case DelayReason::kNoClock: return "no tsc frequency and the pit does not count";
    case DelayReason::kTscMeasuredLater: return "invariant tsc, measured against the pit while the devices settle";
  }
  return "?";
}

struct DelayChoice {
  DelaySource source;
  DelayReason reason;
  uint64_t tsc_hz;  // when source is kTsc
};

// `config_hz`: the plugin's TSC frequency (0 = unknown); `pit_hz`: the TSC
// frequency measured against the PIT (0 = the PIT never expired).
[[nodiscard]] constexpr DelayChoice choose_delay_clock(bool tsc_invariant, uint64_t config_hz, uint64_t pit_hz) {
  if (pit_hz == 0) {
    if (tsc_invariant && config_hz != 0) return {DelaySource::kTsc, DelayReason::kTscUnchecked, config_hz};
    return {DelaySource::kNone, DelayReason::kNoClock, 0};
  }
  if (!tsc_invariant) return {DelaySource::kPit, DelayReason::kTscNotInvariant, 0};
  if (config_hz == 0) return {DelaySource::kTsc, DelayReason::kTscCalibrated, pit_hz};
  const uint64_t diff = config_hz > pit_hz ? config_hz - pit_hz : pit_hz - config_hz;
  // diff / pit_hz > tolerance, without overflow for any 64-bit frequency.
  if (diff > pit_hz / 1000 * kTscTolerancePermille) return {DelaySource::kPit, DelayReason::kTscDisagrees, 0};
  return {DelaySource::kTsc, DelayReason::kTscAgrees, config_hz};
}

// PIT counter 2 as a free-running time source: mode 2 (rate generator) with
// the largest count, 65,536 input clocks (55 ms) per turn, read by latching
// (82C54 datasheet "Counter Latch Command"). now_us() must run at least once
// per turn: a longer gap loses whole turns, which only makes waits longer.
// A counter that stops changing is taken as stopped after kPitStuckReads
// reads; time then advances kPitStuckStepUs per read so that every wait
// still ends (and stalled() says the times are not real).
inline constexpr uint8_t kPitMode2 = 0b010;
inline constexpr uint8_t kAccessLatch = 0b00;
inline constexpr uint32_t kPitStuckReads = 100000;  // ~84 ms of 0.84 us PIT ticks, read far faster
inline constexpr uint64_t kPitStuckStepUs = 1000;

template <class PortIo>
class PitClock {
 public:
  explicit PitClock(PortIo& io) : io_(io) {}

  // Gate on, speaker off; counter 2 in mode 2 from 65,536.
  void start() {
    io_.out8(kSystemControlB, SystemControlB::from_value(io_.in8(kSystemControlB))
                                  .set_counter2_gate(true)
                                  .set_speaker_data(false)
                                  .value);
    io_.out8(kPitControl, PitControlWord{}
                              .set_select_counter(PitControlWord::kSelectCounter2)
                              .set_read_write(PitControlWord::kAccessLowThenHigh)
                              .set_mode(kPitMode2)
                              .value);
    io_.out8(kPitCounter2, 0);  // 0 = 65,536
    io_.out8(kPitCounter2, 0);
    last_ = read_counter();
  }

  [[nodiscard]] uint64_t now_us() {
    const uint16_t count = read_counter();
    if (count == last_) {
      if (++same_reads_ >= kPitStuckReads) stalled_ = true;
    } else {
      same_reads_ = 0;
      // Counts down and wraps from 1 to 65,536 (read as 0): the 16-bit
      // difference is the elapsed input clocks.
      ticks_ += static_cast<uint16_t>(last_ - count);
      last_ = count;
    }
    if (stalled_) stalled_us_ += kPitStuckStepUs;
    return ticks_ / kPitHz * 1000000 + ticks_ % kPitHz * 1000000 / kPitHz + stalled_us_;
  }
  void relax() {}
  [[nodiscard]] bool stalled() const { return stalled_; }
  [[nodiscard]] bool counted() const { return ticks_ != 0; }
  // Input clocks counted so far (as of the last now_us()).
  [[nodiscard]] uint64_t ticks() const { return ticks_; }

 private:
  uint16_t read_counter() {
    io_.out8(kPitControl, PitControlWord{}
                              .set_select_counter(PitControlWord::kSelectCounter2)
                              .set_read_write(kAccessLatch)
                              .value);
    const uint8_t low = io_.in8(kPitCounter2);
    const uint8_t high = io_.in8(kPitCounter2);
    return static_cast<uint16_t>(high << 8 | low);
  }

  PortIo& io_;
  uint16_t last_ = 0;
  uint64_t ticks_ = 0;
  uint32_t same_reads_ = 0;
  bool stalled_ = false;
  uint64_t stalled_us_ = 0;
};

// Whether PIT counter 2 counts: started as PitClock does, then read until
// its count changes (within a microsecond on a PC), at most kPitStuckReads
// times. Leaves it running in mode 2.
template <class PortIo>
[[nodiscard]] bool pit_counts(PortIo& io) {
  PitClock<PortIo> pit(io);
  pit.start();
  for (uint32_t read = 0; read < kPitStuckReads; ++read) {
    (void)pit.now_us();
    if (pit.counted()) return true;
  }
  return false;
}

// The delay clock the PCIe sequence runs on: the TSC or the PIT, chosen once
// (choose_delay_clock), or (--pcie-order=overlap with an invariant
// TSC) the PIT first and the TSC from the moment it has been measured
// against the PIT (measure_tsc_later): the 10 ms calibration then runs
// inside the devices' settle time instead of before their reset. `ReadTicks`
// reads the TSC.
template <class PortIo, class ReadTicks>
class DelayClock {
 public:
  DelayClock(PortIo& io, ReadTicks read_ticks, DelayChoice choice) : pit_(io), read_ticks_(read_ticks) {
    select(choice);
  }
  // No source yet (select() chooses): for an owner that learns the choice later.
  DelayClock(PortIo& io, ReadTicks read_ticks)
      : pit_(io), read_ticks_(read_ticks), choice_{DelaySource::kNone, DelayReason::kNoClock, 0} {}

  void select(DelayChoice choice) {
    choice_ = choice;
    tsc_ = Clock(choice.tsc_hz);
    if (choice_.source == DelaySource::kPit) pit_.start();
    origin_ = read_ticks_();
    base_us_ = 0;
    measuring_ = false;
  }

  // On the PIT (select()ed before), an invariant TSC: from the next read
  // on, the TSC is counted against the PIT; the first read at least
  // kCalibrationPitTicks (10 ms) of PIT later measures its frequency and
  // chooses as choose_delay_clock does with `config_hz`. When the TSC is
  // chosen, the clock goes on from the PIT's time at that read, so it stays
  // monotonic and every deadline counted before still holds.
  void measure_tsc_later(uint64_t config_hz) {
    if (choice_.source != DelaySource::kPit) return;
    config_hz_ = config_hz;
    measuring_ = true;
    measure_from_ticks_ = ~uint64_t{0};  // the next read starts the count
  }

  [[nodiscard]] uint64_t now_us() {
    if (choice_.source != DelaySource::kPit) return base_us_ + tsc_.to_us(read_ticks_() - origin_);
    const uint64_t us = pit_.now_us();
    if (measuring_) measure(us);
    return us;
  }
  void relax() {}
  [[nodiscard]] const DelayChoice& choice() const { return choice_; }
  [[nodiscard]] bool stalled() const { return choice_.source == DelaySource::kPit && pit_.stalled(); }
  // measure_tsc_later's result: 0 while not measured (yet), else the TSC
  // frequency against the PIT; what was chosen with it; when (clock us).
  [[nodiscard]] uint64_t measured_hz() const { return measured_hz_; }
  [[nodiscard]] const DelayChoice& measured_choice() const { return measured_choice_; }
  [[nodiscard]] uint64_t switched_at_us() const { return switched_at_us_; }

 private:
  void measure(uint64_t us) {
    const uint64_t tsc = read_ticks_();
    if (measure_from_ticks_ == ~uint64_t{0}) {
      measure_from_ticks_ = pit_.ticks();
      measure_from_tsc_ = tsc;
      return;
    }
    const uint64_t pit_ticks = pit_.ticks() - measure_from_ticks_;
    if (pit_ticks < kCalibrationPitTicks) return;
    measuring_ = false;
    if (pit_.stalled() || tsc <= measure_from_tsc_) return;  // no measurement: the PIT stays
    measured_hz_ = (tsc - measure_from_tsc_) * kPitHz / pit_ticks;
    measured_choice_ = choose_delay_clock(true, config_hz_, measured_hz_);
    if (measured_choice_.source != DelaySource::kTsc) return;
    choice_ = measured_choice_;
    tsc_ = Clock(choice_.tsc_hz);
    origin_ = tsc;
    base_us_ = us;
    switched_at_us_ = us;
  }

  PitClock<PortIo> pit_;
  ReadTicks read_ticks_;
  DelayChoice choice_;
  Clock tsc_;
  uint64_t origin_ = 0;
  uint64_t base_us_ = 0;  // the clock's time at origin_ (non-zero after a switch from the PIT)
  bool measuring_ = false;
  uint64_t config_hz_ = 0;
  uint64_t measure_from_ticks_ = 0;
  uint64_t measure_from_tsc_ = 0;
  uint64_t measured_hz_ = 0;
  DelayChoice measured_choice_{DelaySource::kNone, DelayReason::kNoClock, 0};
  uint64_t switched_at_us_ = 0;
};

}  // namespace limbo::clock
