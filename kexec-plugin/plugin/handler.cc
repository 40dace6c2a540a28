// SPDX-License-Identifier: GPL-2.0-only
#include "plugin/handler.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <vector>

#include "common/environment.h"
#include "elf/embedded_objects.h"
#include "elf/rel_object.h"
#include "kexec/memory_map.h"
#include "kexec/replace.h"
#include "kexec/segment_checks.h"
#include "kexec/stock_finder.h"
#include "kexec/tsc.h"
#include "pcie/plan.h"
#include "pcie/system.h"
#include "plugin/load_state.h"
#include "plugin/trust.h"

#ifndef LIMBO_PURGATORY_PATH
#error "LIMBO_PURGATORY_PATH must be defined by the build (kexec-plugin/plugin.mk)"
#endif

namespace limbo::plugin {
namespace {

using ull = unsigned long long;

bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  return value && std::strcmp(value, "1") == 0;
}

struct Decoded {
  kexec::StockDecode stock;
  elf::RelObject object;
};

// Tries every ET_REL object embedded in the running kexec until one is the
// stock purgatory of this load.
Result<Decoded> decode_with_embedded_stock(const Settings& settings, uint64_t entry,
                                           std::span<const kexec::Segment> segments) {
  LIMBO_TRY_ASSIGN(const auto binary, kexec::read_file(settings.kexec_binary).context("cannot read the kexec binary"));
  const auto candidates = elf::find_embedded_objects(binary);
  if (candidates.empty()) return fail("no stock purgatory found: " + settings.kexec_binary + " embeds no x86_64 relocatable object");
  Error last = fail("no stock purgatory found");
  for (size_t i = 0; i < candidates.size(); ++i) {
    auto object = elf::RelObject::parse(candidates[i], format("stock purgatory #%zu in %s", i, settings.kexec_binary.c_str()));
    if (!object) {
      last = object.error();
      continue;
    }
    auto decoded = kexec::decode_stock(entry, segments, *object);
    if (decoded) return Decoded{std::move(decoded.value()), std::move(object.value())};
    last = decoded.error();
  }
  return last;
}

void print_segments(FILE* log, const char* title, std::span<const kexec::Segment> segments, size_t purgatory) {
  std::fprintf(log, "limbo: %s: %zu segments\n", title, segments.size());
  for (size_t i = 0; i < segments.size(); ++i) {
    std::fprintf(log, "limbo:   [%zu] mem %#014llx-%#014llx memsz %#9llx bufsz %#9llx%s\n", i,
                 static_cast<ull>(segments[i].mem), static_cast<ull>(segments[i].end()),
                 static_cast<ull>(segments[i].memsz), static_cast<ull>(segments[i].bufsz),
                 i == purgatory ? "  purgatory" : "");
  }
}

// The per-segment checks Limbo's purgatory will run, and the corruption action.
void print_segment_checks(FILE* log, const kexec::Replacement& plan) {
  std::fprintf(log, "limbo: verify: %zu per-segment checks (content hashed, zero fill scanned)\n",
               static_cast<size_t>(plan.config.segment_check_count));
  size_t region = 0;
  for (size_t i = 0; i < plan.segments.size() && region < plan.config.segment_check_count; ++i) {
    if (i == plan.index) continue;
    const abi::SegmentCheck& check = plan.config.segments[region++];
    std::fprintf(log, "limbo:   [%zu] %-11s content %#9llx of %#9llx%s\n", i,
                 kexec::role_word(static_cast<abi::SegmentRole>(check.role)), static_cast<ull>(check.content_len),
                 static_cast<ull>(plan.segments[i].memsz),
                 static_cast<int>(i) == plan.damaged_index ? "  DAMAGED (TEST-ONLY switch)" : "");
  }
  const abi::ResetRegister& reg = plan.config.reset_register;
  std::fprintf(log, "limbo: on corruption: %s", plan.config.on_corruption ? "reboot" : "halt");
  if (plan.config.on_corruption && reg.valid) {
    std::fprintf(log, " (ACPI reset register: space %u address %#llx value %#x)", reg.address_space,
                 static_cast<ull>(reg.address), reg.value);
  } else if (plan.config.on_corruption) {
    std::fprintf(log, " (no ACPI reset register: 0xcf9, keyboard controller, triple fault)");
  }
  std::fprintf(log, "\n");
  std::fprintf(log, "limbo: on fault: %s\n",
               plan.config.on_fault == static_cast<uint32_t>(abi::OnFault::kHalt) ? "halt" : "reboot");
}

// The configuration block's PCIe part from the settings and the running
// system. Never fails: without ECAM the load goes on with PCIe quiesce off,
// and says so loudly. Verbose: the settings and the plan the purgatory will follow.
abi::PcieSettings fill_pcie(const Settings& settings, FILE* log, abi::PcieRules& rules) {
  rules = abi::PcieRules{};
  const pcie::PcieOptions& options = *settings.pcie;  // prepare() refused a bad one
  if (options.mode == abi::PcieMode::kOff) {
    if (settings.verbose || settings.dry_run) std::fprintf(log, "limbo: pcie: mode off (no device is touched)\n");
    return abi::PcieSettings{};
  }
  const pcie::SystemPaths paths{settings.mcfg_path, settings.iomem_path, settings.sysfs_root};
  const pcie::Topology topology = pcie::read_topology(paths);
  const pcie::FilledSettings filled = pcie::fill_settings(options, topology);
  for (const std::string& warning : filled.warnings) {
    std::fprintf(log, "limbo: %s: %s\n", filled.quiesce_disabled ? "WARNING" : "warning", warning.c_str());
  }
  if (settings.verbose) {
    if (topology.ecam) std::fprintf(log, "limbo: pcie: ECAM windows from %s\n", topology.ecam->source.c_str());
    for (const std::string& line : pcie::describe_settings(filled.settings, &filled.rules)) {
      std::fprintf(log, "limbo: %s\n", line.c_str());
    }
    if (!filled.quiesce_disabled) {
      const pcie::PlanSummary plan = pcie::make_plan(settings.sysfs_root, filled.settings, &filled.rules);
      std::fprintf(log, "limbo: pcie plan (what the purgatory will do, from sysfs now):\n");
      size_t at = 0;
      while (at < plan.text.size()) {
        const size_t eol = plan.text.find('\n', at);
        std::fprintf(log, "limbo:   %s\n", plan.text.substr(at, eol - at).c_str());
        at = eol == std::string::npos ? plan.text.size() : eol + 1;
      }
      for (const std::string& note : plan.notes) std::fprintf(log, "limbo: pcie plan note: %s\n", note.c_str());
    }
  }
  rules = filled.rules;
  return filled.settings;
}

}  // namespace

