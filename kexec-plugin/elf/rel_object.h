// SPDX-License-Identifier: GPL-2.0-only
// An x86_64 ELF relocatable object (a purgatory) read with the host tools'
// libelf reader (elf/elf_file.h), checked, and loaded the way kexec-tools
// 2.0.25 loads one (kexec/kexec-elf-rel.c elf_rel_load,
// elf_rel_{find,set,get}_symbol; x86_64 relocations from
// kexec/arch/x86_64/kexec-elf-rel-x86_64.c). Pure logic: no kexec, no /proc.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace limbo::plugin::elf {

struct Section {
  std::string name;
  uint32_t type = 0;       // SHT_*
  uint64_t flags = 0;      // SHF_*
  uint64_t addr = 0;       // sh_addr as found in the object (0 in ET_REL)
  uint64_t size = 0;
  uint64_t align = 1;      // sh_addralign, 0 read as 1 (kexec-tools get_section_addralign)
  uint32_t link = 0;
  uint32_t info = 0;
  std::vector<uint8_t> bytes;  // contents; empty for SHT_NOBITS

  bool allocated() const;
  bool nobits() const;
};

struct Symbol {
  std::string name;
  uint8_t bind = 0;    // STB_*
  uint8_t type = 0;    // STT_*
  uint16_t shndx = 0;  // section index or SHN_ABS/SHN_UNDEF/SHN_COMMON
  uint64_t value = 0;
  uint64_t size = 0;
};

struct Relocation {
  uint64_t offset = 0;  // within the target section
  uint32_t type = 0;    // R_X86_64_*
  uint32_t symbol = 0;  // index into RelObject::symbols
  int64_t addend = 0;
};

// One SHT_RELA/SHT_REL section that applies to an allocated section.
struct RelocationSection {
  size_t section_index = 0;  // of the relocation section itself
  size_t target = 0;         // sh_info: section the relocations patch
  std::vector<Relocation> entries;
};

// kexec-tools' memory footprint of the object (elf_rel_load): PROGBITS-like
// sections packed in header order into a buffer, NOBITS after a pad.
struct Layout {
  uint64_t buf_align = 1;  // the buffer's (and segment's) alignment
  uint64_t bufsz = 0;      // bytes with contents (the segment's bufsz)
  uint64_t bss_pad = 0;
  uint64_t bsssz = 0;
  std::vector<uint64_t> section_offsets;  // per section index; offset from base, 0 if not allocated

  uint64_t total_size() const { return bufsz + bss_pad + bsssz; }  // ehdr->rel_size
};

// The object relocated at `base`: the buffer kexec-tools hands to the kernel.
struct LoadedImage {
  uint64_t base = 0;
  Layout layout;
  std::vector<uint8_t> bytes;  // layout.bufsz bytes
  uint64_t kexec_tools_entry = 0;  // elf_rel_load's info->entry
};

class RelObject {
 public:
  // Parses and checks every header, section, symbol and relocation it will
  // later use; a failure names the first bad item.
  static Result<RelObject> parse(std::span<const uint8_t> file, const std::string& what);

  const std::vector<Section>& sections() const { return sections_; }
  const std::vector<Symbol>& symbols() const { return symbols_; }
  const std::vector<RelocationSection>& relocations() const { return relocations_; }
  uint64_t entry() const { return entry_; }  // e_entry
  const std::string& what() const { return what_; }

  Layout layout() const;
  // Lays out at `base` (must be aligned to layout().buf_align) and applies
  // every relocation. Fails on a 32-bit overflow.
  Result<LoadedImage> load_at(uint64_t base) const;

  // kexec-tools elf_rel_find_symbol: the first STB_GLOBAL symbol named `name`.
  Result<const Symbol*> find_global(const std::string& name) const;
  // Final address of a global symbol in `image` (elf_rel_get_addr).
  Result<uint64_t> address_of(const LoadedImage& image, const std::string& name) const;
  // Byte range of a global symbol inside image.bytes, after kexec-tools'
  // checks for a symbol it sets or gets: exact size, not in SHT_NOBITS.
  struct Range {
    uint64_t offset;
    uint64_t size;
  };
  Result<Range> data_range(const LoadedImage& image, const std::string& name, uint64_t size) const;
  Status set_symbol(LoadedImage& image, const std::string& name, std::span<const uint8_t> bytes) const;
  Status get_symbol(const LoadedImage& image, const std::string& name, std::span<uint8_t> bytes) const;

 private:
  std::string what_;
  uint64_t entry_ = 0;
  std::vector<Section> sections_;
  std::vector<Symbol> symbols_;
  std::vector<RelocationSection> relocations_;
};

// Page size of kexec segments on x86_64 (the kernel's PAGE_SIZE).
inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t align_up(uint64_t value, uint64_t align) {
  return (value + align - 1) & ~(align - 1);
}

}  // namespace limbo::plugin::elf
