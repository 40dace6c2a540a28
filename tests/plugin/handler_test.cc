// SPDX-License-Identifier: GPL-2.0-only
// The plugin's handler driven with a recording fake in place of the kexec_load
// system call (never the kernel's), plus /proc/iomem parsing, hole search and
// limbo-kexec's argument parsing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <fstream>
#include <sstream>

#include "arguments_helpers.h"
#include "cli/arguments.h"
#include "fake_sysfs.h"
#include "kexec/memory_map.h"
#include "kexec/replace.h"
#include "kexec/sha256_engine.h"
#include "kexec/tsc.h"
#include "lib/cpu_features.h"
#include "objects.h"
#include "pcie/settings.h"
#include "plugin/handler.h"
#include "plugin/resources.h"
#include "synthetic_load.h"

// Live C++ allocations of the whole test binary (the plugin's core is linked
// in): RepeatedLoadsHoldNoDescriptorOrHeap compares them exactly.
std::atomic<long> live_allocations{0};

void* operator new(std::size_t size) {
  void* p = std::malloc(size ? size : 1);
  if (p == nullptr) throw std::bad_alloc();
  live_allocations.fetch_add(1, std::memory_order_relaxed);
  return p;
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  live_allocations.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { operator delete(p); }
// The nothrow forms too (std::stable_sort's temporary buffer uses them):
// one allocator for every form, or ASan sees its own nothrow new freed here.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  void* p = std::malloc(size ? size : 1);
  if (p != nullptr) live_allocations.fetch_add(1, std::memory_order_relaxed);
  return p;
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p, const std::nothrow_t&) noexcept { operator delete(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { operator delete(p); }

namespace limbo::test {
namespace {

struct Recorded {
  int calls = 0;
  unsigned long entry = 0, nr = 0, flags = 0;
  std::vector<kexec_segment> segments;
  std::vector<std::vector<uint8_t>> contents;
  long result = 0;
  int error = 0;
  int refuse_first_with = 0;
};
Recorded recorded;

long fake_kexec_load(unsigned long entry, unsigned long nr, const kexec_segment* segments, unsigned long flags) {
  ++recorded.calls;
  // The kernel refusing only the first call (Limbo's segments), accepting the next (the stock fallback).
  if (recorded.refuse_first_with != 0 && recorded.calls == 1) {
    errno = recorded.refuse_first_with;
    return -1;
  }
  recorded.entry = entry;
  recorded.nr = nr;
  recorded.flags = flags;
  recorded.segments.assign(segments, segments + nr);
  recorded.contents.clear();
  for (unsigned long i = 0; i < nr; ++i) {
    const auto* b = static_cast<const uint8_t*>(segments[i].buf);
    recorded.contents.emplace_back(b, b + segments[i].bufsz);
  }
  errno = recorded.error;
  return recorded.result;
}

class Handler : public ::testing::Test {
 protected:
  void SetUp() override {
    recorded = Recorded{};
    char iomem_name[] = "/tmp/limbo-iomem-XXXXXX";
    const int fd = mkstemp(iomem_name);
    ASSERT_GE(fd, 0);
    close(fd);
    iomem_path_ = iomem_name;
    std::ofstream(iomem_path_) << "00001000-0009fbff : System RAM\n00100000-bfffffff : System RAM\n"
                                  "  01000000-03ffffff : Crash kernel\n";
    ASSERT_EQ(pipe(status_), 0);
    log_ = tmpfile();
    settings_.purgatory_path = LIMBO_TEST_FIXTURE;
    settings_.kexec_binary = kexec_path();
    settings_.iomem_path = iomem_path_;
    settings_.status_fd = status_[1];
    // Hermetic: no ECAM from this host (tests that want PCIe give a fake tree).
    settings_.mcfg_path = "/nonexistent/MCFG";
    settings_.sysfs_root = "/nonexistent/sys";
    // The load record goes to a directory of the test's own, never /run/limbo.
    char run_dir[] = "/tmp/limbo-run-XXXXXX";
    ASSERT_NE(mkdtemp(run_dir), nullptr);
    run_dir_ = run_dir;
    std::snprintf(settings_.fallback.run_dir, sizeof(settings_.fallback.run_dir), "%s", run_dir);
    std::snprintf(settings_.fallback.record_file, sizeof(settings_.fallback.record_file), "%s/crash-kernel", run_dir);
  }
  void TearDown() override {
    unlink(settings_.fallback.record_file);
    rmdir(run_dir_.c_str());
    unlink(iomem_path_.c_str());
    close(status_[0]);
    if (status_[1] >= 0) close(status_[1]);
    fclose(log_);
  }
  std::string status() {
    close(status_[1]);
    status_[1] = -1;
    std::string out;
    char buffer[256];
    ssize_t n;
    while ((n = read(status_[0], buffer, sizeof(buffer))) > 0) out.append(buffer, n);
    return out;
  }
  std::string log() {
    fflush(log_);
    rewind(log_);
    std::string out;
    char buffer[256];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), log_)) > 0) out.append(buffer, n);
    return out;
  }
  long call(const SyntheticLoad& load, unsigned long flags) {
    std::vector<kexec_segment> segments;
    for (const auto& s : load.segments) segments.push_back(s.to_kernel());
    return plugin::handle_kexec_load(settings_, load.entry, segments.size(), segments.data(), flags, fake_kexec_load, log_);
  }

  std::string iomem_path_;
  std::string run_dir_;
  int status_[2] = {-1, -1};
  FILE* log_ = nullptr;
  plugin::Settings settings_;
};

