// SPDX-License-Identifier: GPL-2.0-only
// The plugin's PCIe part: MCFG and /proc/iomem parsers on good and malformed
// input, function addresses, the settings (limbo-kexec options, the plugin's
// environment) and their errors, the fill of the configuration block's
// PcieSettings, root buses from sysfs, and the plan view (the core's
// discovery and policy) over fake sysfs trees.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include "arguments_helpers.h"
#include "cli/arguments.h"
#include "fake_sysfs.h"
#include "pcie/address.h"
#include "pcie/ecam.h"
#include "pcie/plan.h"
#include "pcie/settings.h"
#include "pcie/sysfs_config.h"
#include "pcie/system.h"

namespace limbo::test {
namespace {

using namespace limbo::plugin::pcie;
using limbo::plugin::fail;
using limbo::plugin::format;

abi::PciAddress bdf(uint16_t s, uint8_t b, uint8_t d, uint8_t f) { return {s, b, static_cast<uint8_t>(d << 3 | f)}; }

// ---- MCFG ------------------------------------------------------------------

TEST(Mcfg, Q35Window) {
  auto windows = parse_mcfg(make_mcfg({{0xb0000000, 0, 0, 0xff}}));
  ASSERT_TRUE(windows) << windows.error().message;
  ASSERT_EQ(windows->size(), 1u);
  EXPECT_EQ((*windows)[0].base, 0xb0000000u);
  EXPECT_EQ((*windows)[0].segment, 0);
  EXPECT_EQ((*windows)[0].start_bus, 0);
  EXPECT_EQ((*windows)[0].end_bus, 0xff);
}

// The bytes of this development host's MCFG (a Firecracker VM): one bus.
TEST(Mcfg, RealTableFromAHost) {
  const std::vector<uint8_t> table = {
      0x4d, 0x43, 0x46, 0x47, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x7f, 0x46, 0x49, 0x52, 0x45, 0x43, 0x4b,
      0x46, 0x43, 0x4d, 0x56, 0x4d, 0x43, 0x46, 0x47, 0x00, 0x00, 0x00, 0x00, 0x46, 0x43, 0x41, 0x54,
      0x19, 0x01, 0x24, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xee,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  auto windows = parse_mcfg(table);
  ASSERT_TRUE(windows) << windows.error().message;
  ASSERT_EQ(windows->size(), 1u);
  EXPECT_EQ((*windows)[0].base, 0xeec00000u);
  EXPECT_EQ((*windows)[0].end_bus, 0);
}

// MCFG's base addresses bus 0 (PCI Firmware r3.3 Table 4-3; Linux adds
// start_bus << 20 the same way); Limbo's EcamWindow::base is the start bus's.
TEST(Mcfg, BaseIsConvertedToTheStartBus) {
  auto windows = parse_mcfg(make_mcfg({{0xe0000000, 0, 0x80, 0xff}, {0x4000000000, 1, 0, 0x3f}}));
  ASSERT_TRUE(windows) << windows.error().message;
  ASSERT_EQ(windows->size(), 2u);
  EXPECT_EQ((*windows)[0].base, 0xe0000000u + (0x80u << 20));
  EXPECT_EQ((*windows)[0].start_bus, 0x80);
  EXPECT_EQ((*windows)[1].base, 0x4000000000u);
  EXPECT_EQ((*windows)[1].segment, 1);
}

void expect_mcfg_error(const std::vector<uint8_t>& table, const std::string& fragment) {
  auto windows = parse_mcfg(table);
  ASSERT_FALSE(windows) << "accepted; wanted an error with \"" << fragment << "\"";
  EXPECT_NE(windows.error().message.find(fragment), std::string::npos) << windows.error().message;
  EXPECT_EQ(windows.error().errno_value, EINVAL);
}

// Changes one byte and fixes the checksum, so only the intended fault remains.
std::vector<uint8_t> with_byte(std::vector<uint8_t> t, size_t at, uint8_t value) {
  t[at] = value;
  t[9] = 0;
  uint8_t sum = 0;
  for (uint8_t b : t) sum = static_cast<uint8_t>(sum + b);
  t[9] = static_cast<uint8_t>(-sum);
  return t;
}

TEST(Mcfg, MalformedTablesAreRefusedWithTheReason) {
  const std::vector<uint8_t> good = make_mcfg({{0xb0000000, 0, 0, 0xff}});
  expect_mcfg_error({}, "shorter than the 36-byte ACPI header");
  expect_mcfg_error(std::vector<uint8_t>(good.begin(), good.begin() + 20), "shorter than the 36-byte");
  expect_mcfg_error(with_byte(good, 0, 'X'), "signature");
  // Length field says more than the file holds, and less.
  expect_mcfg_error(with_byte(good, 4, 0x50), "header length 80, the table has 60 bytes");
  std::vector<uint8_t> cut(good.begin(), good.end() - 4);
  expect_mcfg_error(cut, "header length 60, the table has 56 bytes");
  // A consistent length that is too short for the reserved bytes, or not whole entries.
  std::vector<uint8_t> header_only(good.begin(), good.begin() + 40);
  header_only = with_byte(header_only, 4, 40);
  expect_mcfg_error(header_only, "shorter than header and reserved bytes");
  std::vector<uint8_t> ragged(good.begin(), good.end() - 4);
  ragged = with_byte(ragged, 4, 56);
  expect_mcfg_error(ragged, "not a multiple of 16");
  std::vector<uint8_t> bad_sum = good;
  bad_sum[20] ^= 1;
  expect_mcfg_error(bad_sum, "checksum");
  expect_mcfg_error(make_mcfg({}), "no allocation entries");
  std::vector<McfgEntry> many;
  for (uint16_t s = 0; s < abi::kMaxEcamWindows + 1; ++s) many.push_back({0xb0000000 + (uint64_t{s} << 28), s, 0, 0xff});
  expect_mcfg_error(make_mcfg(many), "17 allocation entries, Limbo's configuration holds at most 16");
  expect_mcfg_error(make_mcfg({{0xb0000000, 0, 0x20, 0x10}}), "start bus 20 is above end bus 10");
  expect_mcfg_error(make_mcfg({{0, 0, 0, 0xff}}), "base address 0");
  expect_mcfg_error(make_mcfg({{0xb0000800, 0, 0, 0xff}}), "not 1 MiB aligned");
  expect_mcfg_error(make_mcfg({{0xfffffffffff00000, 0, 0, 0xff}}), "overflows");
  expect_mcfg_error(make_mcfg({{0xb0000000, 0, 0, 0x7f}, {0xc0000000, 0, 0x40, 0xff}}),
                    "windows 0 and 1 both claim buses of segment 0000");
  // The same buses on two segments are fine, and so are two windows of one
  // segment that split its buses.
  EXPECT_TRUE(parse_mcfg(make_mcfg({{0xb0000000, 0, 0, 0xff}, {0xc0000000, 1, 0, 0xff}})));
  EXPECT_TRUE(parse_mcfg(make_mcfg({{0xb0000000, 0, 0, 0x7f}, {0xc0000000, 0, 0x80, 0xff}})));
}

// ---- /proc/iomem -------------------------------------------------------------

TEST(IomemEcam, OldAndNewNamesAtAnyDepth) {
  const char* iomem =
      "00000000-00000fff : Reserved\n"
      "00100000-7fffffff : System RAM\n"
      "b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]\n"
      "  b0000000-bfffffff : Reserved\n"
      "c0000000-febfffff : PCI Bus 0000:00\n"
      "  e0000000-e0ffffff : PCI ECAM 0001 [bus 00-0f]\n"
      "    e0000000-e0ffffff : PCI Bus 0001:00\n";
  auto windows = parse_iomem_ecam(iomem);
  ASSERT_TRUE(windows) << windows.error().message;
  ASSERT_EQ(windows->size(), 2u);
  EXPECT_EQ((*windows)[0].base, 0xb0000000u);
  EXPECT_EQ((*windows)[0].end_bus, 0xff);
  EXPECT_EQ((*windows)[1].base, 0xe0000000u);
  EXPECT_EQ((*windows)[1].segment, 1);
  EXPECT_EQ((*windows)[1].end_bus, 0x0f);
}

TEST(IomemEcam, StartBusAboveZeroKeepsTheListedAddress) {
  auto windows = parse_iomem_ecam("e8000000-efffffff : PCI MMCONFIG 0000 [bus 80-ff]\n");
  ASSERT_TRUE(windows) << windows.error().message;
  EXPECT_EQ((*windows)[0].base, 0xe8000000u);  // already the start bus's address
  EXPECT_EQ((*windows)[0].start_bus, 0x80);
}

TEST(IomemEcam, NoWindowIsAnEmptyList) {
  auto windows = parse_iomem_ecam("00100000-7fffffff : System RAM\n");
  ASSERT_TRUE(windows);
  EXPECT_TRUE(windows->empty());
}

TEST(IomemEcam, MalformedInputIsRefused) {
  auto expect_error = [](const char* text, const std::string& fragment) {
    auto windows = parse_iomem_ecam(text);
    ASSERT_FALSE(windows) << text;
    EXPECT_NE(windows.error().message.find(fragment), std::string::npos) << windows.error().message;
  };
  expect_error("b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff\n", "is not \"PCI MMCONFIG SSSS [bus BB-BB]\"");
  expect_error("b0000000-bfffffff : PCI MMCONFIG zz [bus 00-ff]\n", "is not");
  expect_error("b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-100]\n", "is not");
  expect_error("b0000000-b7ffffff : PCI MMCONFIG 0000 [bus 00-ff]\n", "spans 0x8000000 bytes, 256 buses need 0x10000000");
  expect_error("b0000000-bfffffff : PCI MMCONFIG 0000 [bus ff-00]\n", "start bus ff is above end bus 00");
  expect_error("garbage\n", "is not \"start-end : name\"");
  expect_error("b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]\nb0000000-b00fffff : PCI ECAM 0000 [bus 10-10]\n",
               "both claim buses");
}

// Without CAP_SYS_ADMIN the kernel prints every address as 0.
TEST(IomemEcam, ZeroedAddressesSayRoot) {
  auto windows = parse_iomem_ecam(
      "00000000-00000000 : System RAM\n00000000-00000000 : PCI MMCONFIG 0000 [bus 00-ff]\n");
  ASSERT_FALSE(windows);
  EXPECT_EQ(windows.error().errno_value, EACCES);
  EXPECT_NE(windows.error().message.find("run as root"), std::string::npos);
}

// ---- Function addresses -------------------------------------------------------

TEST(FunctionAddress, ParsesBothFormsAndFormatsLikeSysfs) {
  auto a = parse_function_address("0001:3a:1f.7");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->segment, 1);
  EXPECT_EQ(a->bus, 0x3a);
  EXPECT_EQ(a->devfn, 0x1f << 3 | 7);
  EXPECT_EQ(format_function_address(*a), "0001:3a:1f.7");
  auto short_form = parse_function_address("02:00.1");
  ASSERT_TRUE(short_form);
  EXPECT_EQ(format_function_address(*short_form), "0000:02:00.1");
  EXPECT_EQ(format_function_address(*parse_function_address("FFFF:FF:1F.7")), "ffff:ff:1f.7");
}

TEST(FunctionAddress, ErrorsNameThePart) {
  auto error_of = [](const char* text) { return parse_function_address(text).error().message; };
  EXPECT_NE(error_of("0000:00:00").find("no '.'"), std::string::npos);
  EXPECT_NE(error_of("00.0").find("no bus"), std::string::npos);
  EXPECT_NE(error_of("10000:00:00.0").find("bad segment"), std::string::npos);
  EXPECT_NE(error_of("0000:100:00.0").find("bad bus"), std::string::npos);
  EXPECT_NE(error_of("0000:00:20.0").find("bad device"), std::string::npos);
  EXPECT_NE(error_of("0000:00:00.8").find("bad function"), std::string::npos);
  EXPECT_NE(error_of("0000:00:0g.0").find("bad device"), std::string::npos);
  EXPECT_NE(error_of("0000:00:00.").find("bad function"), std::string::npos);
  EXPECT_NE(error_of(":00:00.0").find("bad segment"), std::string::npos);
}

TEST(FunctionAddress, HostBridgeNames) {
  auto bus = parse_host_bridge_name("pci0000:00");
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->bus, 0);
  auto other = parse_host_bridge_name("pci0002:80");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->segment, 2);
  EXPECT_EQ(other->bus, 0x80);
  EXPECT_FALSE(parse_host_bridge_name("pci10000:00"));  // VMD domain: no MCFG window
  EXPECT_FALSE(parse_host_bridge_name("platform"));
  EXPECT_FALSE(parse_host_bridge_name("pci0000:0"));
  EXPECT_FALSE(parse_host_bridge_name("0000:00:01.0"));
}

