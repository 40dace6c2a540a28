// SPDX-License-Identifier: GPL-2.0-only
// Fuzz target: the stock-segment decoder and the replacement it feeds
// (kexec-plugin/kexec/replace.h decode_stock, build_replacement,
// check_segments). The input is a list of edits to a kexec_load segment list
// built the way kexec-tools builds a bzImage64 crash load (the tests' own
// SyntheticLoad over the stock purgatory extracted from /sbin/kexec): bytes
// flipped in any segment, segments moved, resized, dropped or swapped, the
// entry moved. Invariants beyond "no crash": a replacement is built only when
// every hashed segment still holds what kexec-tools hashed (so tampering is
// never carried into a load), and the list it builds passes the kernel's own
// checks with Limbo's entry inside Limbo's segment.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "elf/embedded_objects.h"
#include "elf/rel_object.h"
#include "kexec/replace.h"
#include "kexec/stock_finder.h"
#include <unistd.h>

#include "synthetic_load.h"
#include "tests/fuzz/seed_writer.h"

namespace {

using namespace limbo;
using plugin::kexec::Segment;

[[noreturn]] void violated(const char* what) {
  fprintf(stderr, "stock_decode_fuzz: invariant violated: %s\n", what);
  abort();
}

struct World {
  std::unique_ptr<test::SyntheticLoad> load;
  std::unique_ptr<plugin::elf::RelObject> stock;
  std::unique_ptr<plugin::elf::RelObject> limbo;
  plugin::kexec::ReplaceOptions options;
};
World* world = nullptr;

struct Edit {
  uint8_t op;
  uint8_t segment;
  uint16_t small;
  uint32_t large;
};

// Whether `s` holds exactly what `original` held, as the digest sees it:
// the bytes, then zeros up to memsz.
bool same_content(const Segment& s, const Segment& original) {
  if (s.mem != original.mem || s.memsz != original.memsz) return false;
  for (uint64_t i = 0; i < s.memsz; ++i) {
    const uint8_t a = i < s.bufsz ? s.buf[i] : 0;
    const uint8_t b = i < original.bufsz ? original.buf[i] : 0;
    if (a != b) return false;
  }
  return true;
}

const char* kexec_path() { return access("/sbin/kexec", R_OK) == 0 ? "/sbin/kexec" : "/usr/sbin/kexec"; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (fuzz::seed_dir() != nullptr) {
    // One edit of each kind, each harmless or not; the empty input is the
    // untouched load.
    const Edit edits[] = {{0, 1, 0x01, 0x40}, {1, 0, 0, 0x1000}, {2, 2, 3, 0}, {3, 3, 0, 0x100},
                          {4, 0, 0, 16},      {5, 1, 0, 0},      {6, 0, 0, 0}, {0, 0, 0x80, 0x5000}};
    std::vector<uint8_t> all;
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); ++i) {
      std::vector<uint8_t> one;
      fuzz::append(one, edits[i]);
      fuzz::write_seed("edit-" + std::to_string(i), one);
      fuzz::append(all, edits[i]);
    }
    fuzz::write_seed("untouched", {});
    fuzz::write_seed("all-edits", all);
    exit(0);
  }
  world = new World;
  auto binary = plugin::kexec::read_file(kexec_path());
  if (!binary) {
    fprintf(stderr, "stock_decode_fuzz: %s\n", binary.error().message.c_str());
    exit(1);
  }
  const auto objects = plugin::elf::find_embedded_objects(*binary);
  if (objects.empty()) {
    fprintf(stderr, "stock_decode_fuzz: no embedded purgatory in %s\n", kexec_path());
    exit(1);
  }
  auto stock = plugin::elf::RelObject::parse(objects.front(), "stock purgatory");
  auto limbo_bytes = plugin::kexec::read_file(LIMBO_PURGATORY_PATH);
  if (!stock || !limbo_bytes) {
    fprintf(stderr, "stock_decode_fuzz: cannot read the stock object or %s\n", LIMBO_PURGATORY_PATH);
    exit(1);
  }
  auto limbo = plugin::elf::RelObject::parse(*limbo_bytes, "purgatory.ro");
  if (!limbo) {
    fprintf(stderr, "stock_decode_fuzz: %s\n", limbo.error().message.c_str());
    exit(1);
  }
  world->stock = std::make_unique<plugin::elf::RelObject>(std::move(*stock));
  world->limbo = std::make_unique<plugin::elf::RelObject>(std::move(*limbo));
  world->load = std::make_unique<test::SyntheticLoad>(
      test::RawElf{std::vector<uint8_t>(objects.front().begin(), objects.front().end())});
  world->options.crash = true;
  world->options.allowed = {{0x1000000, 0x4000000, "Crash kernel"}};
  world->options.config.tsc_hz = 2'500'000'000;
  // The untouched load must decode and be replaced, or the target tests nothing.
  auto decoded = plugin::kexec::decode_stock(world->load->entry, world->load->segments, *world->stock);
  if (!decoded) {
    fprintf(stderr, "stock_decode_fuzz: the untouched load does not decode: %s\n", decoded.error().message.c_str());
    exit(1);
  }
  auto plan = plugin::kexec::build_replacement(*decoded, world->load->segments, *world->limbo, world->options);
  if (!plan) {
    fprintf(stderr, "stock_decode_fuzz: the untouched load is not replaced: %s\n", plan.error().message.c_str());
    exit(1);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const test::SyntheticLoad& load = *world->load;
  std::vector<std::vector<uint8_t>> buffers = load.buffers;
  std::vector<Segment> segments = load.segments;
  for (size_t i = 0; i < segments.size(); ++i) segments[i].buf = buffers[i].data();
  uint64_t entry = load.entry;

  for (size_t at = 0; at + sizeof(Edit) <= size && at < 32 * sizeof(Edit); at += sizeof(Edit)) {
    Edit e;
    std::memcpy(&e, data + at, sizeof(e));
    if (segments.empty()) break;
    const size_t i = e.segment % segments.size();
    Segment& s = segments[i];
    switch (e.op % 7) {
      case 0: {  // flip bits of one byte of the buffer
        const size_t n = static_cast<size_t>(s.bufsz);
        if (n != 0) buffers[i][e.large % n] ^= static_cast<uint8_t>(e.small | 1);
        break;
      }
      case 1: s.mem += static_cast<uint64_t>(static_cast<int32_t>(e.large)); break;
      case 2: s.memsz = uint64_t{e.small} << 12; break;
      case 3: s.bufsz = std::min<uint64_t>(e.large, buffers[i].size()); break;  // the buffer is that long
      case 4: entry += static_cast<uint64_t>(static_cast<int32_t>(e.large)); break;
      case 5:
        segments.erase(segments.begin() + static_cast<long>(i));
        buffers.erase(buffers.begin() + static_cast<long>(i));
        for (size_t k = 0; k < segments.size(); ++k) segments[k].buf = buffers[k].data();
        break;
      case 6:
        if (segments.size() > 1) {
          const size_t j = (i + 1) % segments.size();
          std::swap(segments[i], segments[j]);
          std::swap(buffers[i], buffers[j]);
          for (size_t k = 0; k < segments.size(); ++k) segments[k].buf = buffers[k].data();
        }
        break;
    }
  }

  auto decoded = plugin::kexec::decode_stock(entry, segments, *world->stock);
  if (!decoded) {
    if (decoded.error().message.empty()) violated("a refusal without a message");
    return 0;
  }
  if (decoded->purgatory_index >= segments.size() || !segments[decoded->purgatory_index].contains(entry)) {
    violated("the decoded purgatory segment does not hold the entry");
  }
  auto plan = plugin::kexec::build_replacement(*decoded, segments, *world->limbo, world->options);
  if (!plan) {
    if (plan.error().message.empty()) violated("a refusal without a message");
    return 0;
  }
  // Built: every segment kexec-tools hashed must be intact, unless the load
  // says skip_checks (kexec --no-checks: kexec-tools and its purgatory verify
  // nothing then, and Limbo follows; the caller wrote that flag as it wrote
  // the segments).
  for (size_t k = 0; k < load.segments.size() && decoded->skip_checks == 0; ++k) {
    if (k == load.purgatory_index) continue;
    bool found = false;
    for (size_t j = 0; j < plan->segments.size() && !found; ++j) {
      found = j != plan->index && same_content(plan->segments[j], load.segments[k]);
    }
    if (!found) violated("a replacement built for a load whose hashed segments changed");
  }
  if (!plugin::kexec::check_segments(plan->segments, true, world->options.allowed).ok()) {
    violated("the replacement list fails the kernel's segment checks");
  }
  if (plan->index >= plan->segments.size() || !plan->segments[plan->index].contains(plan->entry)) {
    violated("Limbo's entry is outside Limbo's segment");
  }
  // What goes to kexec_load: Limbo's image in Limbo's slot (segments[index].buf
  // stays null until kernel_segments() fills it in).
  const std::vector<kexec_segment> list = plan->kernel_segments();
  if (list.size() != plan->segments.size() || list[plan->index].buf != plan->image.bytes.data() ||
      list[plan->index].bufsz != plan->image.bytes.size()) {
    violated("Limbo's segment does not carry Limbo's image");
  }
  return 0;
}
