// SPDX-License-Identifier: GPL-2.0-only
// The decode-and-replace path on a synthetic kexec-tools load: the plugin
// must recover every variable kexec-tools wrote, recompute the same digest,
// and give Limbo's segment the same values (rsp = Limbo's stack_end).
#include <gtest/gtest.h>
#include <unistd.h>

#include "elf/rel_object.h"
#include "kexec/replace.h"
#include "objects.h"
#include "synthetic_load.h"

namespace limbo::test {
namespace {

using plugin::elf::RelObject;
using plugin::kexec::MemoryRange;
using plugin::kexec::ReplaceOptions;

RelObject parse(const RawElf& raw, const char* what) {
  auto object = RelObject::parse(raw.bytes, what);
  if (!object.ok()) throw std::runtime_error(object.error().message);
  return std::move(object.value());
}

template <typename T>
T read_at(const std::vector<uint8_t>& image, uint64_t offset) {
  T value;
  std::memcpy(&value, image.data() + offset, sizeof(T));
  return value;
}

ReplaceOptions crash_options() {
  ReplaceOptions options;
  options.crash = true;
  options.allowed = {{0x1000000, 0x4000000, "Crash kernel"}};
  options.config.tsc_hz = 2'500'000'000;
  options.config.flags = abi::kConfigFlagTscInvariant;
  return options;
}

TEST(DecodeStock, RecoversEveryVariable) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->purgatory_index, 1u);
  EXPECT_EQ(decoded->regs.rip, load.regs.rip);
  EXPECT_EQ(decoded->regs.rsi, load.regs.rsi);
  EXPECT_EQ(decoded->regs.rsp, decoded->stack_end);
  EXPECT_EQ(decoded->skip_checks, 0u);
  EXPECT_EQ(decoded->digest.digest, load.digest);
  EXPECT_EQ(std::memcmp(decoded->digest.regions.data(), load.regions.data(), sizeof(load.regions)), 0);
  ASSERT_NE(decoded->value("cmdline_end"), nullptr);
  EXPECT_EQ(read_at<uint64_t>(decoded->value("cmdline_end")->bytes, 0), load.cmdline_end);
  EXPECT_EQ(read_at<uint16_t>(decoded->value("serial_base")->bytes, 0), 0x3f8);
  EXPECT_EQ(read_at<uint32_t>(decoded->value("serial_baud")->bytes, 0), 115200u);
  EXPECT_EQ(decoded->value("console_serial")->bytes, std::vector<uint8_t>{1});
  EXPECT_EQ(decoded->value("panic_kernel")->bytes, std::vector<uint8_t>{1});
  EXPECT_EQ(read_at<uint64_t>(decoded->value("backup_start")->bytes, 0), 0x3900000u);
  EXPECT_EQ(read_at<uint64_t>(decoded->value("backup_src_size")->bytes, 0), 0xa0000u);
  // Every symbol kexec-tools writes and the stock object has was read.
  for (const abi::Symbol& symbol : abi::kSymbols) {
    if (symbol.writer == abi::Writer::kKexecTools) {
      EXPECT_NE(decoded->value(symbol.name), nullptr) << symbol.name;
    }
  }
}

// Limbo's segment: the fixture laid out at `base`, the stock values written.
// elf_rel_load never writes the
// alignment gaps between sections of its xmalloc'd buffer. Whatever they
// hold must not decide the decode; a changed byte inside a section still must.
TEST(DecodeStock, AlignmentGapsKexecToolsNeverWroteAreNotCompared) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  auto replay = stock.load_at(SyntheticLoad::kPurgatory);
  ASSERT_TRUE(replay.ok()) << replay.error().message;
  std::vector<uint8_t>& buffer = load.buffers[1];
  ASSERT_EQ(load.segments[1].mem, SyntheticLoad::kPurgatory);
  std::vector<bool> in_section(buffer.size(), false);
  size_t text_offset = 0;
  for (size_t i = 0; i < stock.sections().size(); ++i) {
    const auto& section = stock.sections()[i];
    if (!section.allocated() || section.nobits()) continue;
    const uint64_t start = replay->layout.section_offsets[i];
    if (section.name == ".text") text_offset = start;
    for (uint64_t k = start; k < start + section.size && k < buffer.size(); ++k) in_section[k] = true;
  }
  size_t gaps = 0;
  for (size_t k = 0; k < buffer.size(); ++k) {
    if (!in_section[k]) {
      buffer[k] = 0xa5;
      ++gaps;
    }
  }
  ASSERT_GT(gaps, 0u) << "kexec-tools' stock object has no gap between sections: the test shows nothing";
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  EXPECT_TRUE(decoded.ok()) << decoded.error().message;
  buffer[text_offset] ^= 0x01;
  auto changed = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_FALSE(changed.ok());
  EXPECT_NE(changed.error().message.find("differs from the embedded object"), std::string::npos) << changed.error().message;
}