// ---- Settings -------------------------------------------------------------------

TEST(PcieSettingsParse, Mode) {
  EXPECT_EQ(*parse_mode("reset"), abi::PcieMode::kReset);
  EXPECT_EQ(*parse_mode("off"), abi::PcieMode::kOff);
  EXPECT_FALSE(parse_mode("on"));
  EXPECT_FALSE(parse_mode(""));
  EXPECT_FALSE(parse_mode("Reset"));
}

TEST(PcieSettingsParse, Order) {
  EXPECT_EQ(*parse_order("serial"), abi::PcieOrder::kSerial);
  EXPECT_EQ(*parse_order("overlap"), abi::PcieOrder::kOverlap);
  EXPECT_EQ(parse_order("parallel").error().message, "\"parallel\" is not an order: serial or overlap");
  EXPECT_FALSE(parse_order(""));
  EXPECT_FALSE(parse_order("Overlap"));
  EXPECT_STREQ(order_name(abi::PcieOrder::kOverlap), "overlap");
  EXPECT_STREQ(order_name(abi::PcieOrder::kSerial), "serial");
}

TEST(PcieSettingsParse, TimesWithinTheirBounds) {
  EXPECT_EQ(*parse_settle_ms("100"), 100u);
  EXPECT_EQ(*parse_settle_ms("60000"), 60000u);
  EXPECT_EQ(*parse_ready_timeout_ms("1"), 1u);
  EXPECT_EQ(*parse_ready_timeout_ms("60000"), 60000u);
  EXPECT_NE(parse_settle_ms("99").error().message.find("below the minimum 100 ms (PCIe r6.0 §6.6.1"), std::string::npos);
  EXPECT_NE(parse_settle_ms("60001").error().message.find("above the maximum 60000 ms"), std::string::npos);
  EXPECT_NE(parse_ready_timeout_ms("0").error().message.find("below the minimum 1 ms"), std::string::npos);
  EXPECT_NE(parse_ready_timeout_ms("60001").error().message.find("above the maximum"), std::string::npos);
  for (const char* bad : {"", "-1", "+5", "1e3", "100ms", " 100", "0x64", "1.5"}) {
    EXPECT_FALSE(parse_settle_ms(bad)) << bad;
    EXPECT_FALSE(parse_ready_timeout_ms(bad)) << bad;
  }
  EXPECT_NE(parse_settle_ms("99999999999999999999999").error().message.find("out of range"), std::string::npos);
}

TEST(PcieSettingsParse, ExclusionListIsSortedWithoutDuplicates) {
  auto list = parse_excluded("0000:03:00.0,01:00.1,0000:01:00.1,0001:00:02.0");
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ(format_function_address((*list)[0]), "0000:01:00.1");
  EXPECT_EQ(format_function_address((*list)[1]), "0000:03:00.0");
  EXPECT_EQ(format_function_address((*list)[2]), "0001:00:02.0");
}

TEST(PcieSettingsParse, ExclusionListErrors) {
  EXPECT_FALSE(parse_excluded(""));
  EXPECT_FALSE(parse_excluded("0000:01:00.0,"));
  EXPECT_FALSE(parse_excluded(",0000:01:00.0"));
  EXPECT_NE(parse_excluded("0000:01:00.0,0000:01:32.0").error().message.find("bad device"), std::string::npos);
  std::string many;
  for (int i = 0; i < 33; ++i) many += (i ? "," : "") + format("0000:%02x:00.0", i);
  EXPECT_NE(parse_excluded(many).error().message.find("33 functions, Limbo's configuration holds at most 32"),
            std::string::npos);
  std::string thirty_two = many.substr(0, many.rfind(','));
  EXPECT_TRUE(parse_excluded(thirty_two));
}

