// SPDX-License-Identifier: GPL-2.0-only
// The verification on the host: the zero-fill scan, the per-segment
// checks (damage at the first byte, the last byte, inside the fill), the
// console diagnosis that names the damaged segment, the fallback to the full
// hash, and the reboot sequence (--on-corruption=reboot) on recorded port I/O.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fakes.h"
#include "lib/console.h"
#include "lib/flow.h"
#include "lib/reboot.h"
#include "lib/verify/segments.h"
#include "lib/verify/step.h"
#include "lib/verify/zero_scan.h"

namespace limbo::verify {
namespace {

using testing::FakePortIo;
using testing::FakeVgaCells;

// ---- The zero scan --------------------------------------------------------

TEST(ZeroScan, AllZeroAtEveryLengthAndAlignment) {
  std::vector<uint8_t> zeros(600, 0);
  for (size_t start = 0; start < 9; ++start) {
    for (size_t length = 0; length + start <= zeros.size(); ++length) {
      ASSERT_EQ(find_nonzero(zeros.data() + start, length), length) << "start " << start << " length " << length;
    }
  }
}

TEST(ZeroScan, FindsEveryPositionAtEveryAlignment) {
  std::vector<uint8_t> buffer(300, 0);
  for (size_t start = 0; start < 9; ++start) {
    const size_t length = buffer.size() - start;
    for (size_t at = 0; at < length; ++at) {
      buffer[start + at] = static_cast<uint8_t>(1u << (at % 8));
      ASSERT_EQ(find_nonzero(buffer.data() + start, length), at) << "start " << start;
      buffer[start + at] = 0;
    }
  }
}

// The chunked check calls back after every chunk of at most
// kChunkBytes, hashes the same digest, and still finds a changed fill byte
// past the first chunks at its offset.
TEST(ChunkedSegment, CallsBackPerChunkSameVerdictsAsOneGo) {
  constexpr uint64_t kContent = 3 * verify::kChunkBytes + 100;
  constexpr uint64_t kLength = kContent + 5 * verify::kChunkBytes + 7;
  std::vector<uint8_t> seg(kLength, 0);
  for (uint64_t i = 0; i < kContent; ++i) seg[i] = static_cast<uint8_t>(i * 13 + 1);
  abi::SegmentCheck check{};
  check.content_len = kContent;
  const sha256::Digest d = sha256::hash(seg.data(), kContent);
  std::memcpy(check.digest, d.bytes, sizeof(d.bytes));
  int calls = 0;
  auto count = [&calls] { ++calls; };
  verify::SegmentResult r = verify::check_segment_chunked(seg.data(), kLength, check, sha256::compress_portable, count);
  EXPECT_FALSE(r.damaged());
  EXPECT_EQ(calls, 4 + 6);  // 3 whole content chunks and a part; 5 whole fill chunks and a part
  seg[kContent + 4 * verify::kChunkBytes + 3] = 1;
  calls = 0;
  r = verify::check_segment_chunked(seg.data(), kLength, check, sha256::compress_portable, count);
  EXPECT_TRUE(r.fill_damaged);
  EXPECT_FALSE(r.content_damaged);
  EXPECT_EQ(r.first_changed, kContent + 4 * verify::kChunkBytes + 3);
  EXPECT_EQ(calls, 4 + 5);  // the scan stops at the chunk that changed
  const verify::SegmentResult whole = verify::check_segment(seg.data(), kLength, check, sha256::compress_portable);
  EXPECT_EQ(whole.first_changed, r.first_changed);
}

TEST(ZeroScan, FirstOfSeveralAndLastByteOfMegabytes) {
  std::vector<uint8_t> buffer((size_t{16} << 20) + 5, 0);
  buffer.back() = 0x80;
  EXPECT_EQ(find_nonzero(buffer.data(), buffer.size()), buffer.size() - 1);
  buffer[12345678] = 1;
  buffer[12345679] = 1;
  EXPECT_EQ(find_nonzero(buffer.data(), buffer.size()), 12345678u);
  EXPECT_EQ(find_nonzero(buffer.data(), 12345678), 12345678u);  // not beyond the length
}

// ---- A machine with memory and a console --------------------------------

constexpr uint64_t kMemBase = 0x100000;
constexpr uint64_t kTscHz = 1000000000;

class Machine : public testing::NoPcie {
 public:
  using Console = console::Console<FakePortIo, FakeVgaCells>;
  explicit Machine(size_t size) : memory_(size, 0), console_(io_, cells_) {
    console_.configure(console::Settings{true, 0x3f8, 115200, false});
  }
  FakePortIo& port_io() { return io_; }
  Console& console() { return console_; }
  uint64_t read_tsc() { return tsc_ += 1000; }
  uint8_t* phys(uint64_t address) {
    EXPECT_GE(address, kMemBase);
    EXPECT_LE(address, kMemBase + memory_.size());
    return memory_.data() + (address - kMemBase);
  }
  // The engine is taken once and given back once (the purgatory's gate then
  // restores CR0/CR4), whatever the outcome.
  sha256::BlockFunction sha256_engine() {
    ++engines_taken;
    EXPECT_EQ(engines_taken, 1) << "sha256_engine() called twice";
    return engine;
  }
  void sha256_release() {
    ++engines_released;
    EXPECT_EQ(engines_taken, 1) << "released an engine it never took";
    EXPECT_EQ(engines_released, 1) << "sha256_release() called twice";
  }
  int engines_taken = 0;
  int engines_released = 0;

  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream in(io_.transmitted);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out.push_back(line);
    }
    return out;
  }
  bool has_line(const std::string& wanted) const {
    for (const auto& l : lines())
      if (l == wanted) return true;
    return false;
  }
  bool has_line_starting(const std::string& prefix) const {
    for (const auto& l : lines())
      if (l.rfind(prefix, 0) == 0) return true;
    return false;
  }