TEST_F(Handler, CrashLoadGoesThroughLimbo) {
  SyntheticLoad load(stock_raw());
  const unsigned long flags = KEXEC_ON_CRASH | KEXEC_ARCH_X86_64;
  ASSERT_EQ(call(load, flags), 0) << log();
  ASSERT_EQ(recorded.calls, 1);
  EXPECT_EQ(recorded.flags, flags);
  EXPECT_EQ(recorded.nr, 4u);
  const RawElf limbo = fixture_raw();
  EXPECT_EQ(recorded.entry, SyntheticLoad::kPurgatory + limbo.image_offset("purgatory_start"));
  EXPECT_EQ(reinterpret_cast<uint64_t>(recorded.segments[1].mem), SyntheticLoad::kPurgatory);
  EXPECT_EQ(recorded.segments[1].bufsz, limbo.layout().bufsz);
  // The TSC measured at load time is in the config block.
  abi::Config config;
  std::memcpy(&config, recorded.contents[1].data() + limbo.image_offset("limbo_config"), sizeof(config));
  EXPECT_EQ(config.magic, abi::kConfigMagic);
  EXPECT_GT(config.tsc_hz, 100'000'000u);
  const std::string line = log();
  EXPECT_NE(line.find("limbo: loaded Limbo purgatory ("), std::string::npos) << line;
  EXPECT_NE(line.find("for a crash kernel; stock purgatory replaced"), std::string::npos) << line;
  char expected[128];
  std::snprintf(expected, sizeof(expected), "limbo-status: ok 0x%lx 0x%llx ", recorded.entry,
                static_cast<unsigned long long>(SyntheticLoad::kPurgatory));
  EXPECT_EQ(status().rfind(expected, 0), 0u);
}

// The handler gives back what it takes. Its first calls may leave
// one-time allocations of libc and libelf behind (measured: ~54 KB at the
// first); from then on each load and each refused load must leave the
// process with the descriptors it had, the same number of live C++
// allocations (counted exactly by this binary's operator new/delete), and
// the heap within 2 KiB over 8 calls: malloc may hand the same requests slightly
// larger chunks depending on what is free (up to 160 bytes seen after
// another test ran), so the heap has a small budget, the counts none.
TEST_F(Handler, RepeatedLoadsHoldNoDescriptorOrHeap) {
  SyntheticLoad load(stock_raw());
  const unsigned long flags = KEXEC_ON_CRASH | KEXEC_ARCH_X86_64;
  auto refused_call = [&] {
    settings_.purgatory_path = "/nonexistent/purgatory.ro";
    const long result = call(load, flags);
    settings_.purgatory_path = LIMBO_TEST_FIXTURE;
    return result;
  };
  for (int warm = 0; warm < 2; ++warm) {
    ASSERT_EQ(call(load, flags), 0) << log();
    ASSERT_NE(refused_call(), 0);
  }
  const plugin::ResourceUse start = plugin::resource_use();
  for (int round = 0; round < 4; ++round) {
    const plugin::ResourceUse before = plugin::resource_use();
    const long live_before = live_allocations.load();
    ASSERT_EQ(call(load, flags), 0);
    const long live_loaded = live_allocations.load();
    const plugin::ResourceUse loaded = plugin::resource_use();
    ASSERT_NE(refused_call(), 0);
    const long live_after = live_allocations.load();
    const plugin::ResourceUse after = plugin::resource_use();
    ASSERT_GT(before.fds, 0);
    EXPECT_EQ(loaded.fds, before.fds) << "round " << round << ": a load";
    EXPECT_EQ(after.fds, before.fds) << "round " << round << ": a refused load";
    EXPECT_EQ(live_loaded, live_before) << "round " << round << ": a load";
    EXPECT_EQ(live_after, live_before) << "round " << round << ": a refused load";
  }
  const plugin::ResourceUse end = plugin::resource_use();
  EXPECT_LE(end.heap, start.heap + 2048) << "8 calls grew the heap by " << end.heap - start.heap << " bytes";
}

