// SPDX-License-Identifier: GPL-2.0-only
// The loader-to-purgatory contract, in one place: every global that kexec-tools
// 2.0.25 or the Limbo plugin reads or writes by name, with its exact size, and
// Limbo's own versioned configuration block. Shared by the purgatory (which
// defines the variables), the plugin (which sets them) and the checker.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace limbo::abi {

// kexec-tools kexec/arch/x86_64/kexec-x86_64.h `struct entry64_regs`: loaded
// into the registers by the purgatory's last jump. rip = kernel entry,
// rsi = boot_params, rsp = address of `stack_end`.
struct Entry64Regs {
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rip;
};
static_assert(sizeof(Entry64Regs) == 136);
static_assert(offsetof(Entry64Regs, rsi) == 32);
static_assert(offsetof(Entry64Regs, rsp) == 48);
static_assert(offsetof(Entry64Regs, r8) == 64);
static_assert(offsetof(Entry64Regs, r15) == 120);
static_assert(offsetof(Entry64Regs, rip) == 128);

// kexec-tools kexec/kexec-sha256.h `struct sha256_region`: a [start, start+len)
// physical range whose bytes (segment content, then zero fill) are hashed in
// table order. Unused entries are {0, 0}.
struct Sha256Region {
  uint64_t start;
  uint64_t len;
};
static_assert(sizeof(Sha256Region) == 16);
static_assert(offsetof(Sha256Region, len) == 8);

inline constexpr size_t kSha256RegionCount = 16;  // SHA256_REGIONS
inline constexpr size_t kSha256DigestSize = 32;
static_assert(sizeof(Sha256Region) * kSha256RegionCount == 256);

// kexec-tools leaves this many writable bytes after the command line's
// terminating NUL (`cmdline_end`) in the boot_params segment.
inline constexpr size_t kCmdlineSpareBytes = 64;

// ---- Limbo's own configuration block, symbol `limbo_config` -------------
//
// The plugin fills it at load time; the purgatory refuses a block whose magic,
// version or size differs from its own (it then runs with safe defaults and
// says so on the console). A change of layout bumps kConfigVersion. An
// all-zero part means "not provided": no per-segment checks (the purgatory
// hashes every region in full, as stock), PCIe quiesce off.
inline constexpr uint32_t kConfigMagic = 0x4f424d4cu;  // "LMBO" little-endian
inline constexpr uint16_t kConfigVersion = 5;  // 3: on_fault; 4: pcie_rules appended;
                                               // 5: PcieSettings::order, was reserved

// Config::flags bits.
inline constexpr uint32_t kConfigFlagTscInvariant = 1u << 0;  // CPUID 8000_0007h EDX[8] seen by the plugin

// -- Verification: one entry per sha256_regions entry, same index. --------

// What a digested segment holds, for the diagnosis on a mismatch.
enum class SegmentRole : uint32_t {
  kOther = 0,
  kKernel = 1,
  kInitrd = 2,
  kBootParams = 3,
  kElfCoreHeaders = 4,
  kBackup = 5,
};

// sha256_regions[i] = {start, len}: the first content_len bytes carry the
// segment's content, digested into `digest`; the remaining len - content_len
// bytes are zero fill, which the purgatory checks by scanning, not hashing.
struct SegmentCheck {
  uint64_t content_len;
  uint32_t role;  // SegmentRole
  uint32_t reserved;
  uint8_t digest[32];  // SHA-256 of the content bytes only
};
static_assert(sizeof(SegmentCheck) == 48);
static_assert(offsetof(SegmentCheck, role) == 8);
static_assert(offsetof(SegmentCheck, digest) == 16);

// What the purgatory does when verification fails.
enum class OnCorruption : uint32_t {
  kHalt = 0,    // stop the CPU, as stock does
  kReboot = 1,  // reset the machine so that a server comes back
};

// What the purgatory does after a fault it cannot leave behind: one before
// the image is verified (nothing is known safe to jump to), in kexec-tools'
// post-verification work, or inside a fault handler. A fault in
// Limbo's optional work after verification (the PCIe phase, the report)
// never comes here: that work is abandoned and the jump goes on. Zero is the
// default, reboot: the outcome stock gives through its triple fault, with
// the diagnosis on the console first.
enum class OnFault : uint32_t {
  kReboot = 0,  // the reset ways of --on-corruption=reboot (lib/reboot.h), then a triple fault
  kHalt = 1,    // stop the CPU (a machine someone will look at)
};