  sha256::BlockFunction engine = sha256::compress_portable;
  FakePortIo io_;
  FakeVgaCells cells_;
  std::vector<uint8_t> memory_;
  uint64_t tsc_ = 0;
  Console console_;
};

// Three segments laid out like a small crash load: a kernel with a long zero
// fill, an initrd without fill, the boot parameters with a little.
struct Layout {
  uint64_t at, len, content;
  abi::SegmentRole role;
};
constexpr Layout kSegments[] = {
    {0x110000, 0x40000, 0x9123, abi::SegmentRole::kKernel},
    {0x150000, 0x3000, 0x3000, abi::SegmentRole::kInitrd},
    {0x160000, 0x2000, 0x1111, abi::SegmentRole::kBootParams},
};

class Verify : public ::testing::Test {
 protected:
  Verify() : m(0x70000) {}
  void SetUp() override {
    std::mt19937 rng(9);
    config.magic = abi::kConfigMagic;
    config.version = abi::kConfigVersion;
    config.size = sizeof(abi::Config);
    config.segment_check_count = 3;
    sha256::Hasher all;
    for (size_t i = 0; i < 3; ++i) {
      const Layout& s = kSegments[i];
      for (uint64_t k = 0; k < s.content; ++k) *m.phys(s.at + k) = static_cast<uint8_t>(rng() | 1);
      regions[i] = {s.at, s.len};
      config.segments[i].content_len = s.content;
      config.segments[i].role = static_cast<uint32_t>(s.role);
      const sha256::Digest d = sha256::hash(m.phys(s.at), s.content);
      std::memcpy(config.segments[i].digest, d.bytes, 32);
      all.update(m.phys(s.at), s.len);
    }
    const sha256::Digest d = all.finish();
    std::memcpy(digest, d.bytes, 32);
  }
  // Every outcome gives the engine back exactly once (with SHA-NI, the
  // purgatory switches SSE off again there).
  bool verify() {
    m.engines_taken = m.engines_released = 0;
    const bool ok = verify_image(m, regions, digest, &config, clock::Clock(kTscHz));
    EXPECT_EQ(m.engines_released, 1);
    return ok;
  }

