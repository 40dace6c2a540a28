// SPDX-License-Identifier: GPL-2.0-only
// The delay clock of the PCIe reset (lib/clock.h): which source is chosen
// (TSC checked against the PIT), the PIT as a free-running clock on a
// simulated 82C54 counter 2, and the guarantee that time always advances.
#include "lib/clock.h"

#include <gtest/gtest.h>

#include <vector>

namespace limbo::clock {
namespace {

constexpr uint64_t kGHz = 1000000000;

TEST(ChooseDelayClock, InvariantTscThatAgreesIsUsed) {
  const DelayChoice c = choose_delay_clock(true, 2 * kGHz, 2 * kGHz + 2 * kGHz / 200);  // 0.5% apart
  EXPECT_EQ(c.source, DelaySource::kTsc);
  EXPECT_EQ(c.reason, DelayReason::kTscAgrees);
  EXPECT_EQ(c.tsc_hz, 2 * kGHz);  // the plugin's (longer) measurement
}

TEST(ChooseDelayClock, DisagreementBeyondTolerancePicksThePit) {
  const DelayChoice c = choose_delay_clock(true, 2 * kGHz, 2 * kGHz + 2 * kGHz / 50);  // 2% apart
  EXPECT_EQ(c.source, DelaySource::kPit);
  EXPECT_EQ(c.reason, DelayReason::kTscDisagrees);
  EXPECT_EQ(choose_delay_clock(true, 1 * kGHz, 3 * kGHz).source, DelaySource::kPit);
  // Exactly at the tolerance still agrees; just beyond does not.
  EXPECT_EQ(choose_delay_clock(true, kGHz + kGHz / 100, kGHz).source, DelaySource::kTsc);
  EXPECT_EQ(choose_delay_clock(true, kGHz + kGHz / 100 + 1, kGHz).source, DelaySource::kPit);
}

TEST(ChooseDelayClock, NonInvariantTscNeverTimesDelays) {
  const DelayChoice c = choose_delay_clock(false, 2 * kGHz, 2 * kGHz);
  EXPECT_EQ(c.source, DelaySource::kPit);
  EXPECT_EQ(c.reason, DelayReason::kTscNotInvariant);
}

TEST(ChooseDelayClock, MissingFrequencyOrMissingPit) {
  DelayChoice c = choose_delay_clock(true, 0, 3 * kGHz);
  EXPECT_EQ(c.source, DelaySource::kTsc);
  EXPECT_EQ(c.reason, DelayReason::kTscCalibrated);
  EXPECT_EQ(c.tsc_hz, 3 * kGHz);
  c = choose_delay_clock(true, 3 * kGHz, 0);
  EXPECT_EQ(c.source, DelaySource::kTsc);
  EXPECT_EQ(c.reason, DelayReason::kTscUnchecked);
  EXPECT_EQ(choose_delay_clock(false, 3 * kGHz, 0).source, DelaySource::kNone);
  EXPECT_EQ(choose_delay_clock(true, 0, 0).reason, DelayReason::kNoClock);
}

// An 82C54 counter 2 in mode 2 whose time is set by the test: counts down
// from 65,536 at kPitHz; the latch command freezes the value read next.
struct FakePit {
  uint64_t time_ns = 0;     // advanced by the test (or per read)
  uint64_t ns_per_read = 0;
  bool counting = true;
  uint8_t control = 0, port61 = 0;
  bool programmed = false;
  int count_writes = 0;
  uint64_t start_ns = 0;
  uint16_t latched = 0;
  int latch_bytes = 0;

