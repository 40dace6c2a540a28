// SPDX-License-Identifier: GPL-2.0-only
// The plugin's half of the per-segment verification (kexec-plugin/kexec/segment_checks): roles from
// the boot protocol and the command line, content lengths, per-segment
// digests (checked with OpenSSL), the FADT's reset register, the corruption
// action and the TEST-ONLY damage switch.
#include "kexec/segment_checks.h"

#include "arguments_helpers.h"
#include "cli/arguments.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <string>
#include <vector>

namespace limbo::plugin::kexec {
namespace {

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); }

// A crash load as kexec-tools' bzImage64 lays it out: kernel, initrd, boot
// parameters (with the command line), ELF core headers, backup, the purgatory.
struct CrashLoad {
  std::vector<uint8_t> kernel = std::vector<uint8_t>(0x5000, 0x90);
  std::vector<uint8_t> initrd = std::vector<uint8_t>(0x3000, 0x1f);
  std::vector<uint8_t> boot = std::vector<uint8_t>(0x2000, 0);
  std::vector<uint8_t> elfcorehdr = std::vector<uint8_t>(0x1000, 0x7f);
  std::vector<uint8_t> backup = std::vector<uint8_t>(0x800, 0x33);
  std::vector<uint8_t> purgatory = std::vector<uint8_t>(0x1000, 0xcc);
  std::vector<Segment> segments;
  RoleHints hints;

  CrashLoad() {
    kernel.resize(0x6000, 0);  // content then zeros inside the buffer: trimmed
    put32(boot, kBootRamdiskImage, 0x2000000);
    put32(boot, kBootRamdiskSize, 0x3000);
    put32(boot, kBootCmdLinePtr, 0x3002800);  // boot[0x1800]
    const std::string cmdline = "console=ttyS0 elfcorehdr=49216K reset_devices";  // 49216 KiB = 0x3010000
    std::memcpy(&boot[0x1800], cmdline.c_str(), cmdline.size() + 1);
    segments = {
        {kernel.data(), kernel.size(), 0x1000000, 0x40000},
        {initrd.data(), initrd.size(), 0x2000000, 0x3000},
        {boot.data(), boot.size(), 0x3001000, 0x2000},
        {elfcorehdr.data(), elfcorehdr.size(), 0x3010000, 0x1000},
        {backup.data(), backup.size(), 0x3020000, 0x1000},
        {purgatory.data(), purgatory.size(), 0x3030000, 0x1000},
    };
    hints = {0x1000200, 0x3001000, 0x3020000};
  }
};

TEST(SegmentRoles, FromEntryBootParamsCmdlineAndBackup) {
  CrashLoad load;
  const auto roles = classify_segments(load.segments, load.hints);
  ASSERT_EQ(roles.size(), 6u);
  EXPECT_EQ(roles[0], abi::SegmentRole::kKernel);
  EXPECT_EQ(roles[1], abi::SegmentRole::kInitrd);
  EXPECT_EQ(roles[2], abi::SegmentRole::kBootParams);
  EXPECT_EQ(roles[3], abi::SegmentRole::kElfCoreHeaders);
  EXPECT_EQ(roles[4], abi::SegmentRole::kBackup);
  EXPECT_EQ(roles[5], abi::SegmentRole::kOther);
}