std::map<std::string, std::string> env;
const char* fake_getenv(const char* name) {
  auto found = env.find(name);
  return found == env.end() ? nullptr : found->second.c_str();
}

TEST(PcieEnvironment, DefaultsWhenUnsetOrEmpty) {
  env = {{"LIMBO_PCIE", ""}};
  auto options = options_from_environment(fake_getenv);
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->mode, abi::PcieMode::kReset);
  EXPECT_FALSE(options->include_display);
  EXPECT_EQ(options->settle_ms, 100u);
  EXPECT_EQ(options->ready_timeout_ms, 1000u);
  EXPECT_TRUE(options->excluded.empty());
  EXPECT_EQ(options->order, abi::PcieOrder::kSerial);
}

TEST(PcieEnvironment, EveryVariable) {
  env = {{"LIMBO_PCIE", "off"}, {"LIMBO_PCIE_EXCLUDE", "0000:02:00.0,0000:01:00.0"},
         {"LIMBO_PCIE_INCLUDE_DISPLAY", "1"}, {"LIMBO_PCIE_SETTLE_MS", "250"}, {"LIMBO_PCIE_READY_TIMEOUT_MS", "5000"},
         {"LIMBO_PCIE_ORDER", "overlap"}};
  auto options = options_from_environment(fake_getenv);
  ASSERT_TRUE(options) << options.error().message;
  EXPECT_EQ(options->mode, abi::PcieMode::kOff);
  EXPECT_EQ(options->order, abi::PcieOrder::kOverlap);
  EXPECT_TRUE(options->include_display);
  EXPECT_EQ(options->settle_ms, 250u);
  EXPECT_EQ(options->ready_timeout_ms, 5000u);
  ASSERT_EQ(options->excluded.size(), 2u);
  EXPECT_EQ(format_function_address(options->excluded[0]), "0000:01:00.0");
}

TEST(PcieEnvironment, BadValuesNameTheVariable) {
  auto error_for = [](const char* name, const char* value) {
    env = {{name, value}};
    auto options = options_from_environment(fake_getenv);
    return options ? std::string("accepted") : options.error().message;
  };
  EXPECT_EQ(error_for("LIMBO_PCIE", "maybe"), "LIMBO_PCIE=maybe: \"maybe\" is not a mode: reset or off");
  EXPECT_EQ(error_for("LIMBO_PCIE_SETTLE_MS", "5").rfind("LIMBO_PCIE_SETTLE_MS=5: 5 ms is below the minimum 100 ms", 0), 0u);
  EXPECT_EQ(error_for("LIMBO_PCIE_READY_TIMEOUT_MS", "x").rfind("LIMBO_PCIE_READY_TIMEOUT_MS=x: ", 0), 0u);
  EXPECT_EQ(error_for("LIMBO_PCIE_EXCLUDE", "1:2:3").rfind("LIMBO_PCIE_EXCLUDE=1:2:3: ", 0), 0u);
  EXPECT_EQ(error_for("LIMBO_PCIE_INCLUDE_DISPLAY", "yes"), "LIMBO_PCIE_INCLUDE_DISPLAY=yes: is 1 or 0");
  EXPECT_EQ(error_for("LIMBO_PCIE_ORDER", "both"), "LIMBO_PCIE_ORDER=both: \"both\" is not an order: serial or overlap");
}

TEST(PcieEnvironment, LimboKexecOptionsRoundTripThroughTheEnvironment) {
  PcieOptions options;
  options.mode = abi::PcieMode::kReset;
  options.include_display = true;
  options.settle_ms = 1500;
  options.ready_timeout_ms = 42;
  options.order = abi::PcieOrder::kOverlap;
  options.excluded = *parse_excluded("0000:01:00.0,0003:7f:1f.7");
  env.clear();
  for (const auto& [name, value] : options_to_environment(options)) env[name] = value;
  auto back = options_from_environment(fake_getenv);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->mode, options.mode);
  EXPECT_EQ(back->include_display, true);
  EXPECT_EQ(back->settle_ms, 1500u);
  EXPECT_EQ(back->ready_timeout_ms, 42u);
  EXPECT_EQ(back->order, abi::PcieOrder::kOverlap);
  EXPECT_EQ(env.at("LIMBO_PCIE_ORDER"), "overlap");
  ASSERT_EQ(back->excluded.size(), 2u);
  EXPECT_EQ(format_function_address(back->excluded[1]), "0003:7f:1f.7");
  // Every variable is set, so nothing from the caller's environment leaks in.
  EXPECT_EQ(options_to_environment(PcieOptions{}).size(), 7u);
  EXPECT_EQ(env.at("LIMBO_PCIE_INCLUDE_DISPLAY"), "1");
}

// ---- limbo-kexec options ----------------------------------------------------------

TEST(LimboKexecPcieArguments, Accepted) {
  using plugin::cli::testing::arguments_of;
  using plugin::cli::testing::usage_error;
  const auto args = arguments_of({"limbo-kexec", "--pcie=off", "--pcie-exclude=01:00.0", "--pcie-exclude=0000:02:00.0,01:00.0",
                                     "--pcie-include-display", "--pcie-settle-ms=200", "--pcie-ready-timeout-ms=3000", "-p",
                                     "/vmlinuz"});
  EXPECT_EQ(args.pcie.mode, abi::PcieMode::kOff);
  EXPECT_TRUE(args.pcie.include_display);
  EXPECT_EQ(args.pcie.settle_ms, 200u);
  EXPECT_EQ(args.pcie.ready_timeout_ms, 3000u);
  ASSERT_EQ(args.pcie.excluded.size(), 2u);  // repeated option: the lists add up, duplicates collapse
  const std::vector<std::string> kexec = {"-p", "/vmlinuz"};
  EXPECT_EQ(args.kexec_args, kexec);
  const auto defaults = arguments_of({"limbo-kexec", "-p", "/vmlinuz"});
  EXPECT_EQ(defaults.pcie.mode, abi::PcieMode::kReset);
  EXPECT_EQ(defaults.pcie.settle_ms, 100u);
  EXPECT_EQ(defaults.pcie.order, abi::PcieOrder::kSerial);
  EXPECT_EQ(arguments_of({"limbo-kexec", "--pcie-order=overlap", "-p", "/vmlinuz"}).pcie.order, abi::PcieOrder::kOverlap);
  EXPECT_EQ(arguments_of({"limbo-kexec", "--pcie-order=overlap", "--pcie-order=serial"}).pcie.order,
            abi::PcieOrder::kSerial);  // the last one wins, like the other options
  EXPECT_FALSE(defaults.plan);
  EXPECT_TRUE(arguments_of({"limbo-kexec", "--plan"}).plan);
  const auto plan = arguments_of({"limbo-kexec", "--plan", "--pcie-exclude=01:00.0", "--pcie-include-display"});
  EXPECT_EQ(plan.pcie.excluded.size(), 1u);
  EXPECT_EQ(usage_error({"limbo-kexec", "--plan", "-p", "/vmlinuz"}),
            "--plan loads nothing: give it no kexec arguments (only Limbo's PCIe options)");
}

