// SPDX-License-Identifier: GPL-2.0-only
#include "kexec/replace.h"

#include <elf.h>

#include <cstring>

namespace limbo::plugin::kexec {
namespace {

using ull = unsigned long long;

// Names the symbol (if any) and section that hold `offset` of a laid-out image,
// so that a mismatch says where it is.
std::string locate(const elf::RelObject& object, const elf::LoadedImage& image, uint64_t offset) {
  std::string where = format("offset %#llx", static_cast<ull>(offset));
  const auto& sections = object.sections();
  for (size_t i = 0; i < sections.size(); ++i) {
    const elf::Section& s = sections[i];
    if (!s.allocated() || s.nobits()) continue;
    const uint64_t start = image.layout.section_offsets[i];
    if (offset < start || offset >= start + s.size) continue;
    where += format(" (%s+%#llx", s.name.c_str(), static_cast<ull>(offset - start));
    for (const elf::Symbol& sym : object.symbols()) {
      if (sym.shndx != i || sym.name.empty() || sym.type == STT_SECTION) continue;
      if (offset - start >= sym.value && offset - start < sym.value + std::max<uint64_t>(sym.size, 1)) {
        where += ", in " + sym.name;
        break;
      }
    }
    where += ")";
    break;
  }
  return where;
}

bool written_by_loader(const abi::Symbol& symbol) { return symbol.writer == abi::Writer::kKexecTools; }

}  // namespace

const AbiValue* StockDecode::value(const std::string& name) const {
  for (const AbiValue& v : values) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

Result<StockDecode> decode_stock(uint64_t entry, std::span<const Segment> segments, const elf::RelObject& stock) {
  StockDecode out;
  size_t index = segments.size();
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].contains(entry)) {
      index = i;
      break;
    }
  }
  if (index == segments.size()) {
    return fail(format("no stock purgatory: entry %#llx is in none of the %zu segments", static_cast<ull>(entry), segments.size()));
  }
  out.purgatory_index = index;
  const Segment& segment = segments[index];

  const elf::Layout layout = stock.layout();
  const uint64_t memsz = elf::align_up(layout.total_size(), elf::kPageSize);
  if (segment.mem & (layout.buf_align - 1) || segment.bufsz != layout.bufsz || segment.memsz != memsz) {
    return fail(format("unknown kexec-tools layout: purgatory segment %zu is %#llx bytes (memsz %#llx) at %#llx, "
                       "the embedded object lays out as %#llx bytes (memsz %#llx, align %#llx)",
                       index, static_cast<ull>(segment.bufsz), static_cast<ull>(segment.memsz), static_cast<ull>(segment.mem),
                       static_cast<ull>(layout.bufsz), static_cast<ull>(memsz), static_cast<ull>(layout.buf_align)));
  }
  LIMBO_TRY_ASSIGN(out.replay, stock.load_at(segment.mem));
  if (out.replay.kexec_tools_entry != entry) {
    return fail(format("unknown kexec-tools layout: entry %#llx, the embedded object's entry relocates to %#llx",
                       static_cast<ull>(entry), static_cast<ull>(out.replay.kexec_tools_entry)));
  }

  // Byte-for-byte comparison outside the variables kexec-tools writes.
  std::vector<bool> written(segment.bufsz, false);
  for (const abi::Symbol& symbol : abi::kSymbols) {
    if (!written_by_loader(symbol)) continue;
    if (!stock.find_global(symbol.name)) continue;  // this stock build lacks it
    auto range = stock.data_range(out.replay, symbol.name, symbol.size);
    if (!range) return fail("unknown kexec-tools layout: " + range.error().message);
    for (uint64_t k = 0; k < range->size; ++k) written[range->offset + k] = true;
    AbiValue value{symbol.name, std::vector<uint8_t>(segment.buf + range->offset, segment.buf + range->offset + range->size)};
    out.values.push_back(std::move(value));
  }
  // Only bytes inside a section are compared: elf_rel_load copies each
  // section into an xmalloc'd buffer at its aligned offset and never writes
  // the alignment gaps between them, which hold whatever the heap held
  // (valgrind: uninitialised). Comparing them made the decode
  // depend on kexec's heap.
  std::vector<bool> in_section(segment.bufsz, false);
  const auto& sections = stock.sections();
  for (size_t i = 0; i < sections.size() && i < out.replay.layout.section_offsets.size(); ++i) {
    if (!sections[i].allocated() || sections[i].nobits()) continue;
    const uint64_t start = out.replay.layout.section_offsets[i];
    for (uint64_t k = start; k < start + sections[i].size && k < segment.bufsz; ++k) in_section[k] = true;
  }
  for (uint64_t k = 0; k < segment.bufsz; ++k) {
    if (in_section[k] && !written[k] && segment.buf[k] != out.replay.bytes[k]) {
      return fail(format("unknown kexec-tools layout: the purgatory segment differs from the embedded object "
                         "relocated at %#llx at %s: %#04x, expected %#04x",
                         static_cast<ull>(segment.mem), locate(stock, out.replay, k).c_str(), segment.buf[k], out.replay.bytes[k]));
    }
  }

  const AbiValue* regs = out.value(abi::symbol::entry64_regs);
  if (!regs) return fail("unsupported loader: the stock purgatory has no entry64_regs");
  std::memcpy(&out.regs, regs->bytes.data(), sizeof(out.regs));
  auto stack_end = stock.address_of(out.replay, abi::symbol::stack_end);
  if (!stack_end) return fail("unknown kexec-tools layout: " + stack_end.error().message);
  out.stack_end = *stack_end;
  // bzImage64 and the ELF x86_64 loader set rsp = stack_end; a loader that
  // leaves entry64_regs alone (multiboot, 32-bit entry) does not.
  if (out.regs.rsp != out.stack_end || out.regs.rip == 0) {
    return fail(format("unsupported loader: it did not use entry64_regs (rsp %#llx, stack_end %#llx, rip %#llx)",
                       static_cast<ull>(out.regs.rsp), static_cast<ull>(out.stack_end), static_cast<ull>(out.regs.rip)));
  }
  if (const AbiValue* v = out.value(abi::symbol::skip_checks)) std::memcpy(&out.skip_checks, v->bytes.data(), sizeof(out.skip_checks));
  if (const AbiValue* v = out.value(abi::symbol::sha256_regions)) std::memcpy(out.digest.regions.data(), v->bytes.data(), v->bytes.size());
  if (const AbiValue* v = out.value(abi::symbol::sha256_digest)) std::memcpy(out.digest.digest.data(), v->bytes.data(), v->bytes.size());
  return out;
}

