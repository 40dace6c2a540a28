// SPDX-License-Identifier: GPL-2.0-only
// The tests' own reading of an ELF64 relocatable object, with plain <elf.h>
// structs and no libelf: the independent reference the production loader is
// compared with (section layout by kexec-tools' rules, relocation values),
// and the tool the tests use to break objects on purpose.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace limbo::test {

struct RawElf {
  std::vector<uint8_t> bytes;

  template <typename T>
  T read(uint64_t offset) const {
    if (offset + sizeof(T) > bytes.size()) throw std::runtime_error("raw ELF read out of bounds");
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
  }
  template <typename T>
  void write(uint64_t offset, const T& value) {
    if (offset + sizeof(T) > bytes.size()) throw std::runtime_error("raw ELF write out of bounds");
    std::memcpy(bytes.data() + offset, &value, sizeof(T));
  }

  Elf64_Ehdr ehdr() const { return read<Elf64_Ehdr>(0); }
  uint64_t shdr_offset(size_t i) const { return ehdr().e_shoff + i * sizeof(Elf64_Shdr); }
  Elf64_Shdr shdr(size_t i) const { return read<Elf64_Shdr>(shdr_offset(i)); }
  size_t section_count() const { return ehdr().e_shnum; }

  std::string section_name(size_t i) const {
    const Elf64_Shdr names = shdr(ehdr().e_shstrndx);
    return reinterpret_cast<const char*>(bytes.data() + names.sh_offset + shdr(i).sh_name);
  }
  size_t section_index(const std::string& name) const {
    for (size_t i = 0; i < section_count(); ++i) {
      if (section_name(i) == name) return i;
    }
    throw std::runtime_error("no section " + name);
  }
  size_t symtab_index() const {
    for (size_t i = 0; i < section_count(); ++i) {
      if (shdr(i).sh_type == SHT_SYMTAB) return i;
    }
    throw std::runtime_error("no symtab");
  }
  size_t symbol_count() const { return shdr(symtab_index()).sh_size / sizeof(Elf64_Sym); }
  uint64_t symbol_offset(size_t i) const { return shdr(symtab_index()).sh_offset + i * sizeof(Elf64_Sym); }
  Elf64_Sym symbol(size_t i) const { return read<Elf64_Sym>(symbol_offset(i)); }
  std::string symbol_name(size_t i) const {
    const Elf64_Shdr strtab = shdr(shdr(symtab_index()).sh_link);
    return reinterpret_cast<const char*>(bytes.data() + strtab.sh_offset + symbol(i).st_name);
  }
  // Index of the first global symbol named `name` (kexec-tools' lookup).
  size_t global_symbol(const std::string& name) const {
    for (size_t i = 0; i < symbol_count(); ++i) {
      if (ELF64_ST_BIND(symbol(i).st_info) == STB_GLOBAL && symbol_name(i) == name) return i;
    }
    throw std::runtime_error("no global symbol " + name);
  }

  // kexec-tools' elf_rel_load layout, recomputed from the section headers:
  // offset of each allocated section from the buffer base.
  struct Layout {
    uint64_t bufsz = 0, bss_pad = 0, bsssz = 0, buf_align = 1;
    std::vector<uint64_t> offsets;
  };
  Layout layout() const {
    Layout l;
    l.offsets.assign(section_count(), 0);
    uint64_t bss_align = 1;
    auto align_of = [](const Elf64_Shdr& s) { return s.sh_addralign ? s.sh_addralign : 1; };
    auto up = [](uint64_t v, uint64_t a) { return (v + a - 1) / a * a; };
    for (size_t i = 0; i < section_count(); ++i) {
      const Elf64_Shdr s = shdr(i);
      if (!(s.sh_flags & SHF_ALLOC)) continue;
      if (s.sh_type != SHT_NOBITS) {
        l.buf_align = std::max(l.buf_align, align_of(s));
        l.bufsz = up(l.bufsz, align_of(s));
        l.offsets[i] = l.bufsz;
        l.bufsz += s.sh_size;
      } else {
        bss_align = std::max(bss_align, align_of(s));
        l.bsssz = up(l.bsssz, align_of(s)) + s.sh_size;
      }
    }
    l.buf_align = std::max(l.buf_align, bss_align);
    l.bss_pad = (l.bufsz % bss_align) ? bss_align - l.bufsz % bss_align : 0;
    uint64_t bss = l.bufsz + l.bss_pad;
    for (size_t i = 0; i < section_count(); ++i) {
      const Elf64_Shdr s = shdr(i);
      if (!(s.sh_flags & SHF_ALLOC) || s.sh_type != SHT_NOBITS) continue;
      bss = up(bss, align_of(s));
      l.offsets[i] = bss;
      bss += s.sh_size;
    }
    return l;
  }

  // The buffer kexec-tools builds at `base`: sections copied, RELA applied
  // (R_X86_64_64, PC32, PLT32: the types the stock object and the fixtures use).
  std::vector<uint8_t> load_at(uint64_t base) const {
    const Layout l = layout();
    std::vector<uint8_t> image(l.bufsz, 0);
    for (size_t i = 0; i < section_count(); ++i) {
      const Elf64_Shdr s = shdr(i);
      if ((s.sh_flags & SHF_ALLOC) && s.sh_type != SHT_NOBITS) std::memcpy(image.data() + l.offsets[i], bytes.data() + s.sh_offset, s.sh_size);
    }
    for (size_t i = 0; i < section_count(); ++i) {
      const Elf64_Shdr rel = shdr(i);
      if (rel.sh_type != SHT_RELA || !(shdr(rel.sh_info).sh_flags & SHF_ALLOC)) continue;
      for (uint64_t k = 0; k < rel.sh_size / sizeof(Elf64_Rela); ++k) {
        const auto r = read<Elf64_Rela>(rel.sh_offset + k * sizeof(Elf64_Rela));
        const Elf64_Sym sym = symbol(ELF64_R_SYM(r.r_info));
        const uint64_t sec = sym.st_shndx == SHN_ABS ? 0 : (shdr(sym.st_shndx).sh_flags & SHF_ALLOC ? base + l.offsets[sym.st_shndx] : 0);
        const uint64_t value = sym.st_value + sec + r.r_addend;
        const uint64_t place_offset = l.offsets[rel.sh_info] + r.r_offset;
        switch (ELF64_R_TYPE(r.r_info)) {
          case R_X86_64_64: std::memcpy(image.data() + place_offset, &value, 8); break;
          case R_X86_64_PC32:
          case R_X86_64_PLT32: {
            const uint32_t v = static_cast<uint32_t>(value - (base + place_offset));
            std::memcpy(image.data() + place_offset, &v, 4);
            break;
          }
          default: throw std::runtime_error("raw loader: relocation type not handled");
        }
      }
    }
    return image;
  }
  // Offset of a global symbol in the image load_at() builds.
  uint64_t image_offset(const std::string& name) const {
    const Elf64_Sym s = symbol(global_symbol(name));
    return layout().offsets[s.st_shndx] + s.st_value;
  }
};

}  // namespace limbo::test