Settings Settings::from_environment() {
  Settings settings;
  const char* purgatory = std::getenv(env::kPurgatory);
  settings.purgatory_path = purgatory && *purgatory ? purgatory : LIMBO_PURGATORY_PATH;
  settings.dry_run = env_flag(env::kDryRun);
  settings.test.corrupt_digest = env_flag(env::kTestCorruptDigest);
  settings.test.full_hash = env_flag(env::kTestFullHash);
  settings.verbose = env_flag(env::kVerbose);
  if (const char* fd = std::getenv(env::kStatusFd); fd && *fd) {
    char* end = nullptr;
    const long value = std::strtol(fd, &end, 10);
    if (*end == '\0' && value >= 0) settings.status_fd = static_cast<int>(value);
  }
  if (const char* iomem = std::getenv(env::kTestIomem); iomem && *iomem) settings.iomem_path = iomem;
  if (const char* action = std::getenv(env::kOnCorruption); action && *action) {
    auto parsed = kexec::parse_on_corruption(action);
    if (parsed) settings.on_corruption = static_cast<uint32_t>(*parsed);
    else settings.verify = parsed.error();
  }
  if (const char* action = std::getenv(env::kOnFault); action && *action) {
    auto parsed = kexec::parse_on_fault(action);
    if (parsed) settings.on_fault = static_cast<uint32_t>(*parsed);
    else settings.verify = std::move(parsed).context(std::string(env::kOnFault) + "=" + action).error();
  }
  if (const char* damage = std::getenv(env::kTestDamageSegment); damage && *damage) settings.test.damage_segment = damage;
  if (const char* fadt = std::getenv(env::kTestFadt); fadt && *fadt) settings.fadt_path = fadt;
  // The plugin may be preloaded without limbo-kexec: its values are checked here again.
  settings.pcie = pcie::options_from_environment([](const char* name) { return std::getenv(name); });
  const pcie::SystemPaths paths = pcie::SystemPaths::from_environment();
  settings.mcfg_path = paths.mcfg;
  settings.sysfs_root = paths.sysfs;
  settings.fallback = FallbackPolicy::from_environment();
  return settings;
}