std::vector<kexec_segment> Replacement::kernel_segments() const {
  std::vector<kexec_segment> out;
  for (size_t i = 0; i < segments.size(); ++i) {
    Segment s = segments[i];
    if (i == index) s.buf = image.bytes.data();
    out.push_back(s.to_kernel());
  }
  return out;
}

Status check_segments(std::span<const Segment> segments, bool crash, std::span<const MemoryRange> allowed) {
  for (size_t i = 0; i < segments.size(); ++i) {
    const Segment& s = segments[i];
    if ((s.mem | s.memsz) & (elf::kPageSize - 1)) return fail(format("segment %zu at %#llx is not page-aligned", i, static_cast<ull>(s.mem)));
    if (s.bufsz > s.memsz) return fail(format("segment %zu: bufsz > memsz", i));
    for (size_t j = 0; j < i; ++j) {
      if (segments[j].overlaps(s.mem, s.memsz)) return fail(format("segments %zu and %zu overlap", j, i), EADDRNOTAVAIL);
    }
    if (crash) {
      bool inside = false;
      for (const MemoryRange& r : allowed) inside = inside || (s.mem >= r.start && s.end() <= r.end);
      if (!inside) return fail(format("segment %zu [%#llx, %#llx) is outside the crash kernel reservation", i,
                                      static_cast<ull>(s.mem), static_cast<ull>(s.end())), EADDRNOTAVAIL);
    }
  }
  return Ok{};
}

