// SPDX-License-Identifier: GPL-2.0-only
// The purgatory's top-level flow (lib/flow.h) on a fake machine: physical
// memory in a vector, a fake UART capturing the console, a TSC that advances.
#include "lib/flow.h"

#include <gtest/gtest.h>

#include <csetjmp>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fakes.h"
#include "tests/pcie/fabric.h"
#include "tests/pcie/topologies.h"

namespace limbo::flow {
namespace {

using testing::FakePortIo;
using testing::FakeVgaCells;

constexpr uint64_t kMemBase = 0x100000;
constexpr uint64_t kKernelAt = 0x110000;
constexpr uint64_t kKernelLen = 0x3000;
constexpr uint64_t kInitrdAt = 0x120000;
constexpr uint64_t kInitrdLen = 0x1234;
constexpr uint64_t kCmdlineAt = 0x130000;
constexpr uint64_t kTscHz = 1000000000;  // 1 GHz: 1 tick = 1 ns
constexpr uint64_t kTscStep = 1000;      // each read of the TSC: 1 us later

class FakeMachine;

// A hash that takes time. The engine below advances the machine's
// TSC and the fabric's clock by g_block_cost_us per 64-byte block, and notes
// the fabric time of the first block it hashed.
FakeMachine* g_hashing_machine = nullptr;
uint64_t g_block_cost_us = 0;
uint64_t g_first_hash_us = 0;
uint64_t g_last_hash_us = 0;
void timed_compress(uint32_t state[8], const uint8_t* blocks, size_t count);

// The fabric as the flow sees it, with a fault injected: the
// write that asserts Secondary Bus Reset on the Nth port (counting from 1),
// or any config read once armed, "faults" (FakeMachine::fault(), which does
// what the arch handler does: lib/fault.h's decision, a resume by longjmp).
struct FaultingSpace {
  FakeMachine& m;
  pcie::testing::Fabric& f;
  uint8_t read8(abi::PciAddress a, uint16_t o);
  uint16_t read16(abi::PciAddress a, uint16_t o);
  uint32_t read32(abi::PciAddress a, uint16_t o);
  void write8(abi::PciAddress a, uint16_t o, uint8_t v) { f.write8(a, o, v); }
  void write16(abi::PciAddress a, uint16_t o, uint16_t v);
  void write32(abi::PciAddress a, uint16_t o, uint32_t v) { f.write32(a, o, v); }
  bool in_window(uint16_t segment, uint8_t bus) const { return f.in_window(segment, bus); }
};

class FakeMachine {
 public:
  using Console = console::Console<FakePortIo, FakeVgaCells>;

  FakeMachine() : memory_(0x40000, 0), console_(io_, cells_) {}

  FakePortIo& port_io() { return io_; }
  Console& console() { return console_; }
  uint64_t read_tsc() {
    fabric_clock.advance(kTscStep * 1000000 / kTscHz);
    return tsc_ += kTscStep;
  }
  uint8_t* phys(uint64_t address) {
    if (fault_in_report && phase == fault::Phase::kReport) fault();
    EXPECT_GE(address, kMemBase);
    EXPECT_LT(address, kMemBase + memory_.size());
    return memory_.data() + (address - kMemBase);
  }
  sha256::BlockFunction sha256_engine() { return engine; }
  void sha256_release() {}
  NmiRecord nmi_record() const { return nmis; }

  // The PCIe step: a simulated fabric whose time runs with the TSC (each TSC
  // read is 1 us on both), the page tables as the arch code reports them.
  PagingSummary paging_summary() const { return paging; }
  bool tsc_invariant() const { return invariant_tsc; }
  FaultingSpace pcie_config_space(const abi::PcieSettings&) { return FaultingSpace{*this, fabric}; }
  pcie::Workspace& pcie_workspace() { return *workspace; }
  pcie::testing::Fabric& pcie_mmio() { return fabric; }

  // The phases and the resume point (the arch's run_guarded, with
  // setjmp for its entry.S pair).
  void set_phase(fault::Phase p) {
    phase = p;
    phases.push_back(p);
  }
  template <class Fn>
  bool guarded(fault::Phase p, Fn& fn) {
    set_phase(p);
    if (setjmp(resume) != 0) return false;
    armed = true;
    fn();
    armed = false;
    return true;
  }
  // The arch handler's part that matters to the flow: decide, then resume
  // (anything else ends the run in the arch code, never in the flow).
  void fault() {
    ++faults;
    const fault::Action a = fault::decide(phase, armed, false, 0);
    if (a != fault::Action::kResume) {
      ADD_FAILURE() << "a fault in phase " << fault::phase_name(phase) << " is not resumed from";
      return;
    }
    armed = false;
    std::longjmp(resume, 1);
  }

  std::string serial() const { return io_.transmitted; }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream in(io_.transmitted);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out.push_back(line);
    }
    return out;
  }

  sha256::BlockFunction engine = sha256::compress_portable;
  NmiRecord nmis;
  FakePortIo io_;
  FakeVgaCells cells_;
  std::vector<uint8_t> memory_;
  uint64_t tsc_ = 5000000;
  PagingSummary paging{true, true, 4, false, 7, 16, nullptr};
  bool invariant_tsc = true;
  pcie::testing::FakeClock fabric_clock;
  pcie::testing::Fabric fabric{fabric_clock};
  std::unique_ptr<pcie::Workspace> workspace = std::make_unique<pcie::Workspace>();
  Console console_;

  fault::Phase phase = fault::Phase::kSetup;
  std::vector<fault::Phase> phases;
  std::jmp_buf resume;
  bool armed = false;
  int faults = 0;
  int fault_on_assert = 0;        // fault on the write asserting SBR on this port (1-based), 0: never
  int asserts_seen = 0;
  size_t serial_at_first_assert = SIZE_MAX;      // console bytes sent before the first Secondary Bus Reset
  size_t port_writes_at_first_assert = SIZE_MAX;  // port accesses (io_.accesses) before it
  bool fault_on_reads = false;    // every config read faults (while armed)
  bool fault_on_clear = false;    // the write clearing SBR faults (the undo)
  bool fault_in_report = false;   // the report's command-line access faults
};

void timed_compress(uint32_t state[8], const uint8_t* blocks, size_t count) {
  FakeMachine& m = *g_hashing_machine;
  if (g_first_hash_us == 0) g_first_hash_us = m.fabric_clock.peek();
  m.fabric_clock.advance(g_block_cost_us * count);
  m.tsc_ += g_block_cost_us * count * (kTscHz / 1000000);
  g_last_hash_us = m.fabric_clock.peek();
  sha256::compress_portable(state, blocks, count);
}

uint8_t FaultingSpace::read8(abi::PciAddress a, uint16_t o) {
  if (m.fault_on_reads) m.fault();
  return f.read8(a, o);
}
uint16_t FaultingSpace::read16(abi::PciAddress a, uint16_t o) {
  if (m.fault_on_reads) m.fault();
  return f.read16(a, o);
}
uint32_t FaultingSpace::read32(abi::PciAddress a, uint16_t o) {
  if (m.fault_on_reads) m.fault();
  return f.read32(a, o);
}
void FaultingSpace::write16(abi::PciAddress a, uint16_t o, uint16_t v) {
  const bool bridge_control = o == pcie::BridgeControl::kOffset;
  const bool sbr = pcie::BridgeControl::from_value(v).secondary_bus_reset();
  if (bridge_control && !sbr && m.fault_on_clear && m.phase == fault::Phase::kPcieUndo) m.fault();
  f.write16(a, o, v);
  if (bridge_control && sbr && m.asserts_seen == 0) {
    m.serial_at_first_assert = m.io_.transmitted.size();
    m.port_writes_at_first_assert = m.io_.accesses.size();
  }
  if (bridge_control && sbr && ++m.asserts_seen == m.fault_on_assert) m.fault();
}

class FlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t i = 0; i < kKernelLen; ++i) *m.phys(kKernelAt + i) = static_cast<uint8_t>(i * 7 + 1);
    for (uint64_t i = 0; i < kInitrdLen; ++i) *m.phys(kInitrdAt + i) = static_cast<uint8_t>(i ^ 0x5a);
    const char cmdline[] = "console=ttyS0 root=/dev/ram";
    std::memcpy(m.phys(kCmdlineAt), cmdline, sizeof(cmdline));
    std::memset(m.phys(kCmdlineAt + sizeof(cmdline) + abi::kCmdlineSpareBytes - 1), 'G', 32);
    cmdline_length = sizeof(cmdline) - 1;

    std::memset(&vars, 0, sizeof(vars));
    vars.sha256_regions[0] = {kKernelAt, kKernelLen};
    vars.sha256_regions[1] = {kInitrdAt, kInitrdLen};
    sha256::Hasher h;
    h.update(m.phys(kKernelAt), kKernelLen);
    h.update(m.phys(kInitrdAt), kInitrdLen);
    const sha256::Digest d = h.finish();
    std::memcpy(vars.sha256_digest, d.bytes, sizeof(d.bytes));
    vars.entry64_regs.rip = 0x1000200;
    vars.entry64_regs.rsi = 0x8c000;
    vars.console_serial = 1;
    vars.serial_base = 0x3f8;
    vars.serial_baud = 115200;
    vars.panic_kernel = 1;
    vars.cmdline_end = kCmdlineAt + cmdline_length;
    vars.limbo_config = abi::Config{};
    vars.limbo_config.magic = abi::kConfigMagic;
    vars.limbo_config.version = abi::kConfigVersion;
    vars.limbo_config.size = sizeof(abi::Config);
    vars.limbo_config.tsc_hz = kTscHz;
  }

  Outcome run() { return flow::run(m, vars, entry_tsc, report); }
  std::string cmdline() { return reinterpret_cast<const char*>(m.phys(kCmdlineAt)); }
  bool has_line(const std::string& line) {
    for (const auto& l : m.lines())
      if (l == line) return true;
    return false;
  }
  bool has_line_starting(const std::string& prefix) {
    for (const auto& l : m.lines())
      if (l.rfind(prefix, 0) == 0) return true;
    return false;
  }
  bool guard_intact() {
    const uint8_t* g = m.phys(kCmdlineAt + cmdline_length + abi::kCmdlineSpareBytes);
    for (int i = 0; i < 31; ++i)
      if (g[i] != 'G') return false;
    return true;
  }

  FakeMachine m;
  LoaderVariables vars;
  report::Report report;
  uint64_t entry_tsc = 4000000;
  size_t cmdline_length = 0;
};

TEST_F(FlowTest, VerifiedImageJumpsAndReports) {
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: Limbo purgatory " LIMBO_VERSION " entered, jump_back_entry 0x0, panic_kernel 1"));
  EXPECT_TRUE(has_line("limbo: tsc 1000000 kHz"));
  EXPECT_TRUE(has_line_starting("limbo: sha256: ok (2 regions, 16948 bytes, "));
  EXPECT_EQ(report.verify, report::Verify::kOk);
  // ms: 1,000,000 ticks before the first read and 1 us per read: just over 1 ms.
  EXPECT_EQ(cmdline(), "console=ttyS0 root=/dev/ram limbo=v3,verify:ok,reset:0,stop:0,skip:0,fail:0,ms:2");
  EXPECT_TRUE(has_line("limbo: report \" limbo=v3,verify:ok,reset:0,stop:0,skip:0,fail:0,ms:2\""));
  EXPECT_TRUE(has_line_starting("limbo: jumping to 0x1000200 (rsi 0x8c000) after "));
  EXPECT_TRUE(guard_intact());
  for (const auto& line : m.lines()) EXPECT_EQ(line.rfind("limbo: ", 0), 0u) << line;
}

TEST_F(FlowTest, NmisAreAccountedForBeforeTheReport) {
  // No NMI, no line.
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_FALSE(has_line_starting("limbo: nmi:"));
}

TEST_F(FlowTest, NmisReturnedFromAreCountedAndTheJumpStillHappens) {
  m.nmis = NmiRecord{3, 0x1234, true};
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: nmi: 3 received in the purgatory, each returned from (the first at rip 0x1234)"));
  // Accounted for before the report and the jump.
  const auto lines = m.lines();
  size_t nmi = lines.size(), report_line = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("limbo: nmi:", 0) == 0) nmi = i;
    if (lines[i].rfind("limbo: report \"", 0) == 0) report_line = i;
  }
  EXPECT_LT(nmi, report_line);
  EXPECT_EQ(report.verify, report::Verify::kOk);

  m.io_.transmitted.clear();
  m.nmis = NmiRecord{1, 0xabc, false};
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: nmi: 1 received in the purgatory, each returned from (the first at rip 0xabc; "
                       "not printed then: the console was mid-line)"));
}

TEST_F(FlowTest, MismatchHaltsWithDiagnosisAndTouchesNothing) {
  *m.phys(kInitrdAt + 100) ^= 1;  // one flipped bit
  vars.backup_start = kMemBase;
  vars.backup_src_start = kMemBase + 0x1000;
  vars.backup_src_size = 0x100;
  std::memset(m.phys(kMemBase + 0x1000), 0xee, 0x100);
  EXPECT_EQ(run(), Outcome::kHalt);
  EXPECT_TRUE(has_line("limbo: sha256: MISMATCH"));
  EXPECT_TRUE(has_line_starting("limbo: computed "));
  std::string expected = "limbo: expected ";
  for (uint8_t b : vars.sha256_digest) {
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", b);
    expected += hex;
  }
  EXPECT_TRUE(has_line(expected));
  EXPECT_TRUE(has_line("limbo: region 0 start 0x110000 len 0x3000"));
  EXPECT_TRUE(has_line("limbo: region 1 start 0x120000 len 0x1234"));
  EXPECT_EQ(m.lines().back(), "limbo: halting: the loaded image failed verification; not jumping");
  EXPECT_FALSE(has_line_starting("limbo: jumping"));
  EXPECT_EQ(cmdline(), "console=ttyS0 root=/dev/ram");  // no report
  EXPECT_EQ(*m.phys(kMemBase), 0);                       // no backup copy
}

TEST_F(FlowTest, SkipChecksSkipsTheHash) {
  *m.phys(kKernelAt) ^= 0xff;  // would mismatch
  vars.skip_checks = 1;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: sha256: skipped (skip_checks set)"));
  EXPECT_NE(cmdline().find(" limbo=v3,verify:off,reset:0,stop:0,skip:0,fail:0,ms:"), std::string::npos);
}