void expect_limbo_segment(const SyntheticLoad& load, const RawElf& limbo_raw, const plugin::kexec::Replacement& plan,
                          uint64_t base, const ReplaceOptions& options) {
  const auto& image = plan.image.bytes;
  EXPECT_EQ(plan.image.base, base);
  EXPECT_EQ(plan.segments[plan.index].mem, base);
  EXPECT_EQ(plan.segments[plan.index].bufsz, limbo_raw.layout().bufsz);
  EXPECT_EQ(plan.entry, base + limbo_raw.image_offset(abi::kEntrySymbol));
  const auto regs = read_at<abi::Entry64Regs>(image, limbo_raw.image_offset("entry64_regs"));
  EXPECT_EQ(regs.rip, load.regs.rip);
  EXPECT_EQ(regs.rsi, load.regs.rsi);
  EXPECT_EQ(regs.rsp, base + limbo_raw.image_offset("stack_end"));
  EXPECT_EQ(read_at<uint64_t>(image, limbo_raw.image_offset("cmdline_end")), load.cmdline_end);
  EXPECT_EQ(read_at<uint16_t>(image, limbo_raw.image_offset("serial_base")), 0x3f8);
  EXPECT_EQ(read_at<uint32_t>(image, limbo_raw.image_offset("serial_baud")), 115200u);
  EXPECT_EQ(image[limbo_raw.image_offset("console_serial")], 1);
  EXPECT_EQ(image[limbo_raw.image_offset("panic_kernel")], options.crash ? 1 : 0);
  EXPECT_EQ(read_at<uint64_t>(image, limbo_raw.image_offset("backup_src_size")), 0xa0000u);
  auto digest = read_at<std::array<uint8_t, 32>>(image, limbo_raw.image_offset("sha256_digest"));
  if (options.corrupt_digest) {
    EXPECT_NE(digest, load.digest);
    digest[0] ^= 1;  // exactly one bit flipped
  }
  EXPECT_EQ(digest, load.digest);
  const auto regions = read_at<std::array<abi::Sha256Region, 16>>(image, limbo_raw.image_offset("sha256_regions"));
  EXPECT_EQ(std::memcmp(regions.data(), load.regions.data(), sizeof(regions)), 0);
  const auto config = read_at<abi::Config>(image, limbo_raw.image_offset("limbo_config"));
  EXPECT_EQ(config.magic, abi::kConfigMagic);
  EXPECT_EQ(config.version, abi::kConfigVersion);
  EXPECT_EQ(config.size, sizeof(abi::Config));
  EXPECT_EQ(config.tsc_hz, options.config.tsc_hz);
  EXPECT_EQ(config.flags, options.config.flags);
  // Outside the ABI variables, the image is the fixture relocated at base.
  std::vector<uint8_t> expected = limbo_raw.load_at(base);
  std::vector<uint8_t> actual = image;
  for (const abi::Symbol& symbol : abi::kSymbols) {
    if (symbol.writer == abi::Writer::kAddressOnly) continue;
    const uint64_t offset = limbo_raw.image_offset(symbol.name);
    std::memset(expected.data() + offset, 0, symbol.size);
    std::memset(actual.data() + offset, 0, symbol.size);
  }
  EXPECT_EQ(actual, expected);
  // The other segments are untouched, in their order.
  for (size_t i = 0; i < load.segments.size(); ++i) {
    if (i == plan.index) continue;
    EXPECT_EQ(plan.segments[i].mem, load.segments[i].mem);
    EXPECT_EQ(plan.segments[i].buf, load.segments[i].buf);
  }
  const auto kernel = plan.kernel_segments();
  EXPECT_EQ(kernel[plan.index].buf, plan.image.bytes.data());
}