// LIMBO_TEST_FULL_HASH (bench-switch's reference): the config block carries
// no per-segment checks, so the purgatory falls back to the full hash.
TEST_F(Handler, FullHashLeavesThePerSegmentChecksOut) {
  SyntheticLoad load(stock_raw());
  const unsigned long flags = KEXEC_ON_CRASH | KEXEC_ARCH_X86_64;
  const RawElf limbo = fixture_raw();
  auto check_count = [&] {
    abi::Config config;
    std::memcpy(&config, recorded.contents[1].data() + limbo.image_offset("limbo_config"), sizeof(config));
    return config.segment_check_count;
  };
  ASSERT_EQ(call(load, flags), 0) << log();
  EXPECT_GT(check_count(), 0u);
  settings_.test.full_hash = true;
  ASSERT_EQ(call(load, flags), 0) << log();
  EXPECT_EQ(check_count(), 0u);
}

TEST_F(Handler, DryRunDoesNotCallKexecLoad) {
  SyntheticLoad load(stock_raw());
  settings_.dry_run = true;
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0);
  EXPECT_EQ(recorded.calls, 0);
  EXPECT_NE(log().find("limbo: dry run: kexec_load("), std::string::npos);
  EXPECT_EQ(status().rfind("limbo-status: ok 0x", 0), 0u);
}

TEST_F(Handler, UnloadPassesThrough) {
  ASSERT_EQ(plugin::handle_kexec_load(settings_, 0, 0, nullptr, KEXEC_ON_CRASH, fake_kexec_load, log_), 0);
  EXPECT_EQ(recorded.calls, 1);
  EXPECT_EQ(recorded.nr, 0u);
  EXPECT_EQ(log(), "");
}

TEST_F(Handler, MissingPurgatoryFailsWithEnoentAndNoLoad) {
  SyntheticLoad load(stock_raw());
  settings_.purgatory_path = "/nonexistent/purgatory.ro";
  errno = 0;
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(recorded.calls, 0);
  const std::string text = log();
  EXPECT_EQ(text.rfind("limbo: error: Limbo purgatory /nonexistent/purgatory.ro: No such file or directory\n", 0), 0u) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);  // one line
  EXPECT_EQ(status().rfind("limbo-status: error ", 0), 0u);
}

TEST_F(Handler, BadPurgatoryFailsWithEinval) {
  SyntheticLoad load(stock_raw());
  settings_.purgatory_path = iomem_path_;  // a text file
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(recorded.calls, 0);
  EXPECT_NE(log().find("limbo: error: "), std::string::npos);
}

TEST_F(Handler, NoStockPurgatoryInTheBinary) {
  SyntheticLoad load(stock_raw());
  settings_.kexec_binary = iomem_path_;
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(recorded.calls, 0);
  EXPECT_NE(log().find("limbo: error: no stock purgatory found"), std::string::npos) << log();
}

TEST_F(Handler, RefusedByTheKernelKeepsErrno) {
  SyntheticLoad load(stock_raw());
  recorded.result = -1;
  recorded.error = EPERM;
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(log().find("limbo: error: kexec_load refused Limbo's segments: Operation not permitted"), std::string::npos);
}

// ---- The stock fallback, the load record --------------------------

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