  Machine m;
  abi::Config config{};
  abi::Sha256Region regions[abi::kSha256RegionCount] = {};
  uint8_t digest[abi::kSha256DigestSize] = {};
};

TEST_F(Verify, IntactImagePassesPerSegment) {
  EXPECT_EQ(check_plan(regions, config), Plan::kPerSegment);
  EXPECT_TRUE(verify());
  EXPECT_TRUE(m.has_line("limbo: sha256: portable"));
  const uint64_t hashed = 0x9123 + 0x3000 + 0x1111;
  const uint64_t total = 0x40000 + 0x3000 + 0x2000;
  EXPECT_TRUE(m.has_line_starting("limbo: sha256: ok (3 regions, " + std::to_string(total) + " bytes: " +
                                  std::to_string(hashed) + " hashed, " + std::to_string(total - hashed) +
                                  " zero fill scanned, "));
}

TEST_F(Verify, FirstByteOfTheKernelIsNamed) {
  *m.phys(0x110000) ^= 0x01;
  EXPECT_FALSE(verify());
  EXPECT_TRUE(m.has_line("limbo: sha256: MISMATCH in 1 of 3 segments"));
  EXPECT_TRUE(m.has_line("limbo: damaged: segment 0 (kernel) at 0x110000 size 0x40000, content 0x9123 bytes"));
  EXPECT_TRUE(m.has_line_starting("limbo: computed "));
  EXPECT_TRUE(m.has_line_starting("limbo: expected "));
  EXPECT_FALSE(m.has_line_starting("limbo: zero fill changed"));
  EXPECT_FALSE(m.has_line_starting("limbo: damaged: segment 1"));
}

TEST_F(Verify, LastByteOfTheFillGivesItsOffset) {
  *m.phys(0x110000 + 0x40000 - 1) = 0x20;
  EXPECT_FALSE(verify());
  EXPECT_TRUE(m.has_line("limbo: damaged: segment 0 (kernel) at 0x110000 size 0x40000, content 0x9123 bytes"));
  EXPECT_TRUE(m.has_line("limbo: zero fill changed: first non-zero byte at offset 0x3ffff (address 0x14ffff)"));
  EXPECT_FALSE(m.has_line_starting("limbo: computed "));  // the content is intact
}

TEST_F(Verify, InsideTheFillFirstChangeIsReported) {
  *m.phys(0x160000 + 0x1800) = 7;
  *m.phys(0x160000 + 0x1111) = 1;  // the first fill byte
  EXPECT_FALSE(verify());
  EXPECT_TRUE(m.has_line("limbo: damaged: segment 2 (boot parameters) at 0x160000 size 0x2000, content 0x1111 bytes"));
  EXPECT_TRUE(m.has_line("limbo: zero fill changed: first non-zero byte at offset 0x1111 (address 0x161111)"));
}

TEST_F(Verify, LastByteOfAnInitrdWithoutFillAndTwoSegmentsAtOnce) {
  *m.phys(0x150000 + 0x3000 - 1) ^= 0xff;
  *m.phys(0x110000 + 0x20000) = 1;
  EXPECT_FALSE(verify());
  EXPECT_TRUE(m.has_line("limbo: sha256: MISMATCH in 2 of 3 segments"));
  EXPECT_TRUE(m.has_line("limbo: damaged: segment 1 (initrd) at 0x150000 size 0x3000, content 0x3000 bytes"));
  EXPECT_TRUE(m.has_line("limbo: zero fill changed: first non-zero byte at offset 0x20000 (address 0x130000)"));
}