Result<Replacement> build_replacement(const StockDecode& stock, std::span<const Segment> segments,
                                      const elf::RelObject& limbo, const ReplaceOptions& options) {
  Replacement out;
  out.index = stock.purgatory_index;
  const Segment& slot = segments[out.index];
  const elf::Layout layout = limbo.layout();
  out.memsz = elf::align_up(layout.total_size(), elf::kPageSize);
  const uint64_t align = std::max(layout.buf_align, elf::kPageSize);

  uint64_t base = slot.mem;
  out.in_stock_slot = out.memsz <= slot.memsz && (slot.mem & (align - 1)) == 0;
  if (!out.in_stock_slot) {
    if (options.allowed.empty()) {
      return fail(format("no room: Limbo's purgatory (%#llx bytes) does not fit the stock slot (%#llx bytes) and /proc/iomem lists no %s",
                         static_cast<ull>(out.memsz), static_cast<ull>(slot.memsz), allowed_range_name(options.crash)),
                  EADDRNOTAVAIL);
    }
    std::vector<Segment> others;
    for (size_t i = 0; i < segments.size(); ++i) {
      if (i != out.index) others.push_back(segments[i]);
    }
    auto hole = find_hole(options.allowed, others, out.memsz, align, options.min_address);
    if (!hole) {
      return fail(format("%s in the %s for Limbo's purgatory (it does not fit the %#llx-byte stock slot)",
                         hole.error().message.c_str(), options.crash ? "crash kernel reservation" : "System RAM",
                         static_cast<ull>(slot.memsz)),
                  hole.error().errno_value);
    }
    base = *hole;
  }

  LIMBO_TRY_ASSIGN(out.image, limbo.load_at(base));

  // Every symbol of the ABI must be there with its size before anything is written.
  for (const abi::Symbol& symbol : abi::kSymbols) {
    if (symbol.writer == abi::Writer::kAddressOnly) {
      LIMBO_TRY(limbo.find_global(symbol.name));
      continue;
    }
    LIMBO_TRY(limbo.data_range(out.image, symbol.name, symbol.size));
  }
  LIMBO_TRY_ASSIGN(out.entry, limbo.address_of(out.image, abi::kEntrySymbol));
  LIMBO_TRY_ASSIGN(const uint64_t stack_end, limbo.address_of(out.image, abi::symbol::stack_end));

  for (const AbiValue& value : stock.values) LIMBO_TRY(limbo.set_symbol(out.image, value.name, value.bytes));
  abi::Entry64Regs regs = stock.regs;
  regs.rsp = stack_end;
  LIMBO_TRY(limbo.set_symbol(out.image, abi::symbol::entry64_regs, {reinterpret_cast<const uint8_t*>(&regs), sizeof(regs)}));

  out.segments.assign(segments.begin(), segments.end());
  out.segments[out.index] = {nullptr, out.image.bytes.size(), base, out.memsz};
  LIMBO_TRY(check_segments(out.segments, options.crash, options.allowed));
  LIMBO_TRY_ASSIGN(out.digest, digest_segments(out.segments, out.index));
  if (stock.skip_checks == 0) {
    // Proof that the segments were understood: kexec-tools hashed the same bytes.
    if (std::memcmp(out.digest.digest.data(), stock.digest.digest.data(), out.digest.digest.size()) != 0) {
      return fail("the recomputed SHA-256 of the segments differs from the digest kexec-tools wrote");
    }
    if (std::memcmp(out.digest.regions.data(), stock.digest.regions.data(), sizeof(out.digest.regions)) != 0) {
      return fail("the recomputed SHA-256 region table differs from the one kexec-tools wrote");
    }
    auto regions = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(out.digest.regions.data()), sizeof(out.digest.regions));
    std::array<uint8_t, abi::kSha256DigestSize> written = out.digest.digest;
    if (options.corrupt_digest) written[0] ^= 0x01;  // TEST-ONLY (LIMBO_TEST_CORRUPT_DIGEST)
    LIMBO_TRY(limbo.set_symbol(out.image, abi::symbol::sha256_regions, regions));
    LIMBO_TRY(limbo.set_symbol(out.image, abi::symbol::sha256_digest, written));
  }

  abi::Config config = options.config;
  config.magic = abi::kConfigMagic;
  config.version = abi::kConfigVersion;
  config.size = sizeof(abi::Config);
  config.segment_check_count = 0;
  if (stock.skip_checks == 0 && options.segment_checks) {
    // per-segment content length, role and digest, so that the
    // purgatory hashes only content, scans the fill and names a damaged segment.
    RoleHints hints{stock.regs.rip, stock.regs.rsi, 0};
    if (const AbiValue* v = stock.value(abi::symbol::backup_start); v && v->bytes.size() == sizeof(hints.backup_start)) {
      std::memcpy(&hints.backup_start, v->bytes.data(), sizeof(hints.backup_start));
    }
    LIMBO_TRY(fill_segment_checks(out.segments, out.index, hints, config));
    if (options.corrupt_digest && config.segment_check_count > 0) config.segments[0].digest[0] ^= 0x01;  // TEST-ONLY
    if (options.damage) {
      LIMBO_TRY_ASSIGN(const auto damaged, damage_segment(out.segments, out.index, config, *options.damage,
                                                          out.damaged_bytes));
      out.damaged_index = static_cast<int>(damaged);
    }
  }
  LIMBO_TRY(limbo.set_symbol(out.image, abi::symbol::limbo_config, {reinterpret_cast<const uint8_t*>(&config), sizeof(config)}));
  out.config = config;
  return out;
}

}  // namespace limbo::plugin::kexec