TEST_F(FlowTest, CrashBackupIsCopiedAfterVerification) {
  vars.backup_start = kMemBase + 0x2000;
  vars.backup_src_start = kMemBase + 0x1000;
  vars.backup_src_size = 0x800;
  for (int i = 0; i < 0x800; ++i) *m.phys(kMemBase + 0x1000 + i) = static_cast<uint8_t>(i * 3);
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_EQ(std::memcmp(m.phys(kMemBase + 0x2000), m.phys(kMemBase + 0x1000), 0x800), 0);
  EXPECT_TRUE(has_line("limbo: backup: copied 0x800 bytes from 0x101000 to 0x102000"));
}

TEST_F(FlowTest, NoBackupWithoutPanicKernel) {
  vars.panic_kernel = 0;
  vars.backup_start = kMemBase + 0x2000;
  vars.backup_src_start = kMemBase + 0x1000;
  vars.backup_src_size = 0x10;
  std::memset(m.phys(kMemBase + 0x1000), 0xab, 0x10);
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_EQ(*m.phys(kMemBase + 0x2000), 0);
  EXPECT_FALSE(has_line_starting("limbo: backup"));
}

TEST_F(FlowTest, JumpBackTextIsWrittenAndTheReportRefused) {
  vars.jump_back_entry = 0xffffffff81234000ull;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_EQ(cmdline(), "console=ttyS0 root=/dev/ram kexec_jump_back_entry=0xffffffff81234000");
  EXPECT_TRUE(has_line_starting("limbo: report does not fit the command line's "));
  EXPECT_TRUE(guard_intact());
}

TEST_F(FlowTest, NoCommandLineNoReport) {
  vars.cmdline_end = 0;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: report: no command line (cmdline_end 0), not written"));
}

TEST_F(FlowTest, RefusedConfigFallsBackToPitCalibration) {
  vars.limbo_config.magic = 0x12345678;
  m.io_.pit_out2_after_reads = 100;
  EXPECT_EQ(run(), Outcome::kJump);
  const std::string size = std::to_string(sizeof(abi::Config));
  const std::string version = std::to_string(abi::kConfigVersion);
  EXPECT_TRUE(has_line("limbo: config block refused: magic 0x12345678 version " + version + " size " + size +
                       " (expected magic 0x4f424d4c version " + version + " size " + size + "); using defaults"));
  EXPECT_TRUE(has_line("limbo: tsc frequency unknown"));
  EXPECT_TRUE(has_line_starting("limbo: tsc calibrated against the 8254 PIT: "));
}

TEST_F(FlowTest, WrongVersionOrSizeIsRefusedToo) {
  vars.limbo_config.version = abi::kConfigVersion + 1;
  EXPECT_FALSE(check_config(vars.limbo_config).accepted);
  vars.limbo_config.version = abi::kConfigVersion;
  vars.limbo_config.size = 16;
  EXPECT_FALSE(check_config(vars.limbo_config).accepted);
  vars.limbo_config.size = sizeof(abi::Config);
  EXPECT_TRUE(check_config(vars.limbo_config).accepted);
  EXPECT_EQ(check_config(vars.limbo_config).tsc_hz, kTscHz);
}

TEST_F(FlowTest, UnknownTscWithoutPitReportsZeroTimes) {
  vars.limbo_config.tsc_hz = 0;
  m.io_.pit_out2_after_reads = -1;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line_starting("limbo: tsc calibration failed"));
  EXPECT_NE(cmdline().find(",ms:0"), std::string::npos);
}

TEST_F(FlowTest, ResetVgaAndLegacyPicComeFirst) {
  vars.reset_vga = 1;
  vars.legacy_pic = 1;
  EXPECT_EQ(run(), Outcome::kJump);
  ASSERT_FALSE(m.io_.accesses.empty());
  EXPECT_EQ(m.io_.accesses[0], (testing::PortAccess{true, 0x3c2, 0x67}));
  EXPECT_EQ(m.io_.writes_to(0x20).size(), 1u);
  EXPECT_EQ(m.io_.writes_to(0xa0).size(), 1u);
}

TEST_F(FlowTest, EmptyRegionsAreSkippedLikeStock) {
  vars.sha256_regions[1] = {0, 0};
  vars.sha256_regions[5] = {kInitrdAt, kInitrdLen};  // after a hole: still hashed, in order
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line_starting("limbo: sha256: ok (2 regions, 16948 bytes, "));
}

// ---- The PCIe step (lib/flow_pcie.h) ----------------------------------

class FlowPcieTest : public FlowTest {
 protected:
  void SetUp() override {
    FlowTest::SetUp();
    using namespace pcie::testing;
    m.fabric.add_window(0, 0, 255);
    m.fabric.add(bdf(0, 0), conventional(0x8086, 0x29c0, 0x060000));  // host bridge
    m.fabric.add(bdf(0, 2), root_port(1, 1));
    m.fabric.add(bdf(1, 0), endpoint(0x8086, 0x10d3, 0x020000));
    m.fabric.program16(bdf(1, 0), pcie::Command::kOffset, 0x0006);  // memory decode + bus master: live
    m.fabric.program32(bdf(1, 0), 0x10, 0xfebc0000);               // BAR0
    abi::PcieSettings& p = vars.limbo_config.pcie;
    p.mode = static_cast<uint32_t>(abi::PcieMode::kReset);
    p.ecam_count = 1;
    p.ecam[0] = abi::EcamWindow{0xb0000000, 0, 0, 255, 0};
    // The PIT calibration measures 10 ms of TSC: 100 polls of port 0x61,
    // 100,000 ticks (0.1 ms at 1 GHz) each, agreeing with the block's 1 GHz.
    m.io_.pit_out2_after_reads = 99;
    m.io_.on_port61_read = [this] { m.tsc_ += 100000; };
  }
  size_t index_of_line_starting(const std::string& prefix) {
    const auto lines = m.lines();
    for (size_t i = 0; i < lines.size(); ++i)
      if (lines[i].rfind(prefix, 0) == 0) return i;
    return lines.size();
  }
};

TEST_F(FlowPcieTest, OffWhenTheBlockSaysSoAndNothingIsTouched) {
  vars.limbo_config.pcie.mode = static_cast<uint32_t>(abi::PcieMode::kOff);
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: pcie: off"));
  EXPECT_EQ(m.fabric.reads + m.fabric.writes, 0u);
  EXPECT_EQ(cmdline(), "console=ttyS0 root=/dev/ram limbo=v3,verify:ok,reset:0,stop:0,skip:0,fail:0,ms:2");
}

TEST_F(FlowPcieTest, RefusedBlockMeansOff) {
  vars.limbo_config.magic = 0;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: pcie: off"));
  EXPECT_EQ(m.fabric.reads + m.fabric.writes, 0u);
}