// The FADT's reset register (ACPI r6.5 §5.2.9 FADT: RESET_REG, a Generic
// Address Structure §5.2.3.2, at offset 116; RESET_VALUE at offset 128; used
// only when Flags bit 10 RESET_REG_SUP is set). Read by the plugin from
// /sys/firmware/acpi/tables/FACP; `valid` = 0 means not provided.
struct ResetRegister {
  uint8_t address_space;  // GAS Address Space ID: 0 system memory, 1 system I/O, 2 PCI config
  uint8_t bit_width;
  uint8_t bit_offset;
  uint8_t access_size;
  uint8_t value;  // RESET_VALUE
  uint8_t valid;  // 1: the FADT has a supported reset register
  uint16_t reserved;
  uint64_t address;
};
static_assert(sizeof(ResetRegister) == 16);
static_assert(offsetof(ResetRegister, value) == 4);
static_assert(offsetof(ResetRegister, address) == 8);

// -- PCIe quiesce. -------------------------------------------------------

// One ECAM window of the ACPI MCFG table (PCI Firmware Spec r3.3 §4.1.2):
// config space of (bus, dev, fn) at base + ((bus - start_bus) << 20 | dev << 15 | fn << 12).
struct EcamWindow {
  uint64_t base;
  uint16_t segment;
  uint8_t start_bus;
  uint8_t end_bus;
  uint32_t reserved;
};
static_assert(sizeof(EcamWindow) == 16);
static_assert(offsetof(EcamWindow, segment) == 8);
static_assert(offsetof(EcamWindow, start_bus) == 10);
static_assert(offsetof(EcamWindow, end_bus) == 11);

// A PCI function (segment, bus, device << 3 | function); for a root bus only
// segment and bus count.
struct PciAddress {
  uint16_t segment;
  uint8_t bus;
  uint8_t devfn;
};
static_assert(sizeof(PciAddress) == 4);

enum class PcieMode : uint32_t {
  kOff = 0,    // touch no device
  kReset = 1,  // secondary bus reset of eligible ports
};

// When the devices are reset relative to the verification.
enum class PcieOrder : uint32_t {
  kSerial = 0,   // verify, then reset: a damaged image never touches a device (the default)
  kOverlap = 1,  // reset first (assert, hold, clear), verify during the settle time, then restore
};

// PcieSettings::flags bits.
inline constexpr uint32_t kPcieFlagIncludeDisplay = 1u << 0;  // also reset ports above display devices

inline constexpr size_t kMaxEcamWindows = 16;
inline constexpr size_t kMaxRootBuses = 64;
inline constexpr size_t kMaxExcludedFunctions = 32;

struct PcieSettings {
  uint32_t mode;  // PcieMode
  uint32_t flags;  // kPcieFlag*
  uint32_t settle_ms;  // wait after clearing Secondary Bus Reset (PCIe r6.0 §6.6.1: 100 ms)
  uint32_t ready_timeout_ms;  // give up on a device that does not answer after this
  uint32_t ecam_count;
  uint32_t root_bus_count;
  uint32_t excluded_count;
  uint32_t order;  // PcieOrder (version 5; reserved and 0 before: serial)
  EcamWindow ecam[kMaxEcamWindows];
  PciAddress root_buses[kMaxRootBuses];
  PciAddress excluded[kMaxExcludedFunctions];
};
static_assert(sizeof(PcieSettings) == 32 + 16 * kMaxEcamWindows + 4 * kMaxRootBuses + 4 * kMaxExcludedFunctions);
static_assert(offsetof(PcieSettings, order) == 28);
static_assert(offsetof(PcieSettings, ecam) == 32);

// Exclusions and inclusions by identity: --pcie-exclude's
// VVVV:DDDD and class:CC[SS[PP]], and every --pcie-include. Addresses given to
// --pcie-exclude stay in PcieSettings::excluded; an address given to
// --pcie-include is a rule here. A function matches when
// (its value & mask) == value, its value being by kind:
//   kAddress: segment << 16 | bus << 8 | devfn
//   kId:      device ID << 16 | vendor ID (the first dword of config space)
//   kClass:   the 24-bit class code (base class 23:16, sub-class 15:8, interface 7:0)
enum class PcieRuleKind : uint8_t {
  kAddress = 1,
  kId = 2,
  kClass = 3,
};
enum class PcieRuleAction : uint8_t {
  kExclude = 1,  // the function is left alone, as an excluded address is
  kInclude = 2,  // the built-in table of known devices (lib/pcie/known_devices.h) does not apply to it
};
struct PcieRule {
  uint8_t kind;    // PcieRuleKind
  uint8_t action;  // PcieRuleAction
  uint16_t reserved;
  uint32_t value;
  uint32_t mask;
};
static_assert(sizeof(PcieRule) == 12);
static_assert(offsetof(PcieRule, value) == 4);
static_assert(offsetof(PcieRule, mask) == 8);