namespace {

// A load through Limbo, ready for the kernel: kexec-tools' segments, the
// stock purgatory they carry, and Limbo's replacement for them.
struct Prepared {
  bool crash = false;
  timespec started{};
  std::vector<kexec::Segment> input;  // kexec-tools' segments
  Decoded decoded;                    // its stock purgatory
  kexec::TscInfo tsc;
  kexec::Replacement plan;            // Limbo's segments
};

// 1. Prepare: check the call and the settings, decode the stock purgatory,
// read Limbo's and the system's facts, build the replacement. Prints only
// the PCIe step's warnings (and, verbose, its settings and plan). Any
// refusal comes back as an Error, nothing printed for it here.
Result<Prepared> prepare(const Settings& settings, unsigned long entry, unsigned long nr_segments,
                         const kexec_segment* segments, unsigned long flags, FILE* log) {
  if (settings.fallback.bad_value) {
    return fail(format("%s=%s: not a fallback: stock or none (the load falls back to stock)", env::kFallback, settings.fallback.value));
  }
  if (!segments || nr_segments > KEXEC_SEGMENT_MAX) {
    return fail(format("kexec_load with %lu segments is not a kexec-tools load", nr_segments));
  }
  if (!settings.pcie) return settings.pcie.error();
  LIMBO_TRY(settings.verify);
  Prepared out;
  out.crash = kexec::is_crash_load(flags);
  clock_gettime(CLOCK_MONOTONIC, &out.started);
  for (unsigned long i = 0; i < nr_segments; ++i) out.input.push_back(kexec::Segment::from_kernel(segments[i]));

  LIMBO_TRY_ASSIGN(out.decoded, decode_with_embedded_stock(settings, entry, out.input));
  const kexec::StockDecode& stock = out.decoded.stock;

  // The trust rule (plugin/trust.h): root's files only; a dry run loads
  // nothing, so there the caller's own files are accepted too.
  const TrustRule trust{settings.dry_run, geteuid()};
  auto limbo_file = read_trusted_file(settings.purgatory_path, trust);
  if (!limbo_file) return fail("Limbo purgatory " + limbo_file.error().message, limbo_file.error().errno_value);
  LIMBO_TRY_ASSIGN(const elf::RelObject limbo, elf::RelObject::parse(*limbo_file, settings.purgatory_path));

  kexec::ReplaceOptions options;
  options.crash = out.crash;
  options.corrupt_digest = settings.test.corrupt_digest;
  // TEST-ONLY: leave the per-segment checks out, so that the purgatory
  // hashes every region in full as the stock one does (qemu/bench-switch's
  // same-engine reference).
  options.segment_checks = !settings.test.full_hash;
  LIMBO_TRY_ASSIGN(const auto iomem_text,
                   read_trusted_file(settings.iomem_path, trust).context("cannot read the memory map"));
  LIMBO_TRY_ASSIGN(const auto iomem,
                   kexec::parse_iomem({reinterpret_cast<const char*>(iomem_text.data()), iomem_text.size()}));
  options.allowed = kexec::ranges_named(iomem, kexec::allowed_range_name(out.crash));
  out.tsc = kexec::measure_tsc();
  options.config.tsc_hz = out.tsc.hz;
  options.config.flags = out.tsc.invariant ? abi::kConfigFlagTscInvariant : 0;
  // Verification: the corruption action and, for a reboot, the FADT's reset register.
  options.config.on_corruption = settings.on_corruption;
  // A fault before verification, through the same reset ways.
  options.config.on_fault = settings.on_fault;
  // An absent or unreadable FADT leaves the reset register out; one the trust rule refuses fails the load.
  if (auto fadt = read_trusted_file(settings.fadt_path, trust)) {
    if (auto reg = kexec::reset_register_from_fadt(*fadt)) options.config.reset_register = *reg;
  } else if (fadt.error().errno_value == kTrustRefused) {
    return fadt.error();
  }
  if (!settings.test.damage_segment.empty()) {
    LIMBO_TRY_ASSIGN(options.damage, kexec::parse_damage(settings.test.damage_segment));
  }
  options.config.pcie = fill_pcie(settings, log, options.config.pcie_rules);

  LIMBO_TRY_ASSIGN(out.plan, kexec::build_replacement(stock, out.input, limbo, options));
  return out;
}

// 2. Describe (verbose or dry run): the stock purgatory, both segment lists,
// where Limbo goes and what it will check.
void describe(const Settings& settings, const Prepared& load, unsigned long entry, FILE* log) {
  const kexec::StockDecode& stock = load.decoded.stock;
  const kexec::Replacement& plan = load.plan;
  const elf::Layout& s = stock.replay.layout;
  std::fprintf(log, "limbo: stock purgatory: %s, segment %zu at %#llx, bufsz %#llx + pad %#llx + bss %#llx, align %#llx, entry %#llx\n",
               load.decoded.object.what().c_str(), stock.purgatory_index, static_cast<ull>(stock.replay.base),
               static_cast<ull>(s.bufsz), static_cast<ull>(s.bss_pad), static_cast<ull>(s.bsssz),
               static_cast<ull>(s.buf_align), static_cast<ull>(entry));
  std::fprintf(log, "limbo: stock values: rip %#llx rsi %#llx skip_checks %u; digest matches kexec-tools'%s\n",
               static_cast<ull>(stock.regs.rip), static_cast<ull>(stock.regs.rsi), stock.skip_checks,
               stock.skip_checks ? " (not checked: skip_checks)" : "");
  print_segments(log, "kexec-tools' segments", load.input, stock.purgatory_index);
  const elf::Layout& l = plan.image.layout;
  std::fprintf(log, "limbo: %s: bufsz %#llx + pad %#llx + bss %#llx, align %#llx; %s at %#llx\n",
               settings.purgatory_path.c_str(), static_cast<ull>(l.bufsz), static_cast<ull>(l.bss_pad),
               static_cast<ull>(l.bsssz), static_cast<ull>(l.buf_align),
               plan.in_stock_slot ? "fits the stock slot, placed" : "larger than the stock slot, placed in a free hole",
               static_cast<ull>(plan.image.base));
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const double ms = (now.tv_sec - load.started.tv_sec) * 1e3 + (now.tv_nsec - load.started.tv_nsec) / 1e6;
  std::fprintf(log, "limbo: tsc %llu Hz%s; decode, digest and replace took %.1f ms\n", static_cast<ull>(load.tsc.hz),
               load.tsc.invariant ? " (invariant)" : "", ms);
  print_segments(log, "Limbo's segments", plan.segments, plan.index);
  print_segment_checks(log, plan);
}

// 3. Submit: Limbo's segments to the kernel (or, in a dry run, the line
// saying what would have gone), then the status line. `kernel_called`: the
// kernel saw Limbo's segments (and, for a crash load, freed the crash kernel
// it held); `limbo_loaded`: it accepted them.
Status submit(const Settings& settings, const Prepared& load, unsigned long flags, KexecLoad kexec_load, FILE* log,
              bool& kernel_called, bool& limbo_loaded) {
  const kexec::Replacement& plan = load.plan;
  const std::vector<kexec_segment> out = plan.kernel_segments();
  const char* kind = load.crash ? "crash" : "normal";
  if (settings.dry_run) {
    std::fprintf(log, "limbo: dry run: kexec_load(entry %#llx, %zu segments, flags %#lx) not called; "
                      "would load Limbo purgatory (%llu bytes at %#llx, entry %#llx) for a %s kernel\n",
                 static_cast<ull>(plan.entry), out.size(), flags, static_cast<ull>(plan.memsz),
                 static_cast<ull>(plan.image.base), static_cast<ull>(plan.entry), kind);
  } else {
    kernel_called = true;
    const long result = kexec_load(plan.entry, out.size(), out.data(), flags);
    if (result != 0) {
      const int error = errno;
      // Under lockdown (secure boot) the kernel refuses kexec_load outright;
      // kexec_file_load would work but runs the kernel's own purgatory.
      const char* hint = error == EPERM ? " (kexec_load is refused without CAP_SYS_BOOT or under kernel lockdown/secure boot; "
                                          "Limbo cannot use kexec_file_load)"
                                        : "";
      return fail(format("kexec_load refused Limbo's segments: %s%s", std::strerror(error), hint), error);
    }
    limbo_loaded = true;  // from here on nothing may fall back: the kernel holds Limbo's image
    std::fprintf(log, "limbo: loaded Limbo purgatory (%llu bytes at 0x%llx, entry 0x%llx) for a %s kernel; stock purgatory replaced\n",
                 static_cast<ull>(plan.memsz), static_cast<ull>(plan.image.base), static_cast<ull>(plan.entry), kind);
  }
  if (settings.status_fd >= 0) {
    dprintf(settings.status_fd, "limbo-status: ok 0x%llx 0x%llx %llu\n", static_cast<ull>(plan.entry),
            static_cast<ull>(plan.image.base), static_cast<ull>(plan.memsz));
  }
  return Ok{};
}

// Everything of a load through Limbo: prepare, describe, submit.
Status try_limbo_load(const Settings& settings, unsigned long entry, unsigned long nr_segments,
                      const kexec_segment* segments, unsigned long flags, KexecLoad load, FILE* log,
                      bool& kernel_called, bool& limbo_loaded) {
  LIMBO_TRY_ASSIGN(const Prepared prepared, prepare(settings, entry, nr_segments, segments, flags, log));
  if (settings.verbose || settings.dry_run) describe(settings, prepared, entry, log);
  return submit(settings, prepared, flags, load, log, kernel_called, limbo_loaded);
}

}  // namespace