TEST_F(FlowPcieTest, ResetRunsAfterVerificationAndBeforeTheBackupAndReport) {
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: paging: own identity tables, 4 levels, 2 MiB pages, 7 of 16 table pages, ECAM uncached"));
  EXPECT_TRUE(has_line_starting("limbo: pcie: delays on the tsc (invariant tsc agrees with the pit; tsc 1000000 kHz "
                                "from the loader, 1000"));
  EXPECT_TRUE(has_line_starting("limbo: pcie 0000:01:00.0 8086:10d3 class 020000 reset ok ready "));
  EXPECT_TRUE(has_line("limbo: pcie 0000:00:00.0 8086:29c0 class 060000 skip bridge class, no dma"));
  // A 2.5 GT/s port: no link wait; the settle is exactly the 100 ms default.
  bool timeline = false;
  for (const auto& line : m.lines()) {
    if (line.rfind("limbo: pcie: timeline: assert ", 0) != 0) continue;
    timeline = line.find(" link wait 0 us (0 links not up), settle to 100000 us, ready at ") != std::string::npos;
  }
  EXPECT_TRUE(timeline);
  for (const auto& line : m.lines()) {
    EXPECT_EQ(line.rfind("limbo: ", 0), 0u) << line;
    EXPECT_NE(line.rfind("limbo: limbo:", 0), 0u) << "prefix doubled: " << line;
  }
  const size_t verified = index_of_line_starting("limbo: sha256: ok");
  const size_t pcie = index_of_line_starting("limbo: pcie 0000:01:00.0");
  const size_t backup = index_of_line_starting("limbo: backup:");
  const size_t reported = index_of_line_starting("limbo: report \"");
  EXPECT_LT(verified, pcie);
  EXPECT_LT(pcie, backup);
  EXPECT_LT(backup, reported);
  EXPECT_EQ(report.reset, 1u);
  EXPECT_EQ(report.skip, 1u);
  EXPECT_EQ(report.fail, 0u);
  EXPECT_NE(cmdline().find(" limbo=v3,verify:ok,reset:1,stop:0,skip:1,fail:0,ms:"), std::string::npos) << cmdline();
  // The device was reset (BAR gone, then restored) and left with Bus Master off.
  EXPECT_EQ(m.fabric.peek(pcie::testing::bdf(1, 0), 0x10, 4), 0xfebc0000u);
  EXPECT_EQ(m.fabric.peek(pcie::testing::bdf(1, 0), pcie::Command::kOffset, 2), 0x0002u);
  // The 100 ms settle, on the TSC: the step took at least that.
  bool times_ok = false;
  for (const auto& line : m.lines()) {
    const auto at = line.find(" us, pcie ");
    if (line.rfind("limbo: times: ", 0) == 0 && at != std::string::npos) {
      times_ok = std::stoull(line.substr(at + 10)) >= 100000;
    }
  }
  EXPECT_TRUE(times_ok);
}

TEST_F(FlowPcieTest, EcamNotMappedIsReportedAndNothingTouched) {
  m.paging = PagingSummary{false, false, 4, false, 0, 16, "page-table pool too small"};
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: paging: loader's tables kept (page-table pool too small); no ECAM access"));
  EXPECT_TRUE(has_line("limbo: pcie: not reset: ECAM not mapped (page-table pool too small)"));
  EXPECT_EQ(m.fabric.reads + m.fabric.writes, 0u);
  EXPECT_EQ(report.reset, 0u);
}

TEST_F(FlowPcieTest, NoEcamWindowNoReset) {
  vars.limbo_config.pcie.ecam_count = 0;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: pcie: not reset: the configuration block has no ECAM window"));
  EXPECT_EQ(m.fabric.reads + m.fabric.writes, 0u);
}

TEST_F(FlowPcieTest, TscThatDisagreesGivesWayToThePit) {
  vars.limbo_config.tsc_hz = kTscHz * 2;  // the plugin got it wrong
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line_starting("limbo: pcie: delays on the pit (tsc frequency disagrees with the pit; "));
  // The fake PIT counter never moves (reads all ones): the stall guard ends
  // every wait and says so, and the reset still completes.
  EXPECT_TRUE(has_line("limbo: pcie: the pit stopped counting: the delays above were not timed"));
  EXPECT_TRUE(has_line_starting("limbo: pcie 0000:01:00.0 8086:10d3 class 020000 reset ok"));
}

TEST_F(FlowPcieTest, NonInvariantTscWithoutPitHasNoClockAndResetsNothing) {
  m.invariant_tsc = false;
  m.io_.pit_out2_after_reads = -1;  // the PIT never expires
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line("limbo: pcie: not reset: no clock for the delays (no tsc frequency and the pit does not count)"));
  EXPECT_EQ(m.fabric.reads + m.fabric.writes, 0u);
}

}  // namespace
}  // namespace limbo::flow