size_t lines_of(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

// The call reached the fake unchanged: kexec-tools' own entry and segments.
void expect_stock_load(const SyntheticLoad& load, unsigned long flags) {
  EXPECT_EQ(recorded.entry, load.entry);
  EXPECT_EQ(recorded.flags, flags);
  ASSERT_EQ(recorded.nr, load.segments.size());
  for (size_t i = 0; i < load.segments.size(); ++i) {
    const kexec_segment want = load.segments[i].to_kernel();
    EXPECT_EQ(recorded.segments[i].buf, want.buf) << i;
    EXPECT_EQ(recorded.segments[i].bufsz, want.bufsz) << i;
    EXPECT_EQ(recorded.segments[i].mem, want.mem) << i;
    EXPECT_EQ(recorded.segments[i].memsz, want.memsz) << i;
    EXPECT_EQ(recorded.contents[i], load.buffers[i]) << i;
  }
}

TEST_F(Handler, FallbackStockLoadsKexecToolsOwnSegmentsWithOneLine) {
  SyntheticLoad load(stock_raw());
  settings_.fallback.stock = true;
  settings_.purgatory_path = "/nonexistent/purgatory.ro";
  const unsigned long flags = KEXEC_ON_CRASH | KEXEC_ARCH_X86_64;
  ASSERT_EQ(call(load, flags), 0) << log();
  ASSERT_EQ(recorded.calls, 1);
  expect_stock_load(load, flags);
  const std::string text = log();
  EXPECT_EQ(text, "limbo: FALLBACK: Limbo NOT loaded (Limbo purgatory /nonexistent/purgatory.ro: No such file or directory); "
                  "kexec-tools' own load goes to the kernel unchanged (stock purgatory)\n");
  EXPECT_EQ(status(), "limbo-status: stock Limbo purgatory /nonexistent/purgatory.ro: No such file or directory\n");
  const std::string record = read_text(settings_.fallback.record_file);
  EXPECT_NE(record.find("\nthrough stock\n"), std::string::npos) << record;
  EXPECT_NE(record.find("\nreason Limbo purgatory /nonexistent/purgatory.ro: No such file or directory\n"), std::string::npos) << record;
}

TEST_F(Handler, FallbackNoneRefusesAndKeepsTheRecordOfTheEarlierLoad) {
  SyntheticLoad load(stock_raw());
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0) << log();
  EXPECT_NE(read_text(settings_.fallback.record_file).find("\nthrough limbo\n"), std::string::npos);
  recorded = Recorded{};
  settings_.purgatory_path = "/nonexistent/purgatory.ro";
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(recorded.calls, 0);  // the kernel keeps the crash kernel it has, and so does the record
  EXPECT_NE(read_text(settings_.fallback.record_file).find("\nthrough limbo\n"), std::string::npos);
}

TEST_F(Handler, ANormalLoadIsNotRecorded) {
  SyntheticLoad load(stock_raw(), /*crash=*/false);
  ASSERT_EQ(call(load, 0), 0) << log();
  EXPECT_NE(access(settings_.fallback.record_file, F_OK), 0);
}

// The kernel refused Limbo's segments: for a crash load it has already freed
// the crash kernel it held, so with stock the same load goes in unchanged.
TEST_F(Handler, KernelRefusalOfLimboFallsBackToStock) {
  SyntheticLoad load(stock_raw());
  settings_.fallback.stock = true;
  settings_.pcie->mode = abi::PcieMode::kOff;  // no ECAM warning: the fallback's line alone
  recorded.refuse_first_with = ENOMEM;
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0) << log();
  ASSERT_EQ(recorded.calls, 2);
  expect_stock_load(load, KEXEC_ON_CRASH);
  const std::string text = log();
  EXPECT_EQ(lines_of(text), 1u) << text;
  EXPECT_EQ(text.rfind("limbo: FALLBACK: Limbo NOT loaded (kexec_load refused Limbo's segments: Cannot allocate memory)", 0), 0u) << text;
}

// ... and with none the record goes (kexec_crash_loaded is 0 now).
TEST_F(Handler, KernelRefusalWithoutFallbackRemovesTheRecord) {
  SyntheticLoad load(stock_raw());
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0) << log();
  ASSERT_EQ(access(settings_.fallback.record_file, F_OK), 0);
  recorded = Recorded{};
  recorded.result = -1;
  recorded.error = EBUSY;
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, EBUSY);
  EXPECT_NE(access(settings_.fallback.record_file, F_OK), 0);
}

TEST_F(Handler, StockRefusedTooIsOneMoreLineAndNoRecord) {
  SyntheticLoad load(stock_raw());
  settings_.fallback.stock = true;
  settings_.purgatory_path = "/nonexistent/purgatory.ro";
  recorded.result = -1;
  recorded.error = EPERM;
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(recorded.calls, 1);
  const std::string text = log();
  EXPECT_EQ(lines_of(text), 2u) << text;
  EXPECT_NE(text.find("\nlimbo: error: the kernel refused the stock load too: Operation not permitted\n"), std::string::npos) << text;
  EXPECT_NE(access(settings_.fallback.record_file, F_OK), 0);
}

TEST_F(Handler, FallbackStockInADryRunLoadsNothing) {
  SyntheticLoad load(stock_raw());
  settings_.fallback.stock = true;
  settings_.dry_run = true;
  settings_.purgatory_path = "/nonexistent/purgatory.ro";
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0);
  EXPECT_EQ(recorded.calls, 0);
  EXPECT_EQ(log().rfind("limbo: FALLBACK: Limbo would NOT be loaded (", 0), 0u);
  EXPECT_NE(access(settings_.fallback.record_file, F_OK), 0);
}