inline constexpr size_t kMaxPcieRules = 32;

struct PcieRules {
  uint32_t count;
  uint32_t reserved;
  PcieRule rules[kMaxPcieRules];
};
static_assert(sizeof(PcieRules) == 8 + 12 * kMaxPcieRules);

struct Config {
  uint32_t magic;    // kConfigMagic
  uint16_t version;  // kConfigVersion
  uint16_t size;     // sizeof(Config)
  uint32_t flags;    // kConfigFlag*
  uint32_t reserved0;
  uint64_t tsc_hz;   // TSC frequency measured by the plugin at load time; 0 = unknown

  // Verification.
  uint32_t on_corruption;        // OnCorruption
  uint32_t segment_check_count;  // entries of `segments` in use; 0 = hash every region in full
  SegmentCheck segments[kSha256RegionCount];

  // PCIe quiesce.
  PcieSettings pcie;

  // Verification, continued: how --on-corruption=reboot resets the machine.
  ResetRegister reset_register;

  // Version 3: what a fault does (OnFault), and padding.
  uint32_t on_fault;
  uint32_t reserved_fault;

  // Version 4: PCIe rules by identity.
  PcieRules pcie_rules;
};
static_assert(offsetof(Config, magic) == 0);
static_assert(offsetof(Config, version) == 4);
static_assert(offsetof(Config, size) == 6);
static_assert(offsetof(Config, flags) == 8);
static_assert(offsetof(Config, tsc_hz) == 16);
static_assert(offsetof(Config, on_corruption) == 24);
static_assert(offsetof(Config, segment_check_count) == 28);
static_assert(offsetof(Config, segments) == 32);
static_assert(offsetof(Config, pcie) == 32 + 48 * kSha256RegionCount);
static_assert(offsetof(Config, reset_register) == 32 + 48 * kSha256RegionCount + sizeof(PcieSettings));
static_assert(offsetof(Config, on_fault) == 32 + 48 * kSha256RegionCount + sizeof(PcieSettings) + sizeof(ResetRegister));
static_assert(offsetof(Config, pcie_rules) ==
              32 + 48 * kSha256RegionCount + sizeof(PcieSettings) + sizeof(ResetRegister) + 8);
static_assert(sizeof(Config) ==
              32 + 48 * kSha256RegionCount + sizeof(PcieSettings) + sizeof(ResetRegister) + 8 + sizeof(PcieRules));
static_assert(sizeof(Config) <= 0xffff, "Config::size is 16 bits");