TEST_F(Verify, NoChecksMeansTheFullStockHash) {
  config.segment_check_count = 0;
  EXPECT_EQ(check_plan(regions, config), Plan::kNotProvided);
  EXPECT_TRUE(verify());
  EXPECT_TRUE(m.has_line_starting("limbo: sha256: ok (3 regions, " + std::to_string(0x40000 + 0x3000 + 0x2000) +
                                  " bytes, "));
  *m.phys(0x110000 + 0x30000) = 1;
  EXPECT_FALSE(verify());
  EXPECT_TRUE(m.has_line("limbo: sha256: MISMATCH"));
  EXPECT_TRUE(m.has_line("limbo: region 0 start 0x110000 len 0x40000"));
}

TEST_F(Verify, InconsistentChecksFallBackToTheFullHash) {
  config.segment_check_count = 2;
  EXPECT_EQ(check_plan(regions, config), Plan::kCountMismatch);
  config.segment_check_count = 3;
  config.segments[1].content_len = 0x3001;
  EXPECT_EQ(check_plan(regions, config), Plan::kContentTooLong);
  EXPECT_TRUE(verify());  // the full hash still proves the image
  EXPECT_TRUE(m.has_line("limbo: sha256: a per-segment content length exceeds its region; hashing every region in full"));
}

TEST_F(Verify, RolesHaveNames) {
  EXPECT_STREQ(role_name(0), "other");
  EXPECT_STREQ(role_name(1), "kernel");
  EXPECT_STREQ(role_name(2), "initrd");
  EXPECT_STREQ(role_name(3), "boot parameters");
  EXPECT_STREQ(role_name(4), "ELF core headers");
  EXPECT_STREQ(role_name(5), "backup");
  EXPECT_STREQ(role_name(99), "other");
}

// ---- The reboot sequence ----------------------------------------------

TEST(Reboot, AcpiIoRegisterThenCf9ThenKeyboardController) {
  Machine m(0x1000);
  abi::ResetRegister reg{};
  reg.valid = 1;
  reg.address_space = reboot::kAddressSpaceSystemIo;
  reg.address = 0xcf9;
  reg.value = 0x06;
  std::vector<uint32_t> waits;
  m.io_.accesses.clear();
  reboot::reset_machine(m.io_, m.console_, reg, [&waits](uint32_t us) { waits.push_back(us); },
                        [](uint64_t, uint8_t) -> bool {
                          ADD_FAILURE() << "an I/O reset register is not written to memory";
                          return false;
                        });
  std::vector<testing::PortAccess> writes;
  for (const auto& a : m.io_.accesses)
    if (a.write && a.port != 0x3f8) writes.push_back(a);
  ASSERT_GE(writes.size(), 3u + reboot::kKbcAttempts);
  EXPECT_EQ(writes[0], (testing::PortAccess{true, 0xcf9, 0x06}));  // the FADT's register and value
  // The fake bus reads 0xff: the other bits are kept, the reset bits set in two steps.
  EXPECT_EQ(writes[1], (testing::PortAccess{true, 0xcf9, 0xf3}));  // SYS_RST
  EXPECT_EQ(writes[2], (testing::PortAccess{true, 0xcf9, 0xff}));  // RST_CPU | SYS_RST | FULL_RST
  for (int i = 0; i < reboot::kKbcAttempts; ++i) EXPECT_EQ(writes[3 + i], (testing::PortAccess{true, 0x64, 0xfe}));
  EXPECT_TRUE(m.has_line("limbo: reboot: ACPI reset register: I/O port 0xcf9 <- 0x6"));
  EXPECT_TRUE(m.has_line("limbo: reboot: reset control register 0xcf9"));
  EXPECT_TRUE(m.has_line("limbo: reboot: keyboard controller pulse reset"));
  EXPECT_TRUE(m.has_line("limbo: reboot: still running; triple fault"));
  EXPECT_FALSE(waits.empty());
}