TEST_F(Handler, ABadFallbackWordRefusesEveryLoadToStock) {
  SyntheticLoad load(stock_raw());
  setenv("LIMBO_FALLBACK", "sometimes", 1);
  settings_.fallback = plugin::FallbackPolicy::from_environment();
  unsetenv("LIMBO_FALLBACK");
  std::snprintf(settings_.fallback.run_dir, sizeof(settings_.fallback.run_dir), "%s", run_dir_.c_str());
  std::snprintf(settings_.fallback.record_file, sizeof(settings_.fallback.record_file), "%s/crash-kernel", run_dir_.c_str());
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0);
  expect_stock_load(load, KEXEC_ON_CRASH);
  EXPECT_NE(log().find("(LIMBO_FALLBACK=sometimes: not a fallback: stock or none"), std::string::npos) << log();
}

TEST_F(Handler, UnloadRemovesTheRecord) {
  SyntheticLoad load(stock_raw());
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0) << log();
  ASSERT_EQ(access(settings_.fallback.record_file, F_OK), 0);
  ASSERT_EQ(plugin::handle_kexec_load(settings_, 0, 0, nullptr, KEXEC_ON_CRASH, fake_kexec_load, log_), 0);
  EXPECT_NE(access(settings_.fallback.record_file, F_OK), 0);
}

// ---- PCIe settings through the handler into limbo_config ----------------------

abi::Config config_of_recorded_load() {
  abi::Config config;
  std::memcpy(&config, recorded.contents[1].data() + fixture_raw().image_offset("limbo_config"), sizeof(config));
  return config;
}

// A q35-like system: MCFG with one window, root port 00:01.0 above an NVMe endpoint.
void make_q35_like(FakeSysfs& sys) {
  sys.write("MCFG", make_mcfg({{0xb0000000, 0, 0, 0xff}}));
  const auto host = sys.host_bridge(0, 0);
  const auto port = sys.add({.device = 1, .class_code = 0x060400, .pcie_type = 4, .secondary = 1, .subordinate = 1}, host);
  sys.add({.bus = 1, .vendor = 0x1b36, .device_id = 0x0010, .class_code = 0x010802, .pcie_type = 0}, port);
}

TEST_F(Handler, PcieSettingsReachTheConfigBlock) {
  FakeSysfs sys;
  make_q35_like(sys);
  settings_.mcfg_path = sys.path("MCFG");
  settings_.sysfs_root = sys.root();
  settings_.pcie->settle_ms = 250;
  settings_.pcie->ready_timeout_ms = 3000;
  settings_.pcie->include_display = true;
  settings_.pcie->excluded = *plugin::pcie::parse_excluded("0000:01:00.0");
  SyntheticLoad load(stock_raw());
  ASSERT_EQ(call(load, KEXEC_ON_CRASH | KEXEC_ARCH_X86_64), 0) << log();
  const abi::PcieSettings& p = config_of_recorded_load().pcie;
  EXPECT_EQ(p.mode, static_cast<uint32_t>(abi::PcieMode::kReset));
  EXPECT_EQ(p.flags, abi::kPcieFlagIncludeDisplay);
  EXPECT_EQ(p.settle_ms, 250u);
  EXPECT_EQ(p.ready_timeout_ms, 3000u);
  ASSERT_EQ(p.ecam_count, 1u);
  EXPECT_EQ(p.ecam[0].base, 0xb0000000u);
  EXPECT_EQ(p.ecam[0].end_bus, 0xff);
  ASSERT_EQ(p.root_bus_count, 1u);
  EXPECT_EQ(p.root_buses[0].bus, 0);
  ASSERT_EQ(p.excluded_count, 1u);
  EXPECT_EQ(p.excluded[0].bus, 1);
  EXPECT_EQ(log().find("WARNING"), std::string::npos) << log();
}

TEST_F(Handler, PcieOffLeavesThePartZero) {
  FakeSysfs sys;
  make_q35_like(sys);
  settings_.mcfg_path = sys.path("MCFG");
  settings_.sysfs_root = sys.root();
  settings_.pcie->mode = abi::PcieMode::kOff;
  SyntheticLoad load(stock_raw());
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0) << log();
  const abi::PcieSettings zero{};
  const abi::Config config = config_of_recorded_load();
  EXPECT_EQ(std::memcmp(&config.pcie, &zero, sizeof(zero)), 0);
}

// No MCFG and no ECAM line in /proc/iomem: the capture kernel still loads,
// with PCIe quiesce off, and stderr says so loudly.
TEST_F(Handler, NoEcamLoadsAnywayWithPcieOffAndAWarning) {
  SyntheticLoad load(stock_raw());
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0) << log();
  EXPECT_EQ(recorded.calls, 1);
  EXPECT_EQ(config_of_recorded_load().pcie.mode, static_cast<uint32_t>(abi::PcieMode::kOff));
  const std::string text = log();
  EXPECT_NE(text.find("limbo: WARNING: PCIe quiesce is OFF for this load: no ECAM window (/nonexistent/MCFG: No such file"),
            std::string::npos) << text;
  EXPECT_EQ(status().rfind("limbo-status: ok ", 0), 0u);
}