TEST(Replace, SmallLimboTakesTheStockSlot) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  const RawElf limbo_raw = fixture_raw();
  RelObject limbo = parse(limbo_raw, "fixture");
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  const ReplaceOptions options = crash_options();
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, limbo, options);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_TRUE(plan->in_stock_slot);
  expect_limbo_segment(load, limbo_raw, *plan, SyntheticLoad::kPurgatory, options);
}

TEST(Replace, CorruptDigestFlipsOneBit) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  const RawElf limbo_raw = fixture_raw();
  RelObject limbo = parse(limbo_raw, "fixture");
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok());
  ReplaceOptions options = crash_options();
  options.corrupt_digest = true;
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, limbo, options);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  expect_limbo_segment(load, limbo_raw, *plan, SyntheticLoad::kPurgatory, options);
}

TEST(Replace, BigLimboGoesToTheHighestFreeHoleOfTheReservation) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  const RawElf limbo_raw = big_fixture_raw();
  RelObject limbo = parse(limbo_raw, "big fixture");
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok());
  const ReplaceOptions options = crash_options();
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, limbo, options);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_FALSE(plan->in_stock_slot);
  // Top-down like kexec-tools: the reservation's end is free (the stock slot
  // at kPurgatory is below it and too small).
  ASSERT_GT(plan->memsz, load.segments[1].memsz);
  expect_limbo_segment(load, limbo_raw, *plan, 0x4000000 - plan->memsz, options);
  EXPECT_TRUE(plugin::kexec::check_segments(plan->segments, true, options.allowed).ok());
}

TEST(Replace, NormalLoadUsesSystemRam) {
  SyntheticLoad load(stock_raw(), /*crash=*/false);
  RelObject stock = parse(load.stock, "stock");
  const RawElf limbo_raw = big_fixture_raw();
  RelObject limbo = parse(limbo_raw, "big fixture");
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok());
  ReplaceOptions options;
  options.allowed = {{0x1000, 0x9f000, "System RAM"}, {0x100000, 0x40000000, "System RAM"}};
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, limbo, options);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  expect_limbo_segment(load, limbo_raw, *plan, 0x40000000 - plan->memsz, options);
}

TEST(Replace, SkipChecksLoadKeepsSkipChecksAndNoDigest) {
  // kexec -i: update_purgatory sets skip_checks = 1 and writes no digest.
  SyntheticLoad load(stock_raw());
  const std::array<abi::Sha256Region, 16> no_regions{};
  load.set(load.buffers[1], "sha256_regions", no_regions);
  load.set(load.buffers[1], "sha256_digest", std::array<uint8_t, 32>{});
  load.set(load.buffers[1], "skip_checks", uint32_t{1});
  RelObject stock = parse(load.stock, "stock");
  const RawElf limbo_raw = fixture_raw();
  RelObject limbo = parse(limbo_raw, "fixture");
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->skip_checks, 1u);
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, limbo, crash_options());
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(read_at<uint32_t>(plan->image.bytes, limbo_raw.image_offset("skip_checks")), 1u);
  EXPECT_EQ((read_at<std::array<uint8_t, 32>>(plan->image.bytes, limbo_raw.image_offset("sha256_digest"))), (std::array<uint8_t, 32>{}));
}

TEST(ReplaceErrors, EntryInNoSegment) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  auto decoded = plugin::kexec::decode_stock(0x9000000, load.segments, stock);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("entry 0x9000000 is in none of the 4 segments"), std::string::npos) << decoded.error().message;
  EXPECT_EQ(decoded.error().errno_value, EINVAL);
}

TEST(ReplaceErrors, EntryInAnotherSegment) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  auto decoded = plugin::kexec::decode_stock(SyntheticLoad::kKernel + 0x200, load.segments, stock);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("unknown kexec-tools layout"), std::string::npos) << decoded.error().message;
}