// ---- Limbo's log node ----------------------------------------
//
// The purgatory keeps every console line in a buffer inside its own segment
// and, after verification, links it into the next kernel's boot_params
// setup_data chain, after the nodes kexec-tools put there. Facts it relies on,
// read in Debian's linux-source packages of 6.1 (bookworm), 6.12.118
// (trixie) and 7.2.13 (sid):
//
// - boot_params.hdr.setup_data (offset 0x250, boot protocol 2.09+) heads a
//   singly linked list of `struct setup_data {u64 next; u32 type; u32 len;
//   u8 data[len];}` (6.1: arch/x86/include/uapi/asm/bootparam.h; later
//   kernels moved the types and struct to uapi/asm/setup_data.h, same values).
// - Every node is reserved whatever its type (setup.c
//   memblock_x86_reserve_range_setup_data: memblock_reserve in 6.1 and 6.12,
//   memblock_reserve_kern in 7.2; 6.1 and 6.12 also mark it
//   E820_TYPE_RESERVED_KERN in e820.c e820__reserve_setup_data, gone by
//   7.2), unknown types are skipped in parse_setup_data (default: break, in
//   all three), and the KASLR decompressor keeps clear of every node
//   (boot/compressed/kaslr.c mem_avoid_overlap, all three): the node's memory
//   in the crash reservation survives the capture kernel's boot.
// - /sys/kernel/boot_params/setup_data/N/{type,data} (arch/x86/kernel/
//   ksysfs.c; `type` reads "0x%x\n", `data` the payload's `len` bytes) came
//   with commit 5039e316 "x86: Export x86 boot_params to sysfs" (Dave Young,
//   December 2013; first released in Linux 3.14). The same ksysfs.c code in
//   6.12 and 7.2: `type` is the node's own unless it is SETUP_INDIRECT.
// - Types in use: SETUP_NONE 0 ... SETUP_RNG_SEED 9 (= SETUP_ENUM_MAX in 6.1
//   and 6.12), SETUP_KEXEC_KHO 10 (kexec handover: in 7.2's
//   uapi/asm/setup_data.h, not in 6.12's), SETUP_INDIRECT 1 << 31. Linux
//   allocates its types upwards from 1; Limbo's is far from both ends, bit
//   31 clear.
inline constexpr uint32_t kSetupDataLimboLog = 0x6f626d4cu;  // bytes "Lmbo"
inline constexpr uint32_t kSetupIndirect = 1u << 31;
inline constexpr uint64_t kBootParamsSize = 4096;  // struct boot_params, the "zero page"
inline constexpr uint64_t kBootParamsSetupDataOffset = 0x250;
inline constexpr uint32_t kSetupDataMaxNodes = 64;  // a longer chain is not walked

struct SetupDataHeader {  // Linux `struct setup_data` without data[]
  uint64_t next;
  uint32_t type;
  uint32_t len;  // bytes of payload after this header
};
static_assert(sizeof(SetupDataHeader) == 16);

// The payload: this header, then `capacity` bytes of text. `used` bytes of
// it are whole lines, each "[SSSSS.UUUUUU] text\n": the time since the
// purgatory's entry (seconds, microseconds; "[    ?.??????]" when the TSC
// frequency was never known), one space, the console line without the
// console's "limbo: " prefix. A line that does not fit is dropped whole and
// counted in `dropped_lines`, never cut. Layout changes bump kLogVersion.
inline constexpr uint32_t kLogMagic = 0x474f4c4cu;  // bytes "LLOG"
inline constexpr uint16_t kLogVersion = 1;
inline constexpr uint32_t kLogNodeSize = 16384;  // the whole node, setup_data header included
inline constexpr uint32_t kLogStampWidth = 15;   // "[SSSSS.UUUUUU] "

struct LogHeader {
  uint32_t magic;          // kLogMagic
  uint16_t version;        // kLogVersion
  uint16_t header_size;    // sizeof(LogHeader)
  uint32_t capacity;       // bytes of text room after this header
  uint32_t used;           // bytes of whole lines
  uint32_t lines;          // lines kept
  uint32_t dropped_lines;  // lines that did not fit, dropped whole
  uint64_t tsc_hz;         // the frequency the stamps were computed with; 0 unknown
};
static_assert(sizeof(LogHeader) == 32);
static_assert(offsetof(LogHeader, used) == 12);
static_assert(offsetof(LogHeader, dropped_lines) == 20);
static_assert(offsetof(LogHeader, tsc_hz) == 24);

inline constexpr uint32_t kLogCapacity = kLogNodeSize - sizeof(SetupDataHeader) - sizeof(LogHeader);

struct LogNode {
  SetupDataHeader setup;
  LogHeader header;
  char text[kLogCapacity];
};
static_assert(sizeof(LogNode) == kLogNodeSize);
static_assert(offsetof(LogNode, text) == 48);

// ---- Symbol table ------------------------------------------------------
//
// Who touches a symbol, by name. kexec-tools (and the plugin, replaying it)
// requires each written symbol to be STB_GLOBAL, of exactly `size` bytes and
// in a section with contents (not SHT_NOBITS). `stack_end` is only read for its
// address, so its size is not checked (kSizeUnchecked).
inline constexpr uint64_t kSizeUnchecked = ~uint64_t{0};

enum class Writer : uint8_t {
  kKexecTools,  // written by kexec-tools and by the plugin replaying it
  kPurgatory,   // written by the purgatory itself at run time (jump_back_entry)
  kLimbo,       // written by the Limbo plugin only
  kAddressOnly, // only its address is read (stack_end)
};

struct Symbol {
  const char* name;
  uint64_t size;
  Writer writer;
};