TEST(Reboot, MemoryRegisterWrittenWhenMapped) {
  Machine m(0x1000);
  abi::ResetRegister reg{};
  reg.valid = 1;
  reg.address_space = reboot::kAddressSpaceSystemMemory;
  reg.address = 0xfed00000;
  reg.value = 0x0e;
  std::vector<std::pair<uint64_t, uint8_t>> writes;
  reboot::reset_machine(m.io_, m.console_, reg, [](uint32_t) {}, [&writes](uint64_t a, uint8_t v) {
    writes.push_back({a, v});
    return true;
  });
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0], (std::pair<uint64_t, uint8_t>{0xfed00000, 0x0e}));
  EXPECT_TRUE(m.has_line("limbo: reboot: ACPI reset register: memory 0xfed00000 <- 0xe"));
  EXPECT_TRUE(m.has_line("limbo: reboot: reset control register 0xcf9"));  // still, if it did not reset
}

TEST(Reboot, MemoryRegisterSkippedWhenNotMappedAndPciSpaceNotUsed) {
  Machine m(0x1000);
  abi::ResetRegister reg{};
  reg.valid = 1;
  reg.address_space = reboot::kAddressSpaceSystemMemory;
  reg.address = 0xfed00000;
  reboot::reset_machine(m.io_, m.console_, reg, [](uint32_t) {}, [](uint64_t, uint8_t) { return false; });
  EXPECT_TRUE(m.has_line("limbo: reboot: ACPI reset register not mapped (the loader's page tables): skipped"));
  reg.address_space = 2;
  reboot::reset_machine(m.io_, m.console_, reg, [](uint32_t) {}, [](uint64_t, uint8_t) { return true; });
  EXPECT_TRUE(m.has_line("limbo: reboot: ACPI reset register in address space 2 at 0xfed00000 not used (only system I/O and memory are)"));
  EXPECT_TRUE(m.has_line("limbo: reboot: reset control register 0xcf9"));
}

// ---- The flow's action on a damaged image -------------------------------

class FlowAction : public Verify {
 protected:
  void SetUp() override {
    Verify::SetUp();
    std::memset(&vars, 0, sizeof(vars));
    for (size_t i = 0; i < abi::kSha256RegionCount; ++i) vars.sha256_regions[i] = regions[i];
    std::memcpy(vars.sha256_digest, digest, sizeof(digest));
    vars.console_serial = 1;
    vars.serial_base = 0x3f8;
    vars.entry64_regs.rip = 0x1000200;
    config.tsc_hz = kTscHz;
    vars.limbo_config = config;
  }
  flow::Outcome run() { return flow::run(m, vars, 0, report); }
  flow::LoaderVariables vars;
  report::Report report;
};

TEST_F(FlowAction, IntactJumpsAndReportsPhaseTimes) {
  EXPECT_EQ(run(), flow::Outcome::kJump);
  EXPECT_TRUE(m.has_line_starting("limbo: sha256: ok (3 regions, "));
  EXPECT_TRUE(m.has_line_starting("limbo: times: verify "));
}

TEST_F(FlowAction, HaltIsTheDefault) {
  *m.phys(0x150000) ^= 1;
  EXPECT_EQ(run(), flow::Outcome::kHalt);
  EXPECT_TRUE(m.has_line("limbo: damaged: segment 1 (initrd) at 0x150000 size 0x3000, content 0x3000 bytes"));
  EXPECT_EQ(m.lines().back(), "limbo: halting: the loaded image failed verification; not jumping");
}

TEST_F(FlowAction, RebootTriesEveryWayThenLeavesTheTripleFaultToTheCaller) {
  vars.limbo_config.on_corruption = static_cast<uint32_t>(abi::OnCorruption::kReboot);
  *m.phys(0x150000) ^= 1;
  EXPECT_EQ(run(), flow::Outcome::kReboot);
  EXPECT_TRUE(m.has_line("limbo: rebooting: the loaded image failed verification; not jumping"));
  EXPECT_TRUE(m.has_line("limbo: reboot: no ACPI reset register provided"));
  EXPECT_TRUE(m.has_line("limbo: reboot: reset control register 0xcf9"));
  EXPECT_FALSE(m.has_line_starting("limbo: jumping"));
}

}  // namespace
}  // namespace limbo::verify