TEST_F(Handler, BadPcieEnvironmentRefusesEveryLoad) {
  setenv("LIMBO_PCIE_SETTLE_MS", "5", 1);
  const plugin::Settings from_env = plugin::Settings::from_environment();
  unsetenv("LIMBO_PCIE_SETTLE_MS");
  ASSERT_FALSE(from_env.pcie.ok());
  settings_.pcie = from_env.pcie;
  SyntheticLoad load(stock_raw());
  errno = 0;
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(recorded.calls, 0);
  EXPECT_EQ(log(), "limbo: error: LIMBO_PCIE_SETTLE_MS=5: 5 ms is below the minimum 100 ms (PCIe r6.0 §6.6.1: 100 ms "
                   "after a reset before the first config request)\n");
  EXPECT_EQ(status().rfind("limbo-status: error LIMBO_PCIE_SETTLE_MS=5", 0), 0u);
}

TEST_F(Handler, EnvironmentCarriesThePcieSettings) {
  setenv("LIMBO_PCIE", "off", 1);
  setenv("LIMBO_TEST_MCFG", "/x/MCFG", 1);
  setenv("LIMBO_TEST_SYSFS", "/x/sys", 1);
  const plugin::Settings from_env = plugin::Settings::from_environment();
  unsetenv("LIMBO_PCIE");
  unsetenv("LIMBO_TEST_MCFG");
  unsetenv("LIMBO_TEST_SYSFS");
  ASSERT_TRUE(from_env.pcie.ok()) << from_env.pcie.error().message;
  EXPECT_EQ(from_env.pcie->mode, abi::PcieMode::kOff);
  EXPECT_EQ(from_env.mcfg_path, "/x/MCFG");
  EXPECT_EQ(from_env.sysfs_root, "/x/sys");
  const plugin::Settings defaults = plugin::Settings::from_environment();
  EXPECT_EQ(defaults.pcie->mode, abi::PcieMode::kReset);
  EXPECT_EQ(defaults.mcfg_path, "/sys/firmware/acpi/tables/MCFG");
}

