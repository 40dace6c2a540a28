// SPDX-License-Identifier: GPL-2.0-only
// Fuzz target: the plugin's ELF relocatable loader (kexec-plugin/elf/) over
// arbitrary bytes, seeded with Limbo's purgatory, the stock one and small
// mutated objects. Beyond "no crash": what parse() accepts must lay out and
// load without reading or writing outside its buffers, the layout must be
// self-consistent, and every ABI symbol the object has must be readable and
// writable at exactly its range inside the image.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "abi/limbo_abi.h"
#include "elf/rel_object.h"

using limbo::plugin::elf::RelObject;

namespace {

[[noreturn]] void violated(const char* what) {
  fprintf(stderr, "elf_loader_fuzz: invariant violated: %s\n", what);
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = RelObject::parse(std::span<const uint8_t>(data, size), "fuzz");
  if (!parsed) {
    if (parsed.error().message.empty()) violated("a refusal without a message");
    return 0;
  }
  const RelObject& object = *parsed;
  const auto layout = object.layout();
  if (layout.buf_align == 0 || (layout.buf_align & (layout.buf_align - 1)) != 0) violated("buffer alignment not a power of two");
  if (layout.section_offsets.size() != object.sections().size()) violated("one offset per section");
  for (size_t i = 0; i < object.sections().size(); ++i) {
    const auto& s = object.sections()[i];
    if (!s.allocated() || s.size == 0) continue;
    const uint64_t end = layout.section_offsets[i] + s.size;
    if (end < s.size || end > layout.total_size()) violated("an allocated section outside the layout");
    if (!s.nobits() && end > layout.bufsz) violated("a section with contents outside the buffer");
  }
  // A base the loader must accept (aligned), placed where kexec-tools would
  // put a purgatory; and a high one, where 32-bit relocations overflow.
  const uint64_t align = layout.buf_align > (1ull << 30) ? (1ull << 30) : layout.buf_align;
  for (uint64_t base : {uint64_t{0x3800000}, uint64_t{0x7fff0000} & ~(align - 1)}) {
    if (base % layout.buf_align != 0) continue;
    if (layout.total_size() > (1ull << 28)) break;  // larger than any crash reservation: not loaded
    auto image = object.load_at(base);
    if (!image) {
      if (image.error().message.empty()) violated("a load failure without a message");
      continue;
    }
    if (image->bytes.size() != layout.bufsz) violated("image size differs from the layout's bufsz");
    for (const limbo::abi::Symbol& symbol : limbo::abi::kSymbols) {
      auto range = object.data_range(*image, symbol.name, symbol.size);
      if (!range) continue;
      if (range->size != symbol.size || range->offset + range->size > image->bytes.size() ||
          range->offset + range->size < range->offset) {
        violated("a symbol range outside the image");
      }
      std::vector<uint8_t> bytes(symbol.size, 0xa5);
      if (!object.set_symbol(*image, symbol.name, bytes).ok()) violated("set_symbol refused a checked range");
      std::vector<uint8_t> back(symbol.size, 0);
      if (!object.get_symbol(*image, symbol.name, back).ok()) violated("get_symbol refused a checked range");
      if (back != bytes) violated("a symbol reads back differently");
      (void)object.address_of(*image, symbol.name);
    }
  }
  return 0;
}
