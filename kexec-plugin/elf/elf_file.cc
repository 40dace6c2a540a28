// SPDX-License-Identifier: GPL-2.0-only
#include "elf/elf_file.h"

namespace limbo::plugin::elf {

bool libelf_ready() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

const char* libelf_error() { return elf_errmsg(-1); }

ElfFile::ElfFile(std::span<const uint8_t> bytes)
    : copy_(bytes.begin(), bytes.end()), elf_(elf_memory(reinterpret_cast<char*>(copy_.data()), copy_.size())) {}

ElfFile::~ElfFile() {
  if (elf_ != nullptr) elf_end(elf_);
}

bool ElfFile::is_elf() const { return elf_ != nullptr && elf_kind(elf_) == ELF_K_ELF; }

bool ElfFile::header(GElf_Ehdr& ehdr) const { return gelf_getehdr(elf_, &ehdr) != nullptr; }

bool ElfFile::section_counts(size_t& count, size_t& names_index) const {
  return elf_getshdrnum(elf_, &count) == 0 && elf_getshdrstrndx(elf_, &names_index) == 0;
}

bool ElfFile::section_header(size_t index, GElf_Shdr& shdr) const {
  Elf_Scn* scn = elf_getscn(elf_, index);
  return scn != nullptr && gelf_getshdr(scn, &shdr) != nullptr;
}

const char* ElfFile::string_at(size_t table, size_t offset) const { return elf_strptr(elf_, table, offset); }

Elf_Data* ElfFile::data(size_t index) const { return elf_getdata(elf_getscn(elf_, index), nullptr); }

Elf_Data* ElfFile::raw_data(size_t index) const { return elf_rawdata(elf_getscn(elf_, index), nullptr); }

bool symbol_at(Elf_Data* symbols, size_t index, GElf_Sym& symbol) {
  return gelf_getsym(symbols, static_cast<int>(index), &symbol) != nullptr;
}

bool relocation_at(Elf_Data* relocations, bool rela, size_t index, RelocationEntry& entry) {
  if (rela) {
    GElf_Rela r;
    if (gelf_getrela(relocations, static_cast<int>(index), &r) == nullptr) return false;
    entry = {r.r_offset, static_cast<uint32_t>(GELF_R_TYPE(r.r_info)), static_cast<uint32_t>(GELF_R_SYM(r.r_info)),
             r.r_addend, true};
    return true;
  }
  GElf_Rel r;
  if (gelf_getrel(relocations, static_cast<int>(index), &r) == nullptr) return false;
  entry = {r.r_offset, static_cast<uint32_t>(GELF_R_TYPE(r.r_info)), static_cast<uint32_t>(GELF_R_SYM(r.r_info)), 0,
           false};
  return true;
}

}  // namespace limbo::plugin::elf