TEST(ReplaceErrors, StockCodeMismatchIsLocated) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  const uint64_t offset = load.stock.layout().offsets[load.stock.section_index(".text")] + 0x10;
  load.buffers[1][offset] ^= 0xff;
  load.segments[1].buf = load.buffers[1].data();
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("differs from the embedded object"), std::string::npos) << decoded.error().message;
  EXPECT_NE(decoded.error().message.find("(.text+0x10"), std::string::npos) << decoded.error().message;
}

TEST(ReplaceErrors, StockSizeMismatch) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  load.segments[1].bufsz -= 8;
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("unknown kexec-tools layout: purgatory segment 1"), std::string::npos) << decoded.error().message;
}

TEST(ReplaceErrors, LoaderThatDoesNotUseEntry64Regs) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  abi::Entry64Regs untouched{};
  load.set(load.buffers[1], "entry64_regs", untouched);  // as a multiboot/32-bit loader leaves it
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("did not use entry64_regs"), std::string::npos) << decoded.error().message;
}

TEST(ReplaceErrors, DigestThatDoesNotMatchTheSegments) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  RelObject limbo = parse(fixture_raw(), "fixture");
  load.buffers[3][7] ^= 1;  // the initrd changed after kexec-tools hashed it
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok());
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, limbo, crash_options());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message.find("recomputed SHA-256"), std::string::npos) << plan.error().message;
}

TEST(ReplaceErrors, NoRoomInTheReservation) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  RelObject limbo = parse(big_fixture_raw(), "big fixture");
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok());
  ReplaceOptions options = crash_options();
  // A reservation that holds exactly the segments kexec-tools placed.
  options.allowed.clear();
  for (const auto& s : load.segments) options.allowed.push_back({s.mem, s.end(), "Crash kernel"});
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, limbo, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().errno_value, EADDRNOTAVAIL);
  EXPECT_NE(plan.error().message.find("no room"), std::string::npos) << plan.error().message;
  EXPECT_NE(plan.error().message.find("crash kernel reservation"), std::string::npos) << plan.error().message;
}

TEST(ReplaceErrors, NoReservationListed) {
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  RelObject limbo = parse(big_fixture_raw(), "big fixture");
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok());
  ReplaceOptions options = crash_options();
  options.allowed.clear();
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, limbo, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().errno_value, EADDRNOTAVAIL);
  EXPECT_NE(plan.error().message.find("lists no Crash kernel"), std::string::npos) << plan.error().message;
}

TEST(ReplaceErrors, LimboObjectWithoutConfigBlock) {
  // The stock object as "Limbo": it lacks limbo_config, so it is refused.
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok());
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, stock, crash_options());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message.find("limbo_config not found"), std::string::npos) << plan.error().message;
}

TEST(Replace, RealPurgatoryRo) {
  RawElf limbo_raw{read_bytes(LIMBO_TEST_PURGATORY)};
  if (limbo_raw.bytes.empty()) GTEST_SKIP() << LIMBO_TEST_PURGATORY << " not built yet";
  SyntheticLoad load(stock_raw());
  RelObject stock = parse(load.stock, "stock");
  RelObject limbo = parse(limbo_raw, LIMBO_TEST_PURGATORY);
  auto decoded = plugin::kexec::decode_stock(load.entry, load.segments, stock);
  ASSERT_TRUE(decoded.ok());
  const ReplaceOptions options = crash_options();
  auto plan = plugin::kexec::build_replacement(*decoded, load.segments, limbo, options);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const auto regs = read_at<abi::Entry64Regs>(plan->image.bytes, limbo_raw.image_offset("entry64_regs"));
  EXPECT_EQ(regs.rip, load.regs.rip);
  EXPECT_EQ(regs.rsp, plan->image.base + limbo_raw.image_offset("stack_end"));
  const auto config = read_at<abi::Config>(plan->image.bytes, limbo_raw.image_offset("limbo_config"));
  EXPECT_EQ(config.magic, abi::kConfigMagic);
  EXPECT_EQ(read_at<decltype(load.digest)>(plan->image.bytes, limbo_raw.image_offset("sha256_digest")), load.digest);
  EXPECT_TRUE(plugin::kexec::check_segments(plan->segments, true, options.allowed).ok());
}

}  // namespace
}  // namespace limbo::test