TEST(LimboKexecPcieArguments, BadValuesAreUsageErrors) {
  using plugin::cli::testing::arguments_of;
  using plugin::cli::testing::usage_error;
  auto error_of = [](std::vector<std::string> argv) {
    argv.insert(argv.begin(), "limbo-kexec");
    argv.push_back("-p");
    return usage_error(argv);
  };
  EXPECT_EQ(error_of({"--pcie=on"}), "--pcie=on: \"on\" is not a mode: reset or off");
  EXPECT_EQ(error_of({"--pcie-order=first"}), "--pcie-order=first: \"first\" is not an order: serial or overlap");
  EXPECT_EQ(error_of({"--pcie-order", "overlap"}), "--pcie-order takes its value after '=' (--pcie-order=...)");
  EXPECT_NE(error_of({"--pcie-order="}), "");
  EXPECT_EQ(error_of({"--pcie-settle-ms=50"}).rfind("--pcie-settle-ms=50: 50 ms is below the minimum 100 ms", 0), 0u);
  EXPECT_EQ(error_of({"--pcie-ready-timeout-ms=0"}).rfind("--pcie-ready-timeout-ms=0: ", 0), 0u);
  EXPECT_EQ(error_of({"--pcie-exclude=00:00.9"}).rfind("--pcie-exclude=00:00.9: ", 0), 0u);
  EXPECT_EQ(error_of({"--pcie", "reset"}), "--pcie takes its value after '=' (--pcie=...)");
  EXPECT_NE(error_of({"--pcie-settle-ms"}), "");
  EXPECT_NE(error_of({"--pcie-exclude="}), "");
  std::vector<std::string> many;
  for (int i = 0; i < 33; ++i) many.push_back(format("--pcie-exclude=0000:%02x:00.0", i));
  EXPECT_NE(error_of(many).find("at most 32"), std::string::npos);
}

// ---- Filling the configuration block -------------------------------------------------

Topology q35_topology() {
  Topology t;
  t.ecam = EcamWindows{{abi::EcamWindow{0xb0000000, 0, 0, 0xff, 0}}, "MCFG"};
  t.root_buses = std::vector<abi::PciAddress>{bdf(0, 0, 0, 0)};
  return t;
}

TEST(FillPcie, ModeOffIsAllZero) {
  PcieOptions options;
  options.mode = abi::PcieMode::kOff;
  options.excluded = *parse_excluded("01:00.0");
  const FilledSettings filled = fill_settings(options, q35_topology());
  const abi::PcieSettings zero{};
  EXPECT_EQ(std::memcmp(&filled.settings, &zero, sizeof(zero)), 0);
  EXPECT_TRUE(filled.warnings.empty());
  EXPECT_FALSE(filled.quiesce_disabled);
}

TEST(FillPcie, ResetCarriesWindowsRootsTimesExclusions) {
  PcieOptions options;
  options.include_display = true;
  options.settle_ms = 300;
  options.ready_timeout_ms = 2000;
  options.excluded = *parse_excluded("0000:01:00.0,0000:02:00.0");
  Topology t = q35_topology();
  t.ecam->windows.push_back({0xc0000000, 1, 0x10, 0x1f, 0});
  t.root_buses = std::vector<abi::PciAddress>{bdf(0, 0, 0, 0), bdf(1, 0x10, 0, 0)};
  const FilledSettings filled = fill_settings(options, t);
  const abi::PcieSettings& s = filled.settings;
  EXPECT_TRUE(filled.warnings.empty());
  EXPECT_EQ(s.mode, static_cast<uint32_t>(abi::PcieMode::kReset));
  EXPECT_EQ(s.flags, abi::kPcieFlagIncludeDisplay);
  EXPECT_EQ(s.settle_ms, 300u);
  EXPECT_EQ(s.ready_timeout_ms, 2000u);
  ASSERT_EQ(s.ecam_count, 2u);
  EXPECT_EQ(s.ecam[1].base, 0xc0000000u);
  EXPECT_EQ(s.ecam[1].start_bus, 0x10);
  ASSERT_EQ(s.root_bus_count, 2u);
  EXPECT_EQ(s.root_buses[1].segment, 1);
  EXPECT_EQ(s.root_buses[1].bus, 0x10);
  ASSERT_EQ(s.excluded_count, 2u);
  EXPECT_EQ(s.excluded[1].bus, 2);
  // Everything past the counts stays zero.
  EXPECT_EQ(s.ecam[2].base, 0u);
  EXPECT_EQ(s.root_buses[2].bus, 0);
}

// A kernel engineer would rather have the capture kernel load without the
// reset than not at all: mode off in the block, and a loud warning.
TEST(FillPcie, NoEcamLoadsWithQuiesceOffAndSaysSo) {
  Topology t = q35_topology();
  t.ecam = fail("MCFG: no such file; /proc/iomem lists no PCI MMCONFIG/ECAM range");
  const FilledSettings filled = fill_settings(PcieOptions{}, t);
  EXPECT_TRUE(filled.quiesce_disabled);
  EXPECT_EQ(filled.settings.mode, static_cast<uint32_t>(abi::PcieMode::kOff));
  EXPECT_EQ(filled.settings.ecam_count, 0u);
  ASSERT_EQ(filled.warnings.size(), 1u);
  EXPECT_NE(filled.warnings[0].find("PCIe quiesce is OFF for this load"), std::string::npos);
  EXPECT_NE(filled.warnings[0].find("MCFG: no such file"), std::string::npos);
}

TEST(FillPcie, RootBusesOutsideEveryWindowAreDropped) {
  Topology t = q35_topology();
  t.ecam->windows[0].end_bus = 0x7f;
  t.root_buses = std::vector<abi::PciAddress>{bdf(0, 0, 0, 0), bdf(0, 0x80, 0, 0), bdf(2, 0, 0, 0)};
  const FilledSettings filled = fill_settings(PcieOptions{}, t);
  ASSERT_EQ(filled.settings.root_bus_count, 1u);
  ASSERT_EQ(filled.warnings.size(), 2u);
  EXPECT_NE(filled.warnings[0].find("root bus 0000:80 is in no ECAM window"), std::string::npos);
  EXPECT_NE(filled.warnings[1].find("root bus 0002:00"), std::string::npos);
}

TEST(FillPcie, NoRootBusInSysfsStartsAtEachWindow) {
  Topology t = q35_topology();
  t.ecam->windows.push_back({0xc0000000, 0, 0x80, 0xff, 0});
  t.ecam->windows[0].end_bus = 0x7f;
  t.root_buses = fail("cannot read /sys");
  const FilledSettings filled = fill_settings(PcieOptions{}, t);
  ASSERT_EQ(filled.settings.root_bus_count, 2u);
  EXPECT_EQ(filled.settings.root_buses[0].bus, 0);
  EXPECT_EQ(filled.settings.root_buses[1].bus, 0x80);
  ASSERT_EQ(filled.warnings.size(), 1u);
  EXPECT_NE(filled.warnings[0].find("cannot read /sys"), std::string::npos);
}

TEST(FillPcie, RootBusesAreCappedWithAWarning) {
  Topology t = q35_topology();
  t.root_buses = std::vector<abi::PciAddress>{};
  for (int b = 0; b < 100; ++b) t.root_buses->push_back(bdf(0, static_cast<uint8_t>(b), 0, 0));
  const FilledSettings filled = fill_settings(PcieOptions{}, t);
  EXPECT_EQ(filled.settings.root_bus_count, abi::kMaxRootBuses);
  EXPECT_EQ(filled.settings.root_buses[63].bus, 63);
  ASSERT_EQ(filled.warnings.size(), 1u);
  EXPECT_NE(filled.warnings[0].find("100 root buses, Limbo's configuration holds 64: devices below 0000:40"),
            std::string::npos);
}

TEST(FillPcie, DescribeSettings) {
  PcieOptions options;
  options.excluded = *parse_excluded("0000:01:00.0");
  const auto lines = describe_settings(fill_settings(options, q35_topology()).settings);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "pcie: mode reset, settle 100 ms, ready timeout 1000 ms");
  EXPECT_EQ(lines[1], "pcie: order serial: the image verified first, devices reset only after it passed");
  EXPECT_EQ(lines[2], "pcie: ECAM segment 0000 buses 00-ff at 0xb0000000");
  EXPECT_EQ(lines[3], "pcie: root buses 0000:00");
  EXPECT_EQ(lines[4], "pcie: excluded 0000:01:00.0");
  options.order = abi::PcieOrder::kOverlap;
  const abi::PcieSettings overlap = fill_settings(options, q35_topology()).settings;
  EXPECT_EQ(overlap.order, static_cast<uint32_t>(abi::PcieOrder::kOverlap));
  EXPECT_EQ(describe_settings(overlap)[1],
            "pcie: order overlap: devices reset before the image is verified, verified during their settle time (a "
            "damaged image then finds them reset)");
  EXPECT_EQ(describe_settings(abi::PcieSettings{})[0], "pcie: mode off (no device is touched)");
}