namespace limbo::flow {
namespace {

// The function methods through the flow: a root-bus NVMe without FLR gets its class
// reset (its BAR mapped through the machine's pcie_mmio), a root-bus NIC is
// stopped; the report counts them (reset:, stop:) and the functions line
// gives the phases.
TEST_F(FlowPcieTest, FunctionMethodsRunAndAreReported) {
  using namespace pcie::testing;
  m.fabric.add(bdf(0, 3), rc_integrated(nvme_controller(false)));
  make_live(m.fabric, bdf(0, 3), 0xfe000000);
  Fabric::FunctionSpec nic = rc_integrated(endpoint(0x8086, 0x10d3, 0x020000));
  m.fabric.add(bdf(0, 4), nic);
  make_live(m.fabric, bdf(0, 4), 0xfe100000);
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line_starting("limbo: pcie 0000:00:03.0 1b36:0010 class 010802 reset ok within "));
  EXPECT_TRUE(has_line("limbo: pcie 0000:00:04.0 8086:10d3 class 020000 stop by bus master off (root complex "
                       "integrated endpoint, no port)"));
  EXPECT_TRUE(has_line_starting("limbo: pcie: functions: stop "));
  EXPECT_EQ(report.reset, 2u);
  EXPECT_EQ(report.stop, 1u);
  EXPECT_EQ(report.fail, 0u);
  EXPECT_NE(cmdline().find(" limbo=v3,verify:ok,reset:2,stop:1,skip:1,fail:0,ms:"), std::string::npos) << cmdline();
  EXPECT_EQ(m.fabric.map_calls, 1u);
  EXPECT_FALSE(pcie::nvme::ControllerConfiguration::from_value(m.fabric.fn(bdf(0, 3)).nvme_cc).enable());
  EXPECT_FALSE(pcie::Command::from_value(static_cast<uint16_t>(m.fabric.peek(bdf(0, 4), pcie::Command::kOffset, 2)))
                   .bus_master());
  for (const auto& line : m.lines()) {
    if (line.rfind("limbo: pcie: functions: ", 0) == 0) {
      EXPECT_EQ(line.find("18446744"), std::string::npos) << line;
    }
  }
}

// ---- Faults (lib/fault.h) -------------------------------------

TEST(FaultRule, OnlyOptionalWorkWithAnArmedResumePointIsResumed) {
  using fault::Action;
  using fault::Phase;
  constexpr uint32_t kReboot = static_cast<uint32_t>(abi::OnFault::kReboot);
  constexpr uint32_t kHalt = static_cast<uint32_t>(abi::OnFault::kHalt);
  for (Phase p : {Phase::kPcie, Phase::kPcieUndo, Phase::kReport}) {
    EXPECT_EQ(fault::decide(p, true, false, kReboot), Action::kResume) << fault::phase_name(p);
    EXPECT_EQ(fault::decide(p, true, false, kHalt), Action::kResume) << fault::phase_name(p);
    // Used already, or a fault inside the handler: the configured action.
    EXPECT_EQ(fault::decide(p, false, false, kHalt), Action::kHalt) << fault::phase_name(p);
    EXPECT_EQ(fault::decide(p, true, true, kReboot), Action::kReboot) << fault::phase_name(p);
  }
  for (Phase p : {Phase::kSetup, Phase::kVerify, Phase::kPostVerify, Phase::kLeave}) {
    EXPECT_EQ(fault::decide(p, true, false, kReboot), Action::kReboot) << fault::phase_name(p);
    EXPECT_EQ(fault::decide(p, false, false, kHalt), Action::kHalt) << fault::phase_name(p);
  }
  // Reboot is the default: zero, and anything unknown.
  EXPECT_EQ(fault::configured(0), Action::kReboot);
  EXPECT_EQ(fault::configured(7), Action::kReboot);
}

TEST(FaultRule, TheDecisionLineStartsWithWhatHappens) {
  struct StringSink {
    std::string text;
    void put(char c) { text += c; }
  };
  StringSink sink;
  fault::print_decision(sink, fault::Phase::kPcie, fault::Action::kResume, false);
  fault::print_decision(sink, fault::Phase::kVerify, fault::Action::kReboot, false);
  fault::print_decision(sink, fault::Phase::kPostVerify, fault::Action::kHalt, false);
  fault::print_decision(sink, fault::Phase::kPcie, fault::Action::kHalt, true);
  EXPECT_EQ(sink.text,
            "fault in the pcie phase: abandoning it; going on to the jump\n"
            "rebooting: fault in the verify phase (--on-fault=reboot); not jumping\n"
            "halting: fault in the post-verify phase (--on-fault=halt); not jumping\n"
            "halting: fault inside the fault handler (--on-fault=halt); not jumping\n");
}

TEST_F(FlowTest, PhasesAreAnnouncedInOrder) {
  EXPECT_EQ(run(), Outcome::kJump);
  using fault::Phase;
  const std::vector<Phase> expected{Phase::kSetup, Phase::kVerify, Phase::kPcie, Phase::kPostVerify, Phase::kReport,
                                    Phase::kLeave};
  EXPECT_EQ(m.phases, expected);
  EXPECT_EQ(m.faults, 0);
}

TEST_F(FlowTest, FaultWhileWritingTheReportSkipsItAndJumps) {
  vars.backup_start = kMemBase;
  vars.backup_src_start = kMemBase + 0x1000;
  vars.backup_src_size = 0x10;
  m.fault_in_report = true;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_EQ(m.faults, 1);
  EXPECT_TRUE(has_line("limbo: report: abandoned after a fault; the command line may lack it"));
  EXPECT_FALSE(has_line_starting("limbo: report \""));
  EXPECT_TRUE(has_line_starting("limbo: backup: copied 0x10 bytes"));  // before the report: done
  EXPECT_TRUE(has_line_starting("limbo: jumping to 0x1000200 "));
  EXPECT_EQ(cmdline(), "console=ttyS0 root=/dev/ram");
  EXPECT_TRUE(guard_intact());
}

// Two ports, the NIC's and a second one's: the fault hits with both in
// Secondary Bus Reset (just after the second assert).
class FlowPcieFaultTest : public FlowPcieTest {
 protected:
  void SetUp() override {
    FlowPcieTest::SetUp();
    using namespace pcie::testing;
    m.fabric.add(bdf(0, 3), root_port(2, 2));
    m.fabric.add(bdf(2, 0), endpoint(0x8086, 0x10d3, 0x020000));
    m.fabric.program16(bdf(2, 0), pcie::Command::kOffset, 0x0006);
    m.fabric.program32(bdf(2, 0), 0x10, 0xfeb00000);
    vars.backup_start = kMemBase;
    vars.backup_src_start = kMemBase + 0x1000;
    vars.backup_src_size = 0x20;
  }
  bool in_reset(uint8_t device) {
    return pcie::BridgeControl::from_value(static_cast<uint16_t>(
                                               m.fabric.peek(pcie::testing::bdf(0, device), pcie::BridgeControl::kOffset, 2)))
        .secondary_bus_reset();
  }
};

TEST_F(FlowPcieFaultTest, FaultWithPortsInResetClearsEveryOneReportsAndJumps) {
  m.fault_on_assert = 2;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_EQ(m.faults, 1);
  EXPECT_FALSE(in_reset(2));
  EXPECT_FALSE(in_reset(3));
  EXPECT_TRUE(has_line("limbo: pcie: abandoned: cleared Secondary Bus Reset on 2 ports; settle 100 ms; endpoints not restored"));
  // The endpoints were reset and not restored: BAR0 and Command read as reset left them.
  EXPECT_EQ(m.fabric.peek(pcie::testing::bdf(1, 0), 0x10, 4), 0u);
  EXPECT_EQ(m.fabric.peek(pcie::testing::bdf(2, 0), pcie::Command::kOffset, 2), 0u);
  // The per-function lines never came: the phase was abandoned mid-sequence.
  EXPECT_FALSE(has_line_starting("limbo: pcie 0000:01:00.0"));
  EXPECT_TRUE(report.pcie_fault);
  EXPECT_NE(cmdline().find(" limbo=v3,verify:ok,pcie:fault,ms:"), std::string::npos) << cmdline();
  EXPECT_TRUE(has_line_starting("limbo: backup: copied 0x20 bytes"));
  EXPECT_TRUE(has_line_starting("limbo: jumping to 0x1000200 "));
  using fault::Phase;
  const std::vector<Phase> expected{Phase::kSetup,      Phase::kVerify, Phase::kPcie, Phase::kPcieUndo,
                                    Phase::kPostVerify, Phase::kReport, Phase::kLeave};
  EXPECT_EQ(m.phases, expected);
  // The settle time after the clear was waited: at least 100 ms of TSC.
  const auto lines = m.lines();
  size_t abandoned = lines.size(), backup = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("limbo: pcie: abandoned:", 0) == 0) abandoned = i;
    if (lines[i].rfind("limbo: backup:", 0) == 0) backup = i;
  }
  EXPECT_LT(abandoned, backup);
  // The phase's time includes the undo's 100 ms settle (the flow's clock: 1 GHz, 1 us per read).
  bool timed = false;
  for (const auto& line : lines) {
    const auto at = line.find(" us, pcie ");
    if (line.rfind("limbo: times: verify ", 0) != 0 || at == std::string::npos) continue;
    const uint64_t pcie_us = std::stoull(line.substr(at + std::strlen(" us, pcie ")));
    EXPECT_GE(pcie_us, 100000u) << line;
    EXPECT_LT(pcie_us, 1000000u) << line;
    timed = true;
  }
  EXPECT_TRUE(timed);
}

TEST_F(FlowPcieFaultTest, FaultAfterTheFirstAssertClearsOnlyThatPort) {
  m.fault_on_assert = 1;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_FALSE(in_reset(2));
  EXPECT_FALSE(in_reset(3));
  EXPECT_TRUE(has_line("limbo: pcie: abandoned: cleared Secondary Bus Reset on 1 port; settle 100 ms; endpoints not restored"));
  EXPECT_EQ(m.fabric.peek(pcie::testing::bdf(2, 0), 0x10, 4), 0xfeb00000u);  // the second port never asserted
  EXPECT_NE(cmdline().find(" limbo=v3,verify:ok,pcie:fault,ms:"), std::string::npos) << cmdline();
}