TEST_F(Handler, VerbosePrintsThePlanBeforeLoading) {
  FakeSysfs sys;
  make_q35_like(sys);
  settings_.mcfg_path = sys.path("MCFG");
  settings_.sysfs_root = sys.root();
  settings_.verbose = true;
  SyntheticLoad load(stock_raw());
  ASSERT_EQ(call(load, KEXEC_ON_CRASH), 0) << log();
  const std::string text = log();
  const size_t plan = text.find("limbo: pcie plan (what the purgatory will do, from sysfs now):\n");
  ASSERT_NE(plan, std::string::npos) << text;
  EXPECT_NE(text.find("limbo: pcie: ECAM windows from MCFG\n"), std::string::npos) << text;
  EXPECT_NE(text.find("limbo:   -[0000:00]-\n"), std::string::npos) << text;
  EXPECT_NE(text.find("limbo:    \\-00:01.0 8086:1234 class 060400 root port: port reset (only endpoints below) [bus 01-01]\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("limbo:      \\-01:00.0 1b36:0010 class 010802 endpoint: reset by bus reset (port 0000:00:01.0)\n"),
            std::string::npos) << text;
  EXPECT_LT(plan, text.find("limbo: loaded Limbo purgatory"));
}

TEST(MemoryMap, ParsesNestedIomem) {
  auto ranges = plugin::kexec::parse_iomem(
      "00000000-00000fff : Reserved\n00100000-bfffffff : System RAM\n  01000000-01ffffff : Kernel code\n"
      "  a0000000-afffffff : Crash kernel\n100000000-13fffffff : System RAM\n");
  ASSERT_TRUE(ranges.ok());
  const auto crash = plugin::kexec::ranges_named(*ranges, "Crash kernel");
  ASSERT_EQ(crash.size(), 1u);
  EXPECT_EQ(crash[0].start, 0xa0000000u);
  EXPECT_EQ(crash[0].end, 0xb0000000u);
  EXPECT_EQ(plugin::kexec::ranges_named(*ranges, "System RAM").size(), 2u);
  EXPECT_FALSE(plugin::kexec::parse_iomem("garbage line\n").ok());
}

// Regression (tests/fuzz/iomem_fuzz): a line ending at the top of the
// address space gave a range whose exclusive end wrapped to 0.
TEST(MemoryMap, ALineEndingAtTheTopOfTheAddressSpaceIsNotEmpty) {
  auto ranges = plugin::kexec::parse_iomem("100000000-ffffffffffffffff : Crash kernel\n");
  ASSERT_TRUE(ranges.ok());
  ASSERT_EQ(ranges->size(), 1u);
  EXPECT_EQ((*ranges)[0].start, 0x100000000u);
  EXPECT_EQ((*ranges)[0].end, UINT64_MAX);
  EXPECT_LT((*ranges)[0].start, (*ranges)[0].end);
}

TEST(MemoryMap, FindHoleIsTopDownSkipsSegmentsAndAligns) {
  const std::vector<plugin::kexec::MemoryRange> allowed = {{0x10000, 0x20000, "Crash kernel"}};
  const std::vector<plugin::kexec::Segment> occupied = {
      {nullptr, 0, 0x10000, 0x3000}, {nullptr, 0, 0x14000, 0x1000}, {nullptr, 0, 0x1c000, 0x4000}};
  auto hole = plugin::kexec::find_hole(allowed, occupied, 0x1000, 0x1000, 0);
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(*hole, 0x1b000u);
  hole = plugin::kexec::find_hole(allowed, occupied, 0x6000, 0x1000, 0);
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(*hole, 0x16000u);
  hole = plugin::kexec::find_hole(allowed, occupied, 0x2000, 0x8000, 0);
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(*hole, 0x18000u);
  EXPECT_FALSE(plugin::kexec::find_hole(allowed, occupied, 0x8000, 0x1000, 0).ok());
  EXPECT_FALSE(plugin::kexec::find_hole(allowed, occupied, 0x1000, 0x1000, 0x1c000).ok());
  // Two ranges: the higher one first.
  const std::vector<plugin::kexec::MemoryRange> two = {{0x100000, 0x200000, "System RAM"}, {0x1000, 0x9f000, "System RAM"}};
  hole = plugin::kexec::find_hole(two, {}, 0x2000, 0x1000, 0x3000);
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(*hole, 0x1fe000u);
}

TEST(SegmentChecks, TheKernelsRules) {
  using plugin::kexec::Segment;
  const std::vector<plugin::kexec::MemoryRange> crash = {{0x1000000, 0x2000000, "Crash kernel"}};
  const std::vector<Segment> good = {{nullptr, 0x10, 0x1000000, 0x1000}, {nullptr, 0x1000, 0x1001000, 0x2000}};
  EXPECT_TRUE(plugin::kexec::check_segments(good, true, crash).ok());
  const std::vector<Segment> unaligned = {{nullptr, 0x10, 0x1000800, 0x1000}};
  EXPECT_NE(plugin::kexec::check_segments(unaligned, true, crash).error().message.find("not page-aligned"), std::string::npos);
  const std::vector<Segment> overlap = {{nullptr, 0, 0x1000000, 0x2000}, {nullptr, 0, 0x1001000, 0x1000}};
  EXPECT_NE(plugin::kexec::check_segments(overlap, true, crash).error().message.find("overlap"), std::string::npos);
  const std::vector<Segment> too_big = {{nullptr, 0x2000, 0x1000000, 0x1000}};
  EXPECT_NE(plugin::kexec::check_segments(too_big, true, crash).error().message.find("bufsz > memsz"), std::string::npos);
  const std::vector<Segment> outside = {{nullptr, 0, 0x1fff000, 0x2000}};
  EXPECT_NE(plugin::kexec::check_segments(outside, true, crash).error().message.find("outside the crash kernel reservation"), std::string::npos);
  EXPECT_TRUE(plugin::kexec::check_segments(outside, false, {}).ok());  // a normal load may use any RAM
}

// The plugin hashes with SHA-NI wherever CPUID offers it (the purgatory's
// rule), else portable; LIMBO_SHA256=portable forces the latter.
TEST(Sha256Engine, Sha256NiWhereTheCpuHasIt) {
  const char* forced = std::getenv("LIMBO_SHA256");
  const bool portable_forced = forced && std::string(forced) == "portable";
  const bool has = cpu::sha_ni_usable(cpu::read_cpuid_sha());
  if (!has) std::printf("NOTE: this CPU has no SHA extensions: the plugin's SHA-NI choice was not exercised\n");
  EXPECT_EQ(plugin::kexec::host_sha256_engine(),
            has && !portable_forced ? sha256::compress_sha_ni : sha256::compress_portable);
}

TEST(Tsc, MeasuresAPlausibleFrequency) {
  const auto tsc = plugin::kexec::measure_tsc(20'000'000);
  EXPECT_GT(tsc.hz, 100'000'000u);
  EXPECT_LT(tsc.hz, 10'000'000'000u);
}

using plugin::cli::testing::arguments_of;
using plugin::cli::testing::usage_error;

TEST(LimboKexecArguments, OwnOptionsAreTakenOthersPassUnchanged) {
  const auto args = arguments_of({"limbo-kexec", "-p", "/vmlinuz", "--purgatory=/x/p.ro", "--initrd=/initrd.img",
                                  "--append=root=/dev/sda console=ttyS0", "--dry-run", "--verbose", "--console-serial",
                                  "--kexec", "/opt/kexec", "--serial=0x3f8", "--serial-baud=115200", "--test-corrupt-digest"});
  EXPECT_EQ(args.purgatory, "/x/p.ro");
  EXPECT_EQ(args.kexec, "/opt/kexec");
  EXPECT_TRUE(args.dry_run);
  EXPECT_TRUE(args.verbose);
  EXPECT_TRUE(args.test.corrupt_digest);
  EXPECT_TRUE(args.expects_load);
  const std::vector<std::string> expected = {"-p", "/vmlinuz", "--initrd=/initrd.img", "--append=root=/dev/sda console=ttyS0",
                                             "--console-serial", "--serial=0x3f8", "--serial-baud=115200"};
  EXPECT_EQ(args.kexec_args, expected);
}

TEST(LimboKexecArguments, KexecFileLoadIsRefused) {
  for (const char* option : {"-s", "--kexec-file-syscall", "-a", "--kexec-syscall-auto"}) {
    EXPECT_NE(usage_error({"limbo-kexec", "-p", "/vmlinuz", option}).find("kexec_file_load"), std::string::npos) << option;
  }
}

TEST(LimboKexecArguments, UnloadAndExecDoNotExpectALoad) {
  EXPECT_FALSE(arguments_of({"limbo-kexec", "-u"}).expects_load);
  EXPECT_FALSE(arguments_of({"limbo-kexec", "-p", "-u"}).expects_load);
  EXPECT_FALSE(arguments_of({"limbo-kexec", "-e"}).expects_load);
  EXPECT_TRUE(arguments_of({"limbo-kexec", "-u", "-l", "/vmlinuz"}).expects_load);  // kexec: the last one wins
  // kexec would load and reboot into it: refused, but read as a load.
  EXPECT_TRUE(plugin::cli::read_arguments({"limbo-kexec", "/vmlinuz"})->expects_load);
}

TEST(LimboKexecArguments, UsageErrors) {
  EXPECT_NE(usage_error({"limbo-kexec", "--kexec"}), "");
  EXPECT_NE(usage_error({"limbo-kexec", "--purgatory="}), "");
  const auto after = arguments_of({"limbo-kexec", "-l", "--", "--dry-run"});
  EXPECT_FALSE(after.dry_run);  // after --, everything is kexec's
  EXPECT_EQ(after.kexec_args.back(), "--dry-run");
}

// Trust: a purgatory anyone but root could have written is refused
// with one line that says why, and nothing reaches kexec_load.
TEST_F(Handler, PurgatoryWritableByOthersIsRefused) {
  SyntheticLoad load(stock_raw());
  char name[] = "/tmp/limbo-untrusted-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  std::ifstream in(LIMBO_TEST_FIXTURE, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  close(fd);
  settings_.purgatory_path = name;
  ASSERT_EQ(chmod(name, 0664), 0);
  if (geteuid() == 0) {
    ASSERT_EQ(chown(name, 0, 0), 0);
  }
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(recorded.calls, 0);
  std::string text = log();
  EXPECT_NE(text.find(std::string("limbo: error: Limbo purgatory ") + name +
                      ": refused: mode 0664 is writable by group (Limbo loads only files no one but root can write)\n"),
            std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  // The same bytes at mode 0644 load: the rule, not the content, refused it.
  ASSERT_EQ(chmod(name, 0644), 0);
  if (geteuid() == 0) {
    EXPECT_EQ(call(load, KEXEC_ON_CRASH), 0) << log();
    EXPECT_EQ(recorded.calls, 1);
    // Owned by someone else: refused again.
    ASSERT_EQ(chown(name, 1234, 1234), 0);
    EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(recorded.calls, 1);
    text = log();
    EXPECT_NE(text.find(std::string(name) + ": refused: owned by uid 1234, not root"), std::string::npos) << text;
  }
  unlink(name);
}

TEST_F(Handler, FadtOverrideWritableByOthersFailsTheLoad) {
  SyntheticLoad load(stock_raw());
  char name[] = "/tmp/limbo-fadt-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_EQ(chmod(name, 0666), 0);
  settings_.fadt_path = name;
  EXPECT_EQ(call(load, KEXEC_ON_CRASH), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(recorded.calls, 0);
  EXPECT_NE(log().find(": refused: mode 0666 is writable by group and others"), std::string::npos) << log();
  unlink(name);
}

}  // namespace
}  // namespace limbo::test