// ---- The system: root buses, ECAM source ---------------------------------------------

TEST(RootBuses, HostBridgesAndTheParentsOfRootBusDevices) {
  FakeSysfs sys;
  const auto pci0 = sys.host_bridge(0, 0);
  sys.host_bridge(0, 0x80);
  // A host bridge nested under another device (Hyper-V, VMD) is found
  // through its devices' parent.
  const auto nested = sys.host_bridge(3, 0x40, "devices/platform/vmbus");
  FakeFunction rp{.pcie_type = 4, .secondary = 1, .subordinate = 1};
  rp.device = 1;
  const auto rp_dir = sys.add(rp, pci0);
  FakeFunction ep{.bus = 1};
  sys.add(ep, rp_dir);  // behind a bridge: its parent is not a host bridge
  FakeFunction vm{.segment = 3, .bus = 0x40};
  sys.add(vm, nested);
  auto buses = find_root_buses(sys.root());
  ASSERT_TRUE(buses) << buses.error().message;
  ASSERT_EQ(buses->size(), 3u);
  EXPECT_EQ((*buses)[0].bus, 0);
  EXPECT_EQ((*buses)[1].bus, 0x80);
  EXPECT_EQ((*buses)[2].segment, 3);
  EXPECT_EQ((*buses)[2].bus, 0x40);
}

TEST(RootBuses, UnreadableSysfsIsAnError) {
  auto buses = find_root_buses("/nonexistent-limbo-sysfs");
  ASSERT_FALSE(buses);
  EXPECT_EQ(buses.error().errno_value, ENOENT);
}

TEST(ReadTopology, McfgFirstThenIomemThenBothProblems) {
  FakeSysfs sys;
  sys.host_bridge(0, 0);
  sys.write("MCFG", make_mcfg({{0xb0000000, 0, 0, 0xff}}));
  sys.write("iomem", "c0000000-c00fffff : PCI ECAM 0000 [bus 00-00]\n");
  SystemPaths paths{sys.path("MCFG"), sys.path("iomem"), sys.root()};
  Topology t = read_topology(paths);
  ASSERT_TRUE(t.ecam) << t.ecam.error().message;
  EXPECT_EQ(t.ecam->source, "MCFG");
  ASSERT_EQ(t.ecam->windows.size(), 1u);
  EXPECT_EQ(t.ecam->windows[0].base, 0xb0000000u);
  ASSERT_TRUE(t.root_buses) << t.root_buses.error().message;
  ASSERT_EQ(t.root_buses->size(), 1u);

  sys.write("MCFG", std::string("MCFG broken"));
  t = read_topology(paths);
  ASSERT_TRUE(t.ecam) << t.ecam.error().message;
  EXPECT_EQ(t.ecam->source, sys.path("iomem"));
  ASSERT_EQ(t.ecam->windows.size(), 1u);
  EXPECT_EQ(t.ecam->windows[0].base, 0xc0000000u);

  sys.write("iomem", "00100000-7fffffff : System RAM\n");
  t = read_topology(paths);
  ASSERT_FALSE(t.ecam);
  const std::string& problem = t.ecam.error().message;
  EXPECT_NE(problem.find("MCFG: 11 bytes, shorter than the 36-byte ACPI header"), std::string::npos) << problem;
  EXPECT_NE(problem.find("lists no PCI MMCONFIG/ECAM range"), std::string::npos) << problem;
}

// ---- The sysfs config reader ------------------------------------------------------------

TEST(SysfsConfig, ReadsLittleEndianAndAbsentAsAllOnes) {
  FakeSysfs sys;
  FakeFunction f{.vendor = 0x1af4, .device_id = 0x1041, .class_code = 0x020000, .pcie_type = 0};
  sys.add(f, sys.host_bridge(0, 0));
  SysfsConfigReader reader(sys.root(), {});
  EXPECT_EQ(reader.read32(bdf(0, 0, 0, 0), 0), 0x10411af4u);
  EXPECT_EQ(reader.read16(bdf(0, 0, 0, 0), 2), 0x1041);
  EXPECT_EQ(reader.read8(bdf(0, 0, 0, 0), 0x0b), 0x02);
  EXPECT_EQ(reader.read32(bdf(0, 0, 1, 0), 0), 0xffffffffu);
  EXPECT_EQ(reader.read16(bdf(0, 0, 0, 0), 4095), 0xff00);  // the byte past 4 KiB reads as ones
  EXPECT_EQ(reader.readable_bytes(bdf(0, 0, 0, 0)), 4096u);
  EXPECT_EQ(reader.readable_bytes(bdf(0, 0, 1, 0)), 0u);
  EXPECT_TRUE(reader.in_window(0, 0x42));  // no window known: every bus
  SysfsConfigReader windowed(sys.root(), {abi::EcamWindow{0xb0000000, 0, 0, 0x0f, 0}});
  EXPECT_TRUE(windowed.in_window(0, 0x0f));
  EXPECT_FALSE(windowed.in_window(0, 0x10));
  EXPECT_FALSE(windowed.in_window(1, 0));
}

// ---- The plan over a fake system ---------------------------------------------------------

// Every topology class of the issue on segment 0:
//   00:00.0 host bridge (conventional)        00:01.0 root port -> 01:00.0 NVMe
//   00:02.0 root port -> 02:00.0 switch upstream -> 03:00.0 downstream -> 04:00.0 display
//                                                -> 03:01.0 downstream -> 05:00.0 NIC
//   00:03.0 root port -> 06:00.0 PCIe-to-PCI bridge -> 07:00.0 conventional device
//   00:04.0 RCiEP                              00:05.0 root port -> 08:00.0 + 08:00.1 multi-function
class Plan : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto host = sys_.host_bridge(0, 0);
    add({.class_code = 0x060000}, host);
    const auto rp1 = add({.device = 1, .class_code = 0x060400, .pcie_type = 4, .secondary = 1, .subordinate = 1}, host);
    add({.bus = 1, .vendor = 0x1b36, .device_id = 0x0010, .class_code = 0x010802, .pcie_type = 0}, rp1);
    const auto rp2 = add({.device = 2, .class_code = 0x060400, .pcie_type = 4, .secondary = 2, .subordinate = 5}, host);
    const auto up = add({.bus = 2, .class_code = 0x060400, .pcie_type = 5, .secondary = 3, .subordinate = 5}, rp2);
    const auto down0 = add({.bus = 3, .class_code = 0x060400, .pcie_type = 6, .secondary = 4, .subordinate = 4}, up);
    add({.bus = 4, .vendor = 0x1234, .device_id = 0x1111, .class_code = 0x030000, .pcie_type = 0}, down0);
    const auto down1 = add({.bus = 3, .device = 1, .class_code = 0x060400, .pcie_type = 6, .secondary = 5, .subordinate = 5}, up);
    add({.bus = 5, .device_id = 0x10d3, .class_code = 0x020000, .pcie_type = 0}, down1);
    const auto rp3 = add({.device = 3, .class_code = 0x060400, .pcie_type = 4, .secondary = 6, .subordinate = 7}, host);
    const auto bridge = add({.bus = 6, .class_code = 0x060400, .pcie_type = 7, .secondary = 7, .subordinate = 7}, rp3);
    add({.bus = 7, .class_code = 0x078000}, bridge);
    add({.device = 4, .class_code = 0x088000, .pcie_type = 9}, host);
    const auto rp5 = add({.device = 5, .class_code = 0x060400, .pcie_type = 4, .secondary = 8, .subordinate = 8}, host);
    add({.bus = 8, .class_code = 0x020000, .pcie_type = 0, .multi_function = true}, rp5);
    add({.bus = 8, .function = 1, .class_code = 0x020000, .pcie_type = 0}, rp5);
  }
  std::filesystem::path add(FakeFunction f, const std::filesystem::path& parent) {
    f.visible_bytes = visible_bytes_;
    return sys_.add(f, parent);
  }
  abi::PcieSettings settings(PcieOptions options = {}) { return filled(options).settings; }
  FilledSettings filled(const PcieOptions& options) {
    Topology t;
    t.ecam = EcamWindows{{abi::EcamWindow{0xb0000000, 0, 0, 0xff, 0}}, "MCFG"};
    t.root_buses = std::vector<abi::PciAddress>{bdf(0, 0, 0, 0)};
    return fill_settings(options, t);
  }
  // The tree line of a function ("BB:DD.F ..."), without the branch drawing.
  static std::string line_of(const std::string& text, const std::string& function) {
    const size_t at = text.find("-" + function + " ");
    if (at == std::string::npos) return "(no line for " + function + ")";
    return text.substr(at + 1, text.find('\n', at) - at - 1);
  }

  FakeSysfs sys_;
  size_t visible_bytes_ = 4096;
};