TEST_F(FlowPcieFaultTest, FaultBeforeAnyResetLeavesNothingToClear) {
  m.fault_on_reads = true;  // discovery's first read
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_EQ(m.faults, 1);
  EXPECT_TRUE(has_line("limbo: pcie: abandoned: no port was left in reset"));
  EXPECT_EQ(m.fabric.peek(pcie::testing::bdf(1, 0), 0x10, 4), 0xfebc0000u);  // untouched
  EXPECT_NE(cmdline().find(" limbo=v3,verify:ok,pcie:fault,ms:"), std::string::npos) << cmdline();
}

TEST_F(FlowPcieFaultTest, FaultInTheUndoIsSaidAndTheJumpStillHappens) {
  m.fault_on_assert = 2;
  m.fault_on_clear = true;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_EQ(m.faults, 2);
  EXPECT_TRUE(has_line("limbo: pcie: abandoned: a fault while clearing Secondary Bus Reset; a port may stay in reset"));
  EXPECT_TRUE(in_reset(2));  // what this test's fault left: said, not hidden
  EXPECT_NE(cmdline().find(" limbo=v3,verify:ok,pcie:fault,ms:"), std::string::npos) << cmdline();
  EXPECT_TRUE(has_line_starting("limbo: jumping to 0x1000200 "));
}

// ---- --pcie-order=overlap ------------------------------------------------

class FlowOverlapTest : public FlowPcieFaultTest {
 protected:
  void SetUp() override {
    FlowPcieFaultTest::SetUp();
    vars.limbo_config.pcie.order = static_cast<uint32_t>(abi::PcieOrder::kOverlap);
    g_hashing_machine = &m;
    g_block_cost_us = 0;
    g_first_hash_us = g_last_hash_us = 0;
    m.engine = timed_compress;
  }
  void TearDown() override { g_hashing_machine = nullptr; }
  // Every Secondary Bus Reset write, in order: (time, asserted).
  std::vector<std::pair<uint64_t, bool>> bridge_writes() {
    std::vector<std::pair<uint64_t, bool>> out;
    for (const auto& a : m.fabric.log) {
      if (a.write && a.offset == pcie::BridgeControl::kOffset) {
        out.emplace_back(a.time_us, pcie::BridgeControl::from_value(static_cast<uint16_t>(a.value)).secondary_bus_reset());
      }
    }
    return out;
  }
  uint64_t times_field(const char* name) {
    for (const auto& line : m.lines()) {
      if (line.rfind("limbo: times: verify ", 0) != 0) continue;
      const auto at = line.find(std::string(" ") + name + " ");
      if (at != std::string::npos) return std::stoull(line.substr(at + std::strlen(name) + 2));
      if (line.rfind(std::string("limbo: times: ") + name + " ", 0) == 0)
        return std::stoull(line.substr(std::strlen("limbo: times: ") + std::strlen(name) + 1));
    }
    return UINT64_MAX;
  }
};

TEST_F(FlowOverlapTest, EveryAssertBeforeTheFirstHashedByteNoEndpointReadBeforeItsSettleRestoreAfterReady) {
  g_block_cost_us = 100;  // ~270 blocks: a 27 ms verification, inside the 100 ms settle
  EXPECT_EQ(run(), Outcome::kJump);
  const auto writes = bridge_writes();
  ASSERT_EQ(writes.size(), 4u);
  uint64_t last_clear = 0;
  for (const auto& [t, asserted] : writes) {
    EXPECT_LT(t, g_first_hash_us) << "a port reset after the first hashed byte";
    if (!asserted) last_clear = t;
  }
  ASSERT_NE(g_first_hash_us, 0u);
  for (uint8_t bus : {1, 2}) {
    uint64_t first_read = 0, answered = 0, restored = 0;
    for (const auto& a : m.fabric.log) {
      if (!pcie::operator==(a.address, pcie::testing::bdf(bus, 0)) || a.time_us <= writes.front().first) continue;
      if (first_read == 0) first_read = a.time_us;
      if (!a.write && a.offset == pcie::VendorId::kOffset && (a.value & 0xffff) == 0x8086 && answered == 0) answered = a.time_us;
      if (a.write && a.offset == 0x10 && restored == 0) restored = a.time_us;
    }
    EXPECT_GE(first_read, last_clear + 100000) << "bus " << int(bus);
    EXPECT_GE(first_read, g_last_hash_us) << "bus " << int(bus);
    EXPECT_GT(restored, answered) << "bus " << int(bus);
  }
  EXPECT_EQ(m.fabric.peek(pcie::testing::bdf(1, 0), 0x10, 4), 0xfebc0000u);
  EXPECT_EQ(m.fabric.peek(pcie::testing::bdf(2, 0), 0x10, 4), 0xfeb00000u);
  // The console: the order said before verification, the verdict before the
  // per-function lines, the backup copy before them too (inside the settle).
  const size_t order = index_of_line_starting("limbo: pcie: order overlap: devices reset first");
  const size_t engine = index_of_line_starting("limbo: sha256: portable");
  const size_t verified = index_of_line_starting("limbo: sha256: ok");
  const size_t backup = index_of_line_starting("limbo: backup: copied 0x20 bytes");
  const size_t functions = index_of_line_starting("limbo: pcie 0000:01:00.0 8086:10d3 class 020000 reset ok ready ");
  const size_t reported = index_of_line_starting("limbo: report \"");
  EXPECT_LT(order, engine);
  EXPECT_LT(verified, backup);
  EXPECT_LT(backup, functions);
  EXPECT_LT(functions, reported);
  EXPECT_LT(reported, m.lines().size());
  EXPECT_NE(cmdline().find(" limbo=v3,verify:ok,reset:2,stop:0,skip:1,fail:0,ms:"), std::string::npos) << cmdline();
  // The settle time waited out what the verification left of it: exactly 100 ms from the clear.
  EXPECT_TRUE(has_line_starting("limbo: pcie: timeline: assert ")) ;
  bool settle = false;
  for (const auto& line : m.lines()) {
    if (line.rfind("limbo: pcie: timeline: ", 0) == 0) settle = line.find(" settle to 100000 us, ") != std::string::npos;
  }
  EXPECT_TRUE(settle);
  // The DMA window ends at the last assert, before the verification; the
  // PCIe step spans it.
  const uint64_t window = times_field("dma window");
  const uint64_t verify = times_field("verify");
  const uint64_t pcie = times_field("pcie");
  EXPECT_LT(window, verify) << window;
  EXPECT_GE(pcie, 100000u);
  EXPECT_LT(pcie, 100000u + 20000u);  // about the settle time: the verification ran inside it
}

// About 80 ms of verification: overlap takes the longer of verify and
// settle + ready, serial their sum (the bound: max + 15 ms).
TEST_F(FlowOverlapTest, OverlapTakesTheLongerOfVerifyAndReset) {
  // As under TCG: the TSC not invariant, the PIT the clock (checked to
  // count, not calibrated: no 10 ms inside the DMA window).
  m.invariant_tsc = false;
  m.io_.pit_time_us = [this] {
    m.fabric_clock.advance(1);
    return m.fabric_clock.peek();
  };
  g_block_cost_us = 300;
  EXPECT_EQ(run(), Outcome::kJump);
  const uint64_t verify = times_field("verify");
  const uint64_t total = times_field("total");
  EXPECT_GT(verify, 70000u);
  EXPECT_LT(times_field("dma window"), 10000u);  // closed before the verification
  EXPECT_LE(total, std::max<uint64_t>(verify, 100000) + 15000) << total;
  EXPECT_TRUE(has_line_starting("limbo: pcie: delays on the pit (tsc not invariant; tsc 1000000 kHz from the loader; "
                                "the pit counts, not measured against it)"));
}

