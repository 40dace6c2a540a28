// SPDX-License-Identifier: GPL-2.0-only
// A read-only model of one ELF64 relocatable object, read with the host
// tools' libelf reader (elf/elf_file.h): the sections with their bytes, the
// symbol table and every relocation, which is all purgatory-check needs.
// Unlike the plugin's loader it refuses nothing it can read: what is wrong is
// a finding. Also reads the relocatable object embedded in an executable (how
// /sbin/kexec carries the stock purgatory; elf/embedded_objects.h finds it).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace limbo::check {

struct Section {
  size_t index = 0;
  std::string name;
  uint32_t type = 0;    // SHT_*
  uint64_t flags = 0;   // SHF_*
  uint64_t size = 0;
  uint64_t align = 0;
  uint32_t link = 0;
  uint32_t info = 0;
  std::vector<uint8_t> bytes;  // empty for SHT_NOBITS

  bool is_alloc() const;
  bool is_exec() const;
  bool is_nobits() const;
};

struct Symbol {
  size_t index = 0;
  std::string name;
  uint8_t bind = 0;      // STB_*
  uint8_t type = 0;      // STT_*
  uint16_t shndx = 0;    // SHN_* or a section index
  uint64_t value = 0;
  uint64_t size = 0;
};

struct Relocation {
  size_t reloc_section = 0;   // the SHT_RELA/SHT_REL section holding it
  size_t target_section = 0;  // the section it patches (sh_info)
  uint64_t offset = 0;
  uint32_t type = 0;          // R_X86_64_*
  size_t symbol = 0;          // index into ObjectFile::symbols
  int64_t addend = 0;         // explicit (RELA) or read from the bytes (REL)
};

struct ObjectFile {
  uint8_t elf_class = 0;
  uint8_t data_encoding = 0;
  uint16_t type = 0;
  uint16_t machine = 0;
  uint64_t entry = 0;
  std::vector<Section> sections;  // by section index; [0] is SHN_UNDEF
  std::vector<Symbol> symbols;    // by symbol index; [0] is the null symbol
  std::vector<Relocation> relocations;

  // The first symbol named `name` with binding `bind`, if any.
  const Symbol* find_symbol(const std::string& name, uint8_t bind) const;
  // The section a defined symbol lives in, or null (undefined, ABS, COMMON).
  const Section* section_of(const Symbol& symbol) const;
};

struct LoadResult {
  std::optional<ObjectFile> object;
  std::string error;  // why `object` is empty
  std::string note;   // e.g. "embedded in /sbin/kexec at offset 0x..."
};

// Reads an ELF64 relocatable object from memory. Non-ET_REL input is not an
// error here: the checker reports it as a loader finding.
[[nodiscard]] LoadResult read_object(std::span<const uint8_t> bytes);

// Reads `path`. If it is an executable rather than an object, looks for the
// first embedded ET_REL / EM_X86_64 ELF image in it (sized by e_shoff +
// e_shnum * e_shentsize) and reads that instead.
[[nodiscard]] LoadResult load_file(const std::string& path);

}  // namespace limbo::check