TEST_F(Plan, EveryTopologyClass) {
  const PlanSummary plan = make_plan(sys_.root(), settings());
  const std::string& t = plan.text;
  EXPECT_EQ(plan.functions, 16u) << t;
  EXPECT_EQ(plan.ports, 3u) << t;      // 00:01.0, 03:01.0, 00:05.0
  EXPECT_EQ(plan.endpoints, 4u) << t;  // 01:00.0, 05:00.0, 08:00.0, 08:00.1
  EXPECT_TRUE(plan.notes.empty());
  EXPECT_EQ(line_of(t, "00:01.0"), "00:01.0 8086:1234 class 060400 root port: port reset (only endpoints below) [bus 01-01]");
  EXPECT_EQ(line_of(t, "01:00.0"), "01:00.0 1b36:0010 class 010802 endpoint: reset by bus reset (port 0000:00:01.0)");
  EXPECT_EQ(line_of(t, "00:02.0"),
            "00:02.0 8086:1234 class 060400 root port: leave bridge below (0000:02:00.0) [bus 02-05]");
  EXPECT_EQ(line_of(t, "02:00.0"),
            "02:00.0 8086:1234 class 060400 switch upstream port: leave switch upstream port, never reset [bus 03-05]");
  EXPECT_EQ(line_of(t, "03:00.0"),
            "03:00.0 8086:1234 class 060400 switch downstream port: leave display device below (0000:04:00.0) [bus 04-04]");
  EXPECT_EQ(line_of(t, "04:00.0"), "04:00.0 1234:1111 class 030000 endpoint: skip display device");
  EXPECT_EQ(line_of(t, "03:01.0"),
            "03:01.0 8086:1234 class 060400 switch downstream port: port reset (only endpoints below) [bus 05-05]");
  EXPECT_EQ(line_of(t, "05:00.0"), "05:00.0 8086:10d3 class 020000 endpoint: reset by bus reset (port 0000:03:01.0)");
  EXPECT_EQ(line_of(t, "00:03.0"),
            "00:03.0 8086:1234 class 060400 root port: leave bridge below (0000:06:00.0) [bus 06-07]");
  EXPECT_EQ(line_of(t, "06:00.0").rfind("06:00.0 8086:1234 class 060400 pcie-to-pci bridge: leave ", 0), 0u);
  EXPECT_EQ(line_of(t, "07:00.0"), "07:00.0 8086:1234 class 078000 conventional pci: stop by bus master off (conventional pci)");
  EXPECT_EQ(line_of(t, "00:04.0"),
            "00:04.0 8086:1234 class 088000 root complex integrated endpoint: stop by bus master off (root complex integrated endpoint, no port)");
  EXPECT_EQ(line_of(t, "08:00.1"), "08:00.1 8086:1234 class 020000 endpoint: reset by bus reset (port 0000:00:05.0)");
  // The tree's shape: the root bus, then branches; the last child drawn with "\-".
  EXPECT_EQ(t.rfind("-[0000:00]-\n +-00:00.0 ", 0), 0u) << t;
  EXPECT_NE(t.find(" | \\-01:00.0 "), std::string::npos) << t;
  EXPECT_NE(t.find(" \\-00:05.0 "), std::string::npos) << t;
  EXPECT_NE(t.find("   +-08:00.0 "), std::string::npos) << t;
  EXPECT_NE(t.find("plan: 3 ports to reset (4 endpoints), "), std::string::npos) << t;
}

TEST_F(Plan, ExclusionAndDisplayInclusion) {
  PcieOptions options;
  options.excluded = *parse_excluded("0000:08:00.1");
  options.include_display = true;
  const PlanSummary plan = make_plan(sys_.root(), settings(options));
  EXPECT_EQ(line_of(plan.text, "00:05.0"),
            "00:05.0 8086:1234 class 060400 root port: leave excluded function below (0000:08:00.1, rule "
            "--pcie-exclude=0000:08:00.1) [bus 08-08]");
  EXPECT_EQ(line_of(plan.text, "08:00.1"),
            "08:00.1 8086:1234 class 020000 endpoint: skip excluded (rule --pcie-exclude=0000:08:00.1)");
  EXPECT_EQ(line_of(plan.text, "08:00.0"),
            "08:00.0 8086:1234 class 020000 endpoint: stop by bus master off (port left alone for another function 0000:00:05.0)");
  EXPECT_EQ(line_of(plan.text, "03:00.0"),
            "03:00.0 8086:1234 class 060400 switch downstream port: port reset (only endpoints below) [bus 04-04]");
  EXPECT_EQ(line_of(plan.text, "04:00.0"), "04:00.0 1234:1111 class 030000 endpoint: reset by bus reset (port 0000:03:00.0)");
  EXPECT_EQ(plan.ports, 3u);
}

TEST_F(Plan, ModeOffSkipsEverything) {
  PcieOptions options;
  options.mode = abi::PcieMode::kOff;
  Topology t;
  t.ecam = EcamWindows{{abi::EcamWindow{0xb0000000, 0, 0, 0xff, 0}}, "MCFG"};
  t.root_buses = std::vector<abi::PciAddress>{bdf(0, 0, 0, 0)};
  const PlanSummary plan = make_plan(sys_.root(), plan_settings(options, t).settings);
  EXPECT_EQ(plan.ports, 0u);
  EXPECT_EQ(plan.functions, 16u);
  EXPECT_EQ(line_of(plan.text, "01:00.0"), "01:00.0 1b36:0010 class 010802 endpoint: skip pcie mode off");
}

TEST_F(Plan, BusesOutsideTheWindowAreNotRead) {
  abi::PcieSettings s = settings();
  s.ecam[0].end_bus = 0x03;  // buses 04-08 unreachable through ECAM
  const PlanSummary plan = make_plan(sys_.root(), s);
  EXPECT_EQ(line_of(plan.text, "03:01.0"),
            "03:01.0 8086:1234 class 060400 switch downstream port: leave bus below not scanned [bus 05-05, outside the ecam windows]");
  EXPECT_EQ(line_of(plan.text, "05:00.0"), "(no line for 05:00.0)");
  EXPECT_EQ(plan.ports, 1u);  // only 00:01.0
}

TEST_F(Plan, RootBusOutsideTheWindowIsShownNotWalked) {
  abi::PcieSettings s = settings();
  s.ecam[0].start_bus = 0x10;
  const PlanSummary plan = make_plan(sys_.root(), s);
  EXPECT_EQ(plan.text.rfind("-[0000:00]- (in no ECAM window: not walked)\n", 0), 0u) << plan.text;
  EXPECT_EQ(plan.functions, 0u);
}

// Without root, sysfs shows 64 bytes: the plan says its types are guesses.
class UnprivilegedPlan : public Plan {
 protected:
  void SetUp() override {
    visible_bytes_ = kUnprivilegedConfigBytes;
    Plan::SetUp();
  }
};

TEST_F(UnprivilegedPlan, SaysTheConfigSpaceWasCutShort) {
  const PlanSummary plan = make_plan(sys_.root(), settings());
  EXPECT_EQ(plan.ports, 0u);
  EXPECT_GT(plan.truncated_config, 0u);
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find("only the first 64 bytes of config space (not root)"), std::string::npos);
}