TEST(SegmentRoles, ExtendedRamdiskFieldsAndNoInitrd) {
  CrashLoad load;
  put32(load.boot, kBootRamdiskSize, 0);
  EXPECT_EQ(classify_segments(load.segments, load.hints)[1], abi::SegmentRole::kOther);
  // A ramdisk above 4 GiB: the ext_ fields carry the high halves.
  load.segments[1].mem = 0x1'2000'0000;
  put32(load.boot, kBootRamdiskImage, 0x2000'0000);
  put32(load.boot, kBootExtRamdiskImage, 1);
  put32(load.boot, kBootRamdiskSize, 0x3000);
  EXPECT_EQ(classify_segments(load.segments, load.hints)[1], abi::SegmentRole::kInitrd);
}

TEST(SegmentRoles, ElfcorehdrForms) {
  EXPECT_EQ(elfcorehdr_address("elfcorehdr=49216K"), 0x3010000u);
  EXPECT_EQ(elfcorehdr_address("a=b elfcorehdr=0x3010000 c"), 0x3010000u);
  EXPECT_EQ(elfcorehdr_address("elfcorehdr=4K@768M"), 768u << 20);
  EXPECT_EQ(elfcorehdr_address("xelfcorehdr=4K"), std::nullopt);
  EXPECT_EQ(elfcorehdr_address("console=ttyS0"), std::nullopt);
}

TEST(SegmentChecks, ContentLengthsRolesAndDigestsMatchOpenSsl) {
  CrashLoad load;
  abi::Config config{};
  ASSERT_TRUE(fill_segment_checks(load.segments, 5, load.hints, config));
  ASSERT_EQ(config.segment_check_count, 5u);
  EXPECT_EQ(config.segments[0].content_len, 0x5000u);  // the buffer's trailing zeros are fill
  EXPECT_EQ(config.segments[1].content_len, 0x3000u);
  EXPECT_EQ(config.segments[0].role, static_cast<uint32_t>(abi::SegmentRole::kKernel));
  EXPECT_EQ(config.segments[3].role, static_cast<uint32_t>(abi::SegmentRole::kElfCoreHeaders));
  for (size_t i = 0; i < 5; ++i) {
    uint8_t reference[32];
    unsigned int n = 0;
    EVP_Digest(load.segments[i].buf, config.segments[i].content_len, reference, &n, EVP_sha256(), nullptr);
    EXPECT_EQ(std::memcmp(reference, config.segments[i].digest, 32), 0) << "segment " << i;
  }
  EXPECT_EQ(config.segments[5].content_len, 0u);  // beyond the count: untouched
}

TEST(OnFault, Words) {
  EXPECT_EQ(*parse_on_fault("reboot"), abi::OnFault::kReboot);
  EXPECT_EQ(*parse_on_fault("halt"), abi::OnFault::kHalt);
  EXPECT_FALSE(parse_on_fault("ignore"));
  EXPECT_EQ(static_cast<uint32_t>(abi::OnFault::kReboot), 0u);  // an all-zero block means reboot
  const auto args = cli::testing::arguments_of({"limbo-kexec", "--on-fault=halt", "-p", "/k"});
  EXPECT_EQ(args.on_fault, "halt");
  EXPECT_NE(cli::testing::usage_error({"limbo-kexec", "--on-fault=maybe", "-p", "/k"}).find("--on-fault takes reboot or halt"),
            std::string::npos);
  EXPECT_NE(cli::usage_text().find("--on-fault=reboot|halt"), std::string::npos);
}

TEST(OnCorruption, Words) {
  EXPECT_EQ(*parse_on_corruption("halt"), abi::OnCorruption::kHalt);
  EXPECT_EQ(*parse_on_corruption("reboot"), abi::OnCorruption::kReboot);
  EXPECT_FALSE(parse_on_corruption("explode"));
}

// A FADT of `length` bytes (an ACPI 1.0 table ends before RESET_REG).
std::vector<uint8_t> fadt(uint32_t flags, uint8_t space, uint64_t address, uint8_t value, size_t length = 276) {
  std::vector<uint8_t> t(276, 0);
  std::memcpy(t.data(), "FACP", 4);
  put32(t, 4, static_cast<uint32_t>(length));
  put32(t, kFadtFlags, flags);
  t[kFadtResetReg] = space;
  t[kFadtResetReg + 1] = 8;
  t[kFadtResetReg + 3] = 1;
  std::memcpy(&t[kFadtResetReg + 4], &address, 8);
  t[kFadtResetValue] = value;
  t.resize(length);
  return t;
}

TEST(Fadt, ResetRegisterOfQemuQ35) {
  // QEMU q35's FADT: RESET_REG_SUP, I/O port 0xcf9, value 0x06.
  auto reg = reset_register_from_fadt(fadt(kFadtFlagResetRegSup, 1, 0xcf9, 0x06));
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->valid, 1);
  EXPECT_EQ(reg->address_space, 1);
  EXPECT_EQ(reg->address, 0xcf9u);
  EXPECT_EQ(reg->value, 0x06);
  EXPECT_EQ(reg->bit_width, 8);
}