// The loader variables, the one list everything else is generated from: the
// table below, the purgatory's declarations and definitions (variables.h,
// variables.cc), the flow's copy of them (lib/flow.h LoaderVariables, filled
// in arch/x86_64/main.cc), the plugin tests' fake purgatory and the plugin's
// names for them (symbol::). One X(name, type, size, writer, initial) per
// variable, in kexec-tools' order: `type` is the purgatory's, `size` the one
// kexec-tools 2.0.25 expects (checked against the type below), `writer` a
// Writer, `initial` the purgatory's value before the loader writes it.
using Sha256Regions = Sha256Region[kSha256RegionCount];
using Sha256Digest = uint8_t[kSha256DigestSize];
#define LIMBO_ABI_LOADER_VARIABLES(X)                                                   \
  X(entry64_regs, ::limbo::abi::Entry64Regs, 136, kKexecTools, {})                      \
  X(sha256_regions, ::limbo::abi::Sha256Regions, 256, kKexecTools, {})                  \
  X(sha256_digest, ::limbo::abi::Sha256Digest, 32, kKexecTools, {})                     \
  X(skip_checks, int32_t, 4, kKexecTools, 0)          /* int */                         \
  X(panic_kernel, uint8_t, 1, kKexecTools, 0)                                           \
  X(reset_vga, uint8_t, 1, kKexecTools, 0)                                              \
  X(legacy_pic, uint8_t, 1, kKexecTools, 0)                                             \
  X(console_vga, uint8_t, 1, kKexecTools, 0)                                            \
  X(console_serial, uint8_t, 1, kKexecTools, 0)                                         \
  X(serial_base, uint16_t, 2, kKexecTools, 0x3f8)     /* COM1, kexec-tools' default */  \
  X(serial_baud, uint32_t, 4, kKexecTools, 0)                                           \
  X(backup_start, uint64_t, 8, kKexecTools, 0)        /* unsigned long */               \
  X(backup_src_start, uint64_t, 8, kKexecTools, 0)    /* unsigned long */               \
  X(backup_src_size, uint64_t, 8, kKexecTools, 0)     /* unsigned long */               \
  X(cmdline_end, uint64_t, 8, kKexecTools, 0)         /* char* / unsigned long */       \
  X(jump_back_entry, uint64_t, 8, kPurgatory, 0)      /* written by entry.S */          \
  X(limbo_config, ::limbo::abi::Config, sizeof(::limbo::abi::Config), kLimbo, ::limbo::abi::kDefaultConfig)

// A valid block with the TSC frequency unknown: a stock kexec that knows
// nothing of Limbo leaves it so, and the purgatory calibrates the TSC itself.
inline constexpr Config kDefaultConfig = {
    .magic = kConfigMagic,
    .version = kConfigVersion,
    .size = sizeof(Config),
    .flags = 0,
    .reserved0 = 0,
    .tsc_hz = 0,
    .on_corruption = 0,
    .segment_check_count = 0,
    .segments = {},
    .pcie = {},
    .reset_register = {},
    .on_fault = 0,  // OnFault::kReboot
    .reserved_fault = 0,
    .pcie_rules = {},
};

#define LIMBO_ABI_CHECK_SIZE(name, type, size, writer, initial) \
  static_assert(sizeof(type) == (size), #name ": the purgatory's type differs in size from kexec-tools'");
LIMBO_ABI_LOADER_VARIABLES(LIMBO_ABI_CHECK_SIZE)
#undef LIMBO_ABI_CHECK_SIZE

// Each variable's ELF symbol name, for code that sets or finds it by name.
namespace symbol {
#define LIMBO_ABI_SYMBOL_NAME(name, type, size, writer, initial) inline constexpr char name[] = #name;
LIMBO_ABI_LOADER_VARIABLES(LIMBO_ABI_SYMBOL_NAME)
#undef LIMBO_ABI_SYMBOL_NAME
inline constexpr char stack_end[] = "stack_end";
}  // namespace symbol

inline constexpr Symbol kSymbols[] = {
#define LIMBO_ABI_SYMBOL(name, type, size, writer, initial) {symbol::name, size, Writer::writer},
    LIMBO_ABI_LOADER_VARIABLES(LIMBO_ABI_SYMBOL)
#undef LIMBO_ABI_SYMBOL
    {symbol::stack_end, kSizeUnchecked, Writer::kAddressOnly},
};

inline constexpr const char* kEntrySymbol = "purgatory_start";

}  // namespace limbo::abi