FallbackPolicy FallbackPolicy::from_environment() noexcept {
  FallbackPolicy policy;
  if (const char* value = std::getenv(env::kFallback); value && *value) {
    policy.stock = std::strcmp(value, "none") != 0;  // stock, and a bad word too: never worse than stock
    policy.bad_value = std::strcmp(value, "none") != 0 && std::strcmp(value, "stock") != 0;
    std::snprintf(policy.value, sizeof(policy.value), "%s", value);
  }
  const char* run = std::getenv(env::kTestRunDir);
  std::snprintf(policy.run_dir, sizeof(policy.run_dir), "%s", run && *run ? run : "/run/limbo");
  std::snprintf(policy.record_file, sizeof(policy.record_file), "%s/crash-kernel", policy.run_dir);
  return policy;
}

long refuse_or_fall_back(const FallbackPolicy& policy, bool dry_run, int status_fd, const char* reason, int error,
                         bool kernel_freed_crash_kernel, unsigned long entry, unsigned long nr_segments,
                         const kexec_segment* segments, unsigned long flags, KexecLoad load, FILE* log) noexcept {
  const bool crash = kexec::is_crash_load(flags);
  if (!policy.stock) {
    std::fprintf(log, "limbo: error: %s\n", reason);
    if (status_fd >= 0) dprintf(status_fd, "limbo-status: error %s\n", reason);
    // The kernel frees the crash kernel it held before it loads a new one.
    if (kernel_freed_crash_kernel && crash) remove_load_record(policy.record_file);
    errno = error;
    return -1;
  }
  if (dry_run) {
    std::fprintf(log, "limbo: FALLBACK: Limbo would NOT be loaded (%s); dry run: kexec-tools' own load "
                      "(stock purgatory) would go to the kernel unchanged\n", reason);
    if (status_fd >= 0) dprintf(status_fd, "limbo-status: stock %s\n", reason);
    return 0;
  }
  std::fprintf(log, "limbo: FALLBACK: Limbo NOT loaded (%s); kexec-tools' own load goes to the kernel "
                    "unchanged (stock purgatory)\n", reason);
  std::fflush(log);
  const long result = load(entry, nr_segments, segments, flags);
  if (result != 0) {
    const int stock_error = errno;
    std::fprintf(log, "limbo: error: the kernel refused the stock load too: %s\n", std::strerror(stock_error));
    if (status_fd >= 0) dprintf(status_fd, "limbo-status: error the kernel refused the stock load too: %s\n", std::strerror(stock_error));
    if (crash) remove_load_record(policy.record_file);
    errno = stock_error;
    return -1;
  }
  if (crash) {
    if (const int failed = write_load_record(policy.record_file, policy.run_dir, LoadedThrough::kStock, reason)) {
      std::fprintf(log, "limbo: warning: loaded, but cannot record it in %s: %s\n", policy.record_file, std::strerror(failed));
    }
  }
  if (status_fd >= 0) dprintf(status_fd, "limbo-status: stock %s\n", reason);
  return 0;
}