  uint16_t current() const {
    if (!counting) return 0x1234;
    const uint64_t ticks = (time_ns - start_ns) * kPitHz / 1000000000;
    return static_cast<uint16_t>(-static_cast<int64_t>(ticks % 65536));  // 65,536 reads as 0
  }
  uint8_t in8(uint16_t port) {
    time_ns += ns_per_read;
    if (port == kSystemControlB) return port61;
    if (port == kPitCounter2) {
      EXPECT_GT(latch_bytes, 0) << "read without a latch";
      const uint8_t b = latch_bytes == 2 ? static_cast<uint8_t>(latched) : static_cast<uint8_t>(latched >> 8);
      --latch_bytes;
      return b;
    }
    return 0xff;
  }
  void out8(uint16_t port, uint8_t value) {
    if (port == kSystemControlB) port61 = value;
    if (port == kPitControl) {
      const auto cw = PitControlWord::from_value(value);
      EXPECT_EQ(cw.select_counter(), PitControlWord::kSelectCounter2);
      if (cw.read_write() == kAccessLatch) {
        latched = current();
        latch_bytes = 2;
      } else {
        control = value;
        count_writes = 0;
      }
    }
    if (port == kPitCounter2) {
      EXPECT_EQ(value, 0);
      if (++count_writes == 2) {
        programmed = true;
        start_ns = time_ns;
      }
    }
  }
};

TEST(PitClock, ProgramsCounter2Mode2AndMeasuresTime) {
  FakePit pit;
  PitClock<FakePit> clock(pit);
  clock.start();
  EXPECT_TRUE(pit.programmed);
  EXPECT_EQ(PitControlWord::from_value(pit.control).mode(), kPitMode2);
  EXPECT_TRUE(SystemControlB::from_value(pit.port61).counter2_gate());
  EXPECT_FALSE(SystemControlB::from_value(pit.port61).speaker_data());
  // 1 s in steps of 10 ms (counter wraps every 55 ms): within one PIT tick.
  uint64_t us = 0;
  for (int i = 0; i < 100; ++i) {
    pit.time_ns += 10000000;
    us = clock.now_us();
  }
  EXPECT_NEAR(static_cast<double>(us), 1000000.0, 2.0);
  EXPECT_FALSE(clock.stalled());
}

TEST(PitClock, MonotonicAcrossWraps) {
  FakePit pit;
  pit.ns_per_read = 777;
  PitClock<FakePit> clock(pit);
  clock.start();
  uint64_t last = 0;
  for (int i = 0; i < 300000; ++i) {
    const uint64_t now = clock.now_us();
    ASSERT_GE(now, last);
    last = now;
  }
  // 300,000 reads x 2 port reads (the fake time step) x 777 ns = 466 ms.
  EXPECT_NEAR(static_cast<double>(last), 466200.0, 10.0);
}

// What the overlapped order relies on. Read every 50 ms (a
// verification chunk and more) for 10 s, the counter wrapping 180 times:
// every turn counted. Read every 60 ms, a turn is lost each time: time runs
// slow, so a wait only gets longer (the documented failure direction).
TEST(PitClock, ReadsWithinATurnAccumulateEveryWrapLongerGapsLoseTurns) {
  FakePit pit;
  PitClock<FakePit> clock(pit);
  clock.start();
  uint64_t us = 0;
  for (int i = 0; i < 200; ++i) {
    pit.time_ns += 50000000;
    us = clock.now_us();
  }
  EXPECT_NEAR(static_cast<double>(us), 10000000.0, 2.0);
  FakePit slow;
  PitClock<FakePit> lossy(slow);
  lossy.start();
  for (int i = 0; i < 100; ++i) {
    slow.time_ns += 60000000;
    us = lossy.now_us();
  }
  EXPECT_LT(us, 6000000u);
}

TEST(PitCounts, ACountingPitIsSeenAtOnceAStoppedOneAfterTheBound) {
  FakePit pit;
  pit.ns_per_read = 500;
  EXPECT_TRUE(pit_counts(pit));
  EXPECT_TRUE(pit.programmed);
  EXPECT_EQ(PitControlWord::from_value(pit.control).mode(), kPitMode2);
  FakePit stopped;
  stopped.counting = false;
  EXPECT_FALSE(pit_counts(stopped));
}

TEST(PitClock, StoppedCounterStillEndsEveryWait) {
  FakePit pit;
  pit.counting = false;
  PitClock<FakePit> clock(pit);
  clock.start();
  uint64_t now = 0;
  uint64_t reads = 0;
  while (now < 1000000 && reads < 10 * kPitStuckReads) {
    now = clock.now_us();
    ++reads;
  }
  EXPECT_GE(now, 1000000u);
  EXPECT_TRUE(clock.stalled());
  EXPECT_LE(reads, kPitStuckReads + 1000000 / kPitStuckStepUs + 1);
}

TEST(DelayClock, TscSourceConvertsWithTheChosenFrequency) {
  FakePit pit;
  uint64_t tsc = 123456;
  auto read = [&tsc] { return tsc; };
  DelayClock<FakePit, decltype(read)> clock(pit, read, DelayChoice{DelaySource::kTsc, DelayReason::kTscAgrees, 2 * kGHz});
  EXPECT_FALSE(pit.programmed);  // the PIT is left alone
  EXPECT_EQ(clock.now_us(), 0u);
  tsc += 2 * kGHz / 1000 * 150;  // 150 ms
  EXPECT_EQ(clock.now_us(), 150000u);
}

TEST(DelayClock, PitSourceIgnoresTheTsc) {
  FakePit pit;
  uint64_t tsc = 0;
  auto read = [&tsc] { return tsc; };
  DelayClock<FakePit, decltype(read)> clock(pit, read, DelayChoice{DelaySource::kPit, DelayReason::kTscNotInvariant, 0});
  EXPECT_TRUE(pit.programmed);
  tsc += 999999999;
  pit.time_ns += 20000000;
  EXPECT_NEAR(static_cast<double>(clock.now_us()), 20000.0, 2.0);
}

// Overlap with an invariant TSC: a delay clock on the PIT whose
// TSC (really 2 GHz) is measured against it from the first read on, the
// loader having said `loader_hz`.
struct MeasuredLater {
  FakePit pit;
  uint64_t tsc = 777;
  struct Read {
    uint64_t* tsc;
    uint64_t operator()() const { return *tsc; }
  };
  DelayClock<FakePit, Read> clock{pit, Read{&tsc}, DelayChoice{DelaySource::kPit, DelayReason::kTscMeasuredLater, 0}};
  explicit MeasuredLater(uint64_t loader_hz) {
    clock.measure_tsc_later(loader_hz);
    (void)clock.now_us();  // starts the count
  }
  uint64_t step_1ms() {  // 1 ms on both
    pit.time_ns += 1000000;
    tsc += 2 * kGHz / 1000;
    return clock.now_us();
  }
};

// The first read 10 ms of PIT later measures the TSC, which then takes over
// from the PIT's time: monotonic, no jump, the same rate.
TEST(DelayClock, MeasuredLaterTheTscTakesOverFromThePitWithoutAJump) {
  MeasuredLater m(2 * kGHz);
  auto& clock = m.clock;
  uint64_t last = clock.now_us();
  for (int i = 0; i < 30; ++i) {
    const uint64_t now = m.step_1ms();
    EXPECT_GE(now, last + 990) << i;
    EXPECT_LE(now, last + 1010) << i;
    last = now;
    if (i < 9) {
      EXPECT_EQ(clock.choice().source, DelaySource::kPit) << i;
    }
  }
  EXPECT_EQ(clock.choice().source, DelaySource::kTsc);
  EXPECT_EQ(clock.measured_choice().reason, DelayReason::kTscAgrees);
  EXPECT_NEAR(static_cast<double>(clock.measured_hz()), 2e9, 2e9 / 1000);
  EXPECT_NEAR(static_cast<double>(clock.switched_at_us()), 10000.0, 1000.0);
  // On the TSC now: the PIT is no longer read.
  m.pit.time_ns += 500000000;
  EXPECT_EQ(clock.now_us(), last);
}

TEST(DelayClock, MeasuredLaterATscThatDisagreesLeavesThePitInCharge) {
  MeasuredLater m(3 * kGHz);  // the loader's figure; the TSC really runs at 2 GHz
  for (int i = 0; i < 20; ++i) (void)m.step_1ms();
  EXPECT_EQ(m.clock.choice().source, DelaySource::kPit);
  EXPECT_EQ(m.clock.measured_choice().reason, DelayReason::kTscDisagrees);
  EXPECT_NEAR(static_cast<double>(m.clock.measured_hz()), 2e9, 2e9 / 1000);
  m.pit.time_ns += 5000000;
  EXPECT_NEAR(static_cast<double>(m.clock.now_us()), 25000.0, 2.0);  // still the PIT's time
}

}  // namespace
}  // namespace limbo::clock