TEST_F(FlowOverlapTest, SerialTakesVerifyPlusReset) {
  vars.limbo_config.pcie.order = static_cast<uint32_t>(abi::PcieOrder::kSerial);
  g_block_cost_us = 300;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line_starting("limbo: pcie: order serial: the image verified first"));
  const uint64_t verify = times_field("verify");
  EXPECT_GT(times_field("dma window"), verify);  // the window includes the whole verification
  EXPECT_GE(times_field("total"), verify + 100000);
}

TEST_F(FlowOverlapTest, DamagedImageHaltsAndSaysThePortsWereReset) {
  m.phys(kInitrdAt)[7] ^= 1;  // after the digest
  EXPECT_EQ(run(), Outcome::kHalt);
  const size_t said = index_of_line_starting(
      "limbo: pcie: order overlap: 2 ports reset (2 endpoints below), 0 functions reset by flr or class, 0 stopped "
      "before verification; none restored");
  const size_t halting = index_of_line_starting("limbo: halting: the loaded image failed verification; not jumping");
  EXPECT_LT(said, halting);
  EXPECT_LT(halting, m.lines().size());
  // In reset before the verdict, and not restored after it; no port left asserted.
  EXPECT_FALSE(in_reset(2));
  EXPECT_FALSE(in_reset(3));
  EXPECT_EQ(m.fabric.peek(pcie::testing::bdf(1, 0), 0x10, 4), 0u);
  EXPECT_EQ(m.fabric.fn(pcie::testing::bdf(1, 0)).resets, 1u);
  EXPECT_FALSE(has_line_starting("limbo: jumping"));
  EXPECT_FALSE(has_line_starting("limbo: backup:"));
  EXPECT_EQ(cmdline(), "console=ttyS0 root=/dev/ram");
}

TEST_F(FlowOverlapTest, DamagedImageRebootsWhenConfiguredAndSaysThePortsWereReset) {
  m.phys(kKernelAt)[0] ^= 1;
  vars.limbo_config.on_corruption = static_cast<uint32_t>(abi::OnCorruption::kReboot);
  EXPECT_EQ(run(), Outcome::kReboot);
  const size_t said = index_of_line_starting("limbo: pcie: order overlap: 2 ports reset");
  const size_t rebooting = index_of_line_starting("limbo: rebooting: the loaded image failed verification");
  EXPECT_LT(said, rebooting);
  EXPECT_LT(rebooting, m.lines().size());
  EXPECT_EQ(m.fabric.fn(pcie::testing::bdf(2, 0)).resets, 1u);
}

TEST_F(FlowOverlapTest, SerialDamagedImageTouchesNoDevice) {
  vars.limbo_config.pcie.order = static_cast<uint32_t>(abi::PcieOrder::kSerial);
  m.phys(kInitrdAt)[7] ^= 1;
  EXPECT_EQ(run(), Outcome::kHalt);
  EXPECT_EQ(m.fabric.reads + m.fabric.writes, 0u);
  EXPECT_FALSE(has_line_starting("limbo: pcie: order"));
}

TEST_F(FlowOverlapTest, FaultWhileAssertingBeforeVerificationClearsThePortsAndStillVerifies) {
  m.fault_on_assert = 2;
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_EQ(m.faults, 1);
  EXPECT_FALSE(in_reset(2));
  EXPECT_FALSE(in_reset(3));
  EXPECT_TRUE(has_line("limbo: pcie: abandoned: cleared Secondary Bus Reset on 2 ports; settle 100 ms; endpoints not restored"));
  EXPECT_LT(index_of_line_starting("limbo: pcie: abandoned:"), index_of_line_starting("limbo: sha256: ok"));
  EXPECT_NE(cmdline().find(" limbo=v3,verify:ok,pcie:fault,ms:"), std::string::npos) << cmdline();
  using fault::Phase;
  const std::vector<Phase> expected{Phase::kSetup,      Phase::kPcie,   Phase::kPcieUndo, Phase::kVerify,
                                    Phase::kPostVerify, Phase::kReport, Phase::kLeave};
  EXPECT_EQ(m.phases, expected);
}

TEST_F(FlowOverlapTest, PhasesAreAnnouncedInTheOverlappedOrder) {
  EXPECT_EQ(run(), Outcome::kJump);
  using fault::Phase;
  const std::vector<Phase> expected{Phase::kSetup, Phase::kPcie,       Phase::kVerify, Phase::kPostVerify,
                                    Phase::kPcie,  Phase::kPostVerify, Phase::kReport, Phase::kLeave};
  EXPECT_EQ(m.phases, expected);
}

// The delays on the PIT (no invariant TSC, as under TCG): counter 2 wraps
// every 65,536 input clocks (54.9 ms). A 2 s hash in 64 KiB chunks of 41 ms
// each reads it between chunks, so the step's clock sees every turn: the
// timeline's "ready at" is the fabric's real time from the clear to the
// first endpoint read, not that time modulo 55 ms.
TEST_F(FlowOverlapTest, PitTimeAccumulatesAcrossALongHashThatWrapsItManyTimes) {
  constexpr uint64_t kBig = 0x300000;  // 3 MiB of zeros: 48 chunks of 64 KiB
  constexpr uint64_t kBigAt = 0x140000;
  m.memory_.resize(kBigAt - kMemBase + kBig, 0);
  vars.sha256_regions[2] = {kBigAt, kBig};
  sha256::Hasher h;
  h.update(m.phys(kKernelAt), kKernelLen);
  h.update(m.phys(kInitrdAt), kInitrdLen);
  h.update(m.phys(kBigAt), kBig);
  const sha256::Digest d = h.finish();
  std::memcpy(vars.sha256_digest, d.bytes, sizeof(d.bytes));
  m.invariant_tsc = false;
  // The PIT runs on the fabric's time; each latch costs a microsecond.
  m.io_.pit_time_us = [this] {
    m.fabric_clock.advance(1);
    return m.fabric_clock.peek();
  };
  g_block_cost_us = 40;  // 1024 blocks per chunk: 41 ms, inside one 55 ms turn
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_TRUE(has_line_starting("limbo: pcie: delays on the pit (tsc not invariant;"));
  const uint64_t hashing_us = g_last_hash_us - g_first_hash_us;
  EXPECT_GT(hashing_us, 30 * 54925u) << "the hash must wrap the PIT many times";
  uint64_t last_clear = 0, first_read = 0;
  for (const auto& [t, asserted] : bridge_writes())
    if (!asserted) last_clear = t;
  for (const auto& a : m.fabric.log) {
    if (pcie::operator==(a.address, pcie::testing::bdf(1, 0)) && a.time_us > last_clear && first_read == 0) first_read = a.time_us;
  }
  ASSERT_GT(first_read, last_clear);
  uint64_t ready_at = 0;
  for (const auto& line : m.lines()) {
    if (line.rfind("limbo: pcie: timeline: ", 0) != 0) continue;
    const auto at = line.find(" ready at ");
    ASSERT_NE(at, std::string::npos) << line;
    ready_at = std::stoull(line.substr(at + 10));
  }
  const uint64_t truth = first_read - last_clear;
  EXPECT_GT(truth, hashing_us);
  // Within 1 ms of the truth (PIT ticks are 0.84 us; the latches' own microseconds).
  EXPECT_LE(ready_at, truth + 1000) << "ready at " << ready_at << " us, truth " << truth << " us";
  EXPECT_GE(ready_at + 1000, truth) << "ready at " << ready_at << " us, truth " << truth << " us";
  EXPECT_FALSE(has_line_starting("limbo: pcie: the pit stopped counting"));
  EXPECT_GT(m.io_.pit_latches, 48u);
}

