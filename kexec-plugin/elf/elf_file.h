// SPDX-License-Identifier: GPL-2.0-only
// The host tools' one libelf reader: an ELF image opened from memory, its
// section headers, names and contents, and the entries of its symbol and
// relocation sections. What is an error and what a message says stay with
// the two models built on it: the plugin's strict loader of the purgatory
// (elf/rel_object.h) and purgatory-check's object, which reads whatever is
// there and reports it (tools/checker/elf_object.h). The embedded purgatory
// in /sbin/kexec is found by elf/embedded_objects.h.
#pragma once

#include <gelf.h>
#include <libelf.h>

#include <cstdint>
#include <span>
#include <vector>

namespace limbo::plugin::elf {

// libelf's version handshake, done once.
bool libelf_ready();
// libelf's message for its last error.
const char* libelf_error();

// One ELF image in memory. libelf may convert data in place and keeps
// pointers into the buffer: it works on a private copy that lives as long
// as this object.
class ElfFile {
 public:
  explicit ElfFile(std::span<const uint8_t> bytes);
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  // libelf opened it and it is an ELF file (not an archive or raw data).
  bool is_elf() const;
  bool header(GElf_Ehdr& ehdr) const;
  // The number of sections and the index of the section name table.
  bool section_counts(size_t& count, size_t& names_index) const;
  bool section_header(size_t index, GElf_Shdr& shdr) const;
  // The string at `offset` in string table section `table`; null if out of it.
  const char* string_at(size_t table, size_t offset) const;
  // A section's contents, converted to host order (elf_getdata) or as stored
  // (elf_rawdata); null on error.
  Elf_Data* data(size_t index) const;
  Elf_Data* raw_data(size_t index) const;

 private:
  std::vector<uint8_t> copy_;
  Elf* elf_;
};

// Entry `index` of a symbol table section's data.
bool symbol_at(Elf_Data* symbols, size_t index, GElf_Sym& symbol);

// One entry of a SHT_RELA or SHT_REL section; `explicit_addend` is false for
// SHT_REL, whose addend is in the patched bytes (addend is then 0).
struct RelocationEntry {
  uint64_t offset = 0;
  uint32_t type = 0;
  uint32_t symbol = 0;
  int64_t addend = 0;
  bool explicit_addend = false;
};
// Entry `index` of relocation section data; `rela` for SHT_RELA.
bool relocation_at(Elf_Data* relocations, bool rela, size_t index, RelocationEntry& entry);

}  // namespace limbo::plugin::elf