long handle_kexec_load(const Settings& settings, unsigned long entry, unsigned long nr_segments,
                       const kexec_segment* segments, unsigned long flags, KexecLoad load, FILE* log) noexcept {
  const bool crash = kexec::is_crash_load(flags);
  // An unload carries no purgatory: pass it through untouched (the record of
  // the crash kernel it removes goes with it).
  if (nr_segments == 0) {
    const long result = load(entry, nr_segments, segments, flags);
    if (result == 0 && crash) remove_load_record(settings.fallback.record_file);
    return result;
  }
  // The exception boundary: whatever is thrown below (an allocation that
  // failed, a bug) ends here as a refusal, or the stock load when asked for.
  // Nothing in the catch blocks allocates.
  char internal[256] = "";
  int error = EINVAL;
  bool kernel_called = false;
  bool limbo_loaded = false;
  Error refusal;
  try {
    const Status done = try_limbo_load(settings, entry, nr_segments, segments, flags, load, log, kernel_called, limbo_loaded);
    if (done) {
      if (crash && !settings.dry_run) {
        if (const int failed = write_load_record(settings.fallback.record_file, settings.fallback.run_dir, LoadedThrough::kLimbo, "")) {
          std::fprintf(log, "limbo: warning: loaded, but cannot record it in %s: %s\n", settings.fallback.record_file,
                       std::strerror(failed));
        }
      }
      return 0;
    }
    refusal = done.error();
    error = refusal.errno_value;
  } catch (const std::bad_alloc&) {
    std::snprintf(internal, sizeof(internal), "out of memory in the plugin (std::bad_alloc)");
    error = ENOMEM;
  } catch (const std::exception& e) {
    std::snprintf(internal, sizeof(internal), "internal error in the plugin: %s", e.what());
  } catch (...) {
    std::snprintf(internal, sizeof(internal), "internal error in the plugin: an unknown exception");
  }
  if (limbo_loaded) {
    // Thrown after the kernel accepted Limbo's segments (nothing there
    // allocates today): the load stands, and must not be replaced.
    std::fprintf(log, "limbo: warning: %s after Limbo was loaded; the load stands\n", internal[0] ? internal : "an error");
    return 0;
  }
    const char* reason = internal[0] ? internal : refusal.message.c_str();
  return refuse_or_fall_back(settings.fallback, settings.dry_run, settings.status_fd, reason, error, kernel_called,
                             entry, nr_segments, segments, flags, load, log);
}

}  // namespace limbo::plugin