// Nothing reaches the console before the devices are in reset under
// overlap (the lines are held), and every line still comes, in order.
TEST_F(FlowOverlapTest, LinesBeforeTheResetAreHeldUntilItThenAllComeInOrder) {
  EXPECT_EQ(run(), Outcome::kJump);
  EXPECT_EQ(m.serial_at_first_assert, 0u) << m.serial();
  const std::vector<size_t> order{
      index_of_line_starting("limbo: Limbo purgatory "), index_of_line_starting("limbo: tsc 1000000 kHz"),
      index_of_line_starting("limbo: paging: own identity tables"), index_of_line_starting("limbo: pcie: delays on "),
      index_of_line_starting("limbo: pcie: order overlap: ")};
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_LT(order[i], m.lines().size()) << i;
    if (i > 0) {
      EXPECT_EQ(order[i], order[i - 1] + 1) << i << "\n" << m.serial();
    }
  }
  EXPECT_LT(order.back(), index_of_line_starting("limbo: sha256: "));
  // Where the window went: its parts add up to the times: line's figure.
  const size_t window_line = index_of_line_starting("limbo: pcie: dma window ");
  ASSERT_LT(window_line, m.lines().size());
  EXPECT_EQ(window_line, order.back() + 1);
  uint64_t parts = 0, window = 0;
  {
    std::string line = m.lines()[window_line];
    window = std::stoull(line.substr(std::strlen("limbo: pcie: dma window ")));
    for (const char* part : {"to the pcie step ", "discovery and policy ", "functions stopped or started ",
                             "ports read and endpoints saved ", "asserts "}) {
      const auto at = line.find(part);
      ASSERT_NE(at, std::string::npos) << part << " in " << line;
      parts += std::stoull(line.substr(at + std::strlen(part)));
    }
    EXPECT_NE(line.find(" config reads)"), std::string::npos) << line;
  }
  EXPECT_EQ(parts, window);
  EXPECT_EQ(window, times_field("dma window"));
  EXPECT_LT(index_of_line_starting("limbo: sha256: ok"), index_of_line_starting("limbo: times: "));
  EXPECT_LT(index_of_line_starting("limbo: times: "), m.lines().size());
  EXPECT_FALSE(m.console_.holding());
}

TEST_F(FlowOverlapTest, SerialOrderPrintsAsItGoes) {
  vars.limbo_config.pcie.order = static_cast<uint32_t>(abi::PcieOrder::kSerial);
  EXPECT_EQ(run(), Outcome::kJump);
  ASSERT_NE(m.serial_at_first_assert, SIZE_MAX);
  const std::string before = m.serial().substr(0, m.serial_at_first_assert);
  EXPECT_NE(before.find("limbo: sha256: ok"), std::string::npos) << before;
  EXPECT_NE(before.find("limbo: pcie: order serial: "), std::string::npos) << before;
}

// With an invariant TSC and a counting PIT, overlap does not
// calibrate before the reset (10 ms inside the DMA window): the PIT times the
// hold and the clear, the TSC is measured against it during the settle time
// and takes over; the settle time is still 100 ms of real time.
TEST_F(FlowOverlapTest, InvariantTscIsMeasuredDuringTheSettleTimeNotBeforeTheReset) {
  // A free-running counter 2 on the fabric's time; each latch a microsecond
  // on both the fabric and the TSC (which stay one clock at 1 GHz).
  m.io_.pit_time_us = [this] {
    m.fabric_clock.advance(1);
    m.tsc_ += kTscHz / 1000000;
    return m.fabric_clock.peek();
  };
  g_block_cost_us = 100;  // a 27 ms verification
  EXPECT_EQ(run(), Outcome::kJump);
  // No mode 0 programming (calibrate_tsc_hz) at all, before the reset or after.
  for (const auto& w : m.io_.writes_to(clock::kPitControl)) {
    const auto word = clock::PitControlWord::from_value(w.value);
    if (word.read_write() != clock::kAccessLatch) {
      EXPECT_EQ(word.mode(), clock::kPitMode2);
    }
  }
  EXPECT_TRUE(has_line("limbo: pcie: delays on the pit until the tsc is measured against it (invariant tsc, measured "
                       "against the pit while the devices settle; tsc 1000000 kHz from the loader)"));
  EXPECT_TRUE(has_line_starting("limbo: pcie: delays on the tsc from "));
  const std::vector<std::string> lines = m.lines();
  size_t switched = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.rfind("limbo: pcie: delays on the tsc from ", 0) != 0) continue;
    switched = i;
    EXPECT_NE(line.find(" ms after the clear (invariant tsc agrees with the pit; tsc 1000000 kHz from the loader, "),
              std::string::npos) << line;
    EXPECT_NE(line.find(" kHz against the pit, measured while the devices settled)"), std::string::npos) << line;
  }
  EXPECT_LT(index_of_line_starting("limbo: sha256: ok"), switched);
  EXPECT_LT(times_field("dma window"), 5000u);  // no 10 ms calibration in it
  // The settle time counted across the switch: 100 ms of the fabric's time.
  uint64_t last_clear = 0, first_read = 0;
  for (const auto& [t, asserted] : bridge_writes())
    if (!asserted) last_clear = t;
  for (const auto& a : m.fabric.log) {
    if (pcie::operator==(a.address, pcie::testing::bdf(1, 0)) && a.time_us > last_clear && first_read == 0) first_read = a.time_us;
  }
  EXPECT_GE(first_read, last_clear + 100000);
  EXPECT_LE(first_read, last_clear + 100000 + 2000);
}

// What the exception handler prints when a fault stops the run
// between the halves (verification, the backup copy): the damaged-image
// line, from the workspace; nothing once the second half has run.
TEST_F(FlowOverlapTest, AStopBetweenTheHalvesSaysThePortsWereResetAFinishedRunSaysNothing) {
  m.phys(kInitrdAt)[7] ^= 1;
  EXPECT_EQ(run(), Outcome::kHalt);
  testing::StringSink said;
  EXPECT_TRUE(print_left_in_reset_by_overlap(said, m.pcie_workspace()));
  EXPECT_EQ(said.text,
            "pcie: order overlap: 2 ports reset (2 endpoints below), 0 functions reset by flr or class, 0 stopped "
            "before verification; none restored\n");
}

TEST_F(FlowOverlapTest, AFinishedOverlapRunLeavesNothingToSayOnAFault) {
  EXPECT_EQ(run(), Outcome::kJump);
  testing::StringSink said;
  EXPECT_FALSE(print_left_in_reset_by_overlap(said, m.pcie_workspace()));
  EXPECT_EQ(said.text, "");
}

static_assert(Machine<FakeMachine>);

}  // namespace
}  // namespace limbo::flow