// Two segments, each with its root bus and window: both trees, in order.
TEST(PlanSegments, EachRootBusItsTree) {
  FakeSysfs sys;
  const auto host0 = sys.host_bridge(0, 0);
  const auto rp0 = sys.add({.device = 1, .class_code = 0x060400, .pcie_type = 4, .secondary = 1, .subordinate = 1}, host0);
  sys.add({.bus = 1, .class_code = 0x010802, .pcie_type = 0}, rp0);
  const auto host1 = sys.host_bridge(1, 0x80);
  const auto rp1 = sys.add({.segment = 1, .bus = 0x80, .class_code = 0x060400, .pcie_type = 4, .secondary = 0x81,
                            .subordinate = 0x81}, host1);
  sys.add({.segment = 1, .bus = 0x81, .class_code = 0x020000, .pcie_type = 0}, rp1);
  sys.write("MCFG", make_mcfg({{0xb0000000, 0, 0, 0x7f}, {0xc0000000, 1, 0x80, 0xff}}));
  Topology t = read_topology({sys.path("MCFG"), "/nonexistent", sys.root()});
  ASSERT_TRUE(t.root_buses) << t.root_buses.error().message;
  ASSERT_EQ(t.root_buses->size(), 2u);
  const FilledSettings filled = fill_settings(PcieOptions{}, t);
  EXPECT_TRUE(filled.warnings.empty());
  EXPECT_EQ(filled.settings.ecam[1].base, 0xc0000000u + (0x80u << 20));
  const PlanSummary plan = make_plan(sys.root(), filled.settings);
  EXPECT_EQ(plan.ports, 2u) << plan.text;
  const size_t first = plan.text.find("-[0000:00]-\n");
  const size_t second = plan.text.find("-[0001:80]-\n");
  ASSERT_NE(first, std::string::npos) << plan.text;
  ASSERT_NE(second, std::string::npos) << plan.text;
  EXPECT_LT(first, second);
  EXPECT_NE(plan.text.find(" \\-81:00.0 8086:1234 class 020000 endpoint: reset by bus reset (port 0001:80:00.0)"), std::string::npos)
      << plan.text;
}

// --plan scans below ports as the purgatory does for the order it shows:
// under overlap only device 0 below a root port (as Linux's default scan), so
// a device numbered past 0 there (a platform that needs pci=pcie_scan_all) is
// in the serial plan and not in the overlap plan.
TEST(PlanOrder, OverlapReadsDeviceZeroBelowPorts) {
  FakeSysfs sys;
  const auto host = sys.host_bridge(0, 0);
  const auto rp = sys.add({.device = 1, .class_code = 0x060400, .pcie_type = 4, .secondary = 1, .subordinate = 1}, host);
  sys.add({.bus = 1, .class_code = 0x010802, .pcie_type = 0}, rp);
  sys.add({.bus = 1, .device = 1, .class_code = 0x020000, .pcie_type = 0}, rp);
  Topology t;
  t.ecam = EcamWindows{{abi::EcamWindow{0xb0000000, 0, 0, 0xff, 0}}, "MCFG"};
  t.root_buses = std::vector<abi::PciAddress>{bdf(0, 0, 0, 0)};
  PcieOptions options;
  const PlanSummary serial = make_plan(sys.root(), fill_settings(options, t).settings);
  options.order = abi::PcieOrder::kOverlap;
  const PlanSummary overlap = make_plan(sys.root(), fill_settings(options, t).settings);
  EXPECT_NE(serial.text.find("-01:01.0 "), std::string::npos) << serial.text;
  EXPECT_EQ(overlap.text.find("-01:01.0 "), std::string::npos) << overlap.text;
  EXPECT_NE(overlap.text.find("-01:00.0 8086:1234 class 010802 "), std::string::npos) << overlap.text;
  EXPECT_EQ(serial.functions, overlap.functions + 1) << overlap.text;
}

// Conventional functions have 256 bytes of config space: past them, ones.
TEST(SysfsConfig, ConventionalSpaceEndsAt256) {
  FakeSysfs sys;
  sys.add({.class_code = 0x060000}, sys.host_bridge(0, 0));
  SysfsConfigReader reader(sys.root(), {});
  EXPECT_EQ(reader.readable_bytes(bdf(0, 0, 0, 0)), 256u);
  EXPECT_EQ(reader.read32(bdf(0, 0, 0, 0), 0xfc), 0u);
  EXPECT_EQ(reader.read32(bdf(0, 0, 0, 0), 0x100), 0xffffffffu);
  EXPECT_EQ(reader.truncated_functions(), 0u);
}

// A bridge whose secondary bus points back at its own bus: discovery ends and
// says so, as in the purgatory.
TEST(PlanHostile, BusNumberCycleEnds) {
  FakeSysfs sys;
  const auto host = sys.host_bridge(0, 0);
  const auto rp = sys.add({.class_code = 0x060400, .pcie_type = 4, .secondary = 1, .subordinate = 2}, host);
  const auto up = sys.add({.bus = 1, .class_code = 0x060400, .pcie_type = 5, .secondary = 2, .subordinate = 2}, rp);
  // Bus 2's downstream port claims bus 1 again (and bus 2 is above 1: invalid on its own bus).
  sys.add({.bus = 2, .class_code = 0x060400, .pcie_type = 6, .secondary = 1, .subordinate = 1}, up);
  Topology t;
  t.ecam = EcamWindows{{abi::EcamWindow{0xb0000000, 0, 0, 0xff, 0}}, "MCFG"};
  t.root_buses = std::vector<abi::PciAddress>{bdf(0, 0, 0, 0)};
  const PlanSummary plan = make_plan(sys.root(), fill_settings(PcieOptions{}, t).settings);
  EXPECT_EQ(plan.functions, 3u) << plan.text;
  EXPECT_NE(plan.text.find("invalid bus numbers"), std::string::npos) << plan.text;
  EXPECT_EQ(plan.ports, 0u);
}

// The plan names the rule or the quirk that decided each function.
TEST_F(Plan, RulesAndKnownDevicesAreNamed) {
  const auto host = sys_.host_bridge(0, 0);
  const auto rp6 = add({.device = 6, .class_code = 0x060400, .pcie_type = 4, .secondary = 9, .subordinate = 9}, host);
  add({.bus = 9, .vendor = 0x168c, .device_id = 0x003e, .class_code = 0x028000, .pcie_type = 0}, rp6);
  PcieOptions options;
  ASSERT_TRUE(add_selection(options, *parse_selection("1b36:0010", abi::PcieRuleAction::kExclude)));
  const FilledSettings f = filled(options);
  const PlanSummary plan = make_plan(sys_.root(), f.settings, &f.rules);
  EXPECT_EQ(line_of(plan.text, "01:00.0"), "01:00.0 1b36:0010 class 010802 endpoint: skip excluded (rule --pcie-exclude=1b36:0010)");
  EXPECT_EQ(line_of(plan.text, "00:01.0"),
            "00:01.0 8086:1234 class 060400 root port: leave excluded function below (0000:01:00.0, rule "
            "--pcie-exclude=1b36:0010) [bus 01-01]");
  EXPECT_EQ(line_of(plan.text, "00:06.0"),
            "00:06.0 8086:1234 class 060400 root port: leave known not to survive a secondary bus reset below "
            "(0000:09:00.0, quirk_no_bus_reset (atheros qca6174)) [bus 09-09]");
  EXPECT_EQ(line_of(plan.text, "09:00.0"),
            "09:00.0 168c:003e class 028000 endpoint: stop by bus master off (known not to survive a secondary bus "
            "reset, quirk_no_bus_reset (atheros qca6174))");
  // Included: its port is reset, and the line says which rule allowed it.
  ASSERT_TRUE(add_selection(options, *parse_selection("168c:003e", abi::PcieRuleAction::kInclude)));
  const FilledSettings g = filled(options);
  const PlanSummary forced = make_plan(sys_.root(), g.settings, &g.rules);
  EXPECT_EQ(line_of(forced.text, "09:00.0"),
            "09:00.0 168c:003e class 028000 endpoint: reset by bus reset (port 0000:00:06.0, rule --pcie-include=168c:003e)");
}

}  // namespace
}  // namespace limbo::test