TEST(Fadt, WithoutResetRegSupOrTooShortOrNotAFadt) {
  EXPECT_EQ(reset_register_from_fadt(fadt(0, 1, 0xcf9, 6))->valid, 0);
  EXPECT_EQ(reset_register_from_fadt(fadt(kFadtFlagResetRegSup, 1, 0xcf9, 6, 116))->valid, 0);
  auto not_fadt = fadt(kFadtFlagResetRegSup, 1, 0xcf9, 6);
  std::memcpy(not_fadt.data(), "APIC", 4);
  EXPECT_FALSE(reset_register_from_fadt(not_fadt));
}

TEST(TestDamage, Parse) {
  auto d = parse_damage("initrd");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->role, abi::SegmentRole::kInitrd);
  EXPECT_EQ(d->offset, 0u);
  d = parse_damage("kernel:0x1234");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->role, abi::SegmentRole::kKernel);
  EXPECT_EQ(d->offset, 0x1234u);
  d = parse_damage("boot-params:last");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->last);
  EXPECT_FALSE(parse_damage("floppy"));
  EXPECT_FALSE(parse_damage("kernel:12x"));
}

TEST(TestDamage, ChangesOneByteOfACopyInContentOrFill) {
  CrashLoad load;
  abi::Config config{};
  ASSERT_TRUE(fill_segment_checks(load.segments, 5, load.hints, config));
  const std::vector<uint8_t> original = load.initrd;
  std::vector<uint8_t> storage;
  auto index = damage_segment(load.segments, 5, config, *parse_damage("initrd:0x10"), storage);
  ASSERT_TRUE(index);
  EXPECT_EQ(*index, 1u);
  EXPECT_EQ(load.initrd, original);  // kexec's buffer is not written
  ASSERT_EQ(load.segments[1].buf, storage.data());
  EXPECT_EQ(storage[0x10], original[0x10] ^ 1);
  storage[0x10] ^= 1;
  EXPECT_EQ(storage, original);  // nothing else changed

  // In the kernel's fill: the copy grows to the byte, which becomes non-zero.
  std::vector<uint8_t> kernel_copy;
  index = damage_segment(load.segments, 5, config, *parse_damage("kernel:last"), kernel_copy);
  ASSERT_TRUE(index);
  EXPECT_EQ(load.segments[0].bufsz, 0x40000u);
  EXPECT_EQ(kernel_copy.back(), 1);
  EXPECT_LE(load.segments[0].bufsz, load.segments[0].memsz);

  EXPECT_FALSE(damage_segment(load.segments, 5, config, *parse_damage("kernel:0x40000"), kernel_copy));
  config.segment_check_count = 0;
  EXPECT_FALSE(damage_segment(load.segments, 5, config, *parse_damage("initrd"), storage));
}

// limbo-kexec's options for a damaged image (they become LIMBO_ON_CORRUPTION and
// LIMBO_TEST_DAMAGE_SEGMENT for the plugin, which parses them again).
TEST(CliOptions, OnCorruptionAndTestDamage) {
  const auto args =
      cli::testing::arguments_of({"limbo-kexec", "--on-corruption=reboot", "--test-damage-segment=kernel:last", "-p", "/k"});
  EXPECT_EQ(args.on_corruption, "reboot");
  EXPECT_EQ(args.test.damage_segment, "kernel:last");
  EXPECT_EQ(args.kexec_args, (std::vector<std::string>{"-p", "/k"}));
  EXPECT_NE(cli::testing::usage_error({"limbo-kexec", "--on-corruption=maybe", "-p", "/k"}).find("--on-corruption takes halt or reboot"),
            std::string::npos);
  EXPECT_NE(cli::testing::usage_error({"limbo-kexec", "--test-damage-segment=", "-p", "/k"}), "");
  EXPECT_NE(cli::usage_text().find("--on-corruption=halt|reboot"), std::string::npos);
}

}  // namespace
}  // namespace limbo::plugin::kexec