namespace limbo::plugin::pcie {
namespace {

// ---- Exclusions and inclusions by identity ---------------------------------

TEST(PcieSelection, EveryItemKind) {
  auto sel = parse_selection("8086:10d3,8086:*,class:01,class:0108,class:010802,0000:01:00.0,8086:10d3",
                             abi::PcieRuleAction::kExclude);
  ASSERT_TRUE(sel) << sel.error().message;
  ASSERT_EQ(sel->addresses.size(), 1u);
  EXPECT_EQ(format_function_address(sel->addresses[0]), "0000:01:00.0");
  ASSERT_EQ(sel->rules.size(), 5u);  // the repeated 8086:10d3 collapses
  const abi::PcieRule& id = sel->rules[0];
  EXPECT_EQ(id.kind, static_cast<uint8_t>(abi::PcieRuleKind::kId));
  EXPECT_EQ(id.action, static_cast<uint8_t>(abi::PcieRuleAction::kExclude));
  EXPECT_EQ(id.value, 0x10d38086u);
  EXPECT_EQ(id.mask, 0xffffffffu);
  EXPECT_EQ(sel->rules[1].value, 0x8086u);
  EXPECT_EQ(sel->rules[1].mask, 0xffffu);
  EXPECT_EQ(sel->rules[2].value, 0x010000u);
  EXPECT_EQ(sel->rules[2].mask, 0xff0000u);
  EXPECT_EQ(sel->rules[3].value, 0x010800u);
  EXPECT_EQ(sel->rules[3].mask, 0xffff00u);
  EXPECT_EQ(sel->rules[4].value, 0x010802u);
  EXPECT_EQ(sel->rules[4].mask, 0xffffffu);
  const char* texts[] = {"8086:10d3", "8086:*", "class:01", "class:0108", "class:010802"};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(format_rule(sel->rules[i]), texts[i]);
  // Includes: an address is a rule too.
  auto inc = parse_selection("0000:00:1c.0,168c:0030", abi::PcieRuleAction::kInclude);
  ASSERT_TRUE(inc) << inc.error().message;
  EXPECT_TRUE(inc->addresses.empty());
  ASSERT_EQ(inc->rules.size(), 2u);
  EXPECT_EQ(inc->rules[0].kind, static_cast<uint8_t>(abi::PcieRuleKind::kAddress));
  EXPECT_EQ(inc->rules[0].value, 0x0000e0u);  // segment 0, bus 0, devfn 1c.0
  EXPECT_EQ(format_rule(inc->rules[0]), "0000:00:1c.0");
}

TEST(PcieSelection, BadItemsSayWhatIsWrong) {
  auto error = [](const char* text) {
    auto r = parse_selection(text, abi::PcieRuleAction::kExclude);
    return r ? std::string("(accepted)") : r.error().message;
  };
  EXPECT_NE(error("8086:10d").find("the device ID is 4 hex digits or *"), std::string::npos);
  EXPECT_NE(error("808g:10d3").find("the vendor ID is 4 hex digits"), std::string::npos);
  EXPECT_NE(error("ffff:*").find("is not a device's"), std::string::npos);
  EXPECT_NE(error("class:1").find("a class is class:CC, class:CCSS or class:CCSSPP"), std::string::npos);
  EXPECT_NE(error("class:01080").find("a class is"), std::string::npos);
  EXPECT_NE(error("class:0108022").find("a class is"), std::string::npos);
  EXPECT_NE(error("class:").find("a class is"), std::string::npos);
  EXPECT_NE(error("class:zz").find("a class is"), std::string::npos);
  EXPECT_NE(error("8086:10d3:1").find("is not SSSS:BB:DD.F, VVVV:DDDD, VVVV:* or class:CC[SS[PP]]"), std::string::npos);
  EXPECT_NE(error("8086").find("is not SSSS:BB:DD.F"), std::string::npos);
  EXPECT_NE(error("0000:01:32.0").find("bad device"), std::string::npos);
  EXPECT_NE(error("8086:10d3,").find("is not SSSS:BB:DD.F"), std::string::npos);
  EXPECT_NE(error(""), "(accepted)");
  std::string many;
  for (int i = 0; i < 33; ++i) many += format("%s8086:%04x", i ? "," : "", i);
  EXPECT_NE(error(many.c_str()).find("33 rules by ID, class or include, Limbo's configuration holds at most 32"),
            std::string::npos);
}

TEST(PcieSelection, OptionsAndEnvironmentRoundTrip) {
  using plugin::cli::testing::arguments_of;
  using plugin::cli::testing::usage_error;
  const auto args = arguments_of({"limbo-kexec", "--pcie-exclude=8086:*,0000:01:00.0", "--pcie-include=168c:0030",
                                     "--pcie-exclude=class:0108", "--pcie-include=168c:0030", "-p", "/vmlinuz"});
  ASSERT_EQ(args.pcie.excluded.size(), 1u);
  ASSERT_EQ(args.pcie.rules.size(), 3u);  // exclusions first, the repeated include once
  EXPECT_EQ(format_rule(args.pcie.rules[0]), "8086:*");
  EXPECT_EQ(format_rule(args.pcie.rules[1]), "class:0108");
  EXPECT_EQ(format_rule(args.pcie.rules[2]), "168c:0030");
  EXPECT_EQ(args.pcie.rules[2].action, static_cast<uint8_t>(abi::PcieRuleAction::kInclude));
  std::map<std::string, std::string> env;
  for (const auto& [name, value] : options_to_environment(args.pcie)) env[name] = value;
  EXPECT_EQ(env.at("LIMBO_PCIE_EXCLUDE"), "0000:01:00.0,8086:*,class:0108");
  EXPECT_EQ(env.at("LIMBO_PCIE_INCLUDE"), "168c:0030");
  auto back = options_from_environment([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->rules.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(back->rules[i].value, args.pcie.rules[i].value);
    EXPECT_EQ(back->rules[i].mask, args.pcie.rules[i].mask);
    EXPECT_EQ(back->rules[i].action, args.pcie.rules[i].action);
  }
  // Errors name the option or the variable, like the others.
  auto error_of = [](std::vector<std::string> argv) {
    argv.insert(argv.begin(), "limbo-kexec");
    argv.push_back("-p");
    return usage_error(argv);
  };
  EXPECT_EQ(error_of({"--pcie-include=zz"}).rfind("--pcie-include=zz: ", 0), 0u);
  EXPECT_EQ(error_of({"--pcie-exclude=class:1"}).rfind("--pcie-exclude=class:1: ", 0), 0u);
  EXPECT_EQ(error_of({"--pcie-include", "168c:0030"}), "--pcie-include takes its value after '=' (--pcie-include=...)");
  std::map<std::string, std::string> bad = {{"LIMBO_PCIE_INCLUDE", "1:2"}};
  auto failed = options_from_environment([&](const char* name) -> const char* {
    auto it = bad.find(name);
    return it == bad.end() ? nullptr : it->second.c_str();
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message.rfind("LIMBO_PCIE_INCLUDE=1:2: ", 0), 0u);
  // The configuration block carries them.
  Topology t;
  t.ecam = EcamWindows{{abi::EcamWindow{0xb0000000, 0, 0, 0xff, 0}}, "MCFG"};
  t.root_buses = std::vector<abi::PciAddress>{abi::PciAddress{0, 0, 0}};
  const FilledSettings f = fill_settings(args.pcie, t);
  EXPECT_EQ(f.rules.count, 3u);
  EXPECT_EQ(f.rules.rules[2].value, 0x0030168cu);
  const auto lines = describe_settings(f.settings, &f.rules);
  EXPECT_NE(std::find(lines.begin(), lines.end(), "pcie: excluded 0000:01:00.0 8086:* class:0108"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "pcie: included past the known-device table 168c:0030"), lines.end());
}

}  // namespace
}  // namespace limbo::plugin::pcie
