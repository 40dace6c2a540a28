// SPDX-License-Identifier: GPL-2.0-only
#include "elf/rel_object.h"

#include <elf.h>

#include <cstring>
#include <limits>

#include "elf/elf_file.h"

namespace limbo::plugin::elf {
namespace {

// How many bytes a relocation type patches; 0 for an unsupported type.
// The set is kexec-tools' machine_apply_elf_rel for x86_64.
size_t relocation_width(uint32_t type) {
  switch (type) {
    case R_X86_64_NONE: return 0;
    case R_X86_64_64: return 8;
    case R_X86_64_32:
    case R_X86_64_32S:
    case R_X86_64_PC32:
    case R_X86_64_PLT32: return 4;
    default: return SIZE_MAX;
  }
}

const char* relocation_name(uint32_t type) {
  switch (type) {
    case R_X86_64_NONE: return "R_X86_64_NONE";
    case R_X86_64_64: return "R_X86_64_64";
    case R_X86_64_32: return "R_X86_64_32";
    case R_X86_64_32S: return "R_X86_64_32S";
    case R_X86_64_PC32: return "R_X86_64_PC32";
    case R_X86_64_PLT32: return "R_X86_64_PLT32";
    case R_X86_64_GOTPCREL: return "R_X86_64_GOTPCREL";
    case R_X86_64_GOTPCRELX: return "R_X86_64_GOTPCRELX";
    case R_X86_64_REX_GOTPCRELX: return "R_X86_64_REX_GOTPCRELX";
    default: return "R_X86_64_?";
  }
}

}  // namespace

bool Section::allocated() const { return (flags & SHF_ALLOC) != 0; }
bool Section::nobits() const { return type == SHT_NOBITS; }

Result<RelObject> RelObject::parse(std::span<const uint8_t> file, const std::string& what) {
  if (!libelf_ready()) return fail(what + ": libelf: " + libelf_error());
  // Checks on the raw header first, so that each broken-object case gets a
  // message that names it rather than a generic libelf one.
  Elf64_Ehdr ehdr;
  if (file.size() < sizeof(ehdr)) {
    return fail(format("%s: truncated: %zu bytes, an ELF64 header needs %zu", what.c_str(),
                       file.size(), sizeof(ehdr)));
  }
  std::memcpy(&ehdr, file.data(), sizeof(ehdr));
  if (std::memcmp(ehdr.e_ident, ELFMAG, SELFMAG) != 0) return fail(what + ": not an ELF file (bad magic)");
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64) return fail(what + ": not ELF64");
  if (ehdr.e_ident[EI_DATA] != ELFDATA2LSB) return fail(what + ": not little-endian");
  if (ehdr.e_type != ET_REL) return fail(format("%s: e_type %u is not ET_REL (a relocatable object)", what.c_str(), ehdr.e_type));
  if (ehdr.e_machine != EM_X86_64) return fail(format("%s: e_machine %u is not EM_X86_64", what.c_str(), ehdr.e_machine));
  if (ehdr.e_shoff == 0 || ehdr.e_shnum == 0) return fail(what + ": no section headers");
  if (ehdr.e_shentsize != sizeof(Elf64_Shdr)) return fail(format("%s: e_shentsize %u is not %zu", what.c_str(), ehdr.e_shentsize, sizeof(Elf64_Shdr)));
  const uint64_t headers_end = ehdr.e_shoff + uint64_t{ehdr.e_shnum} * ehdr.e_shentsize;
  if (ehdr.e_shoff > file.size() || headers_end > file.size()) {
    return fail(format("%s: truncated: section headers end at %#llx, file has %#zx bytes", what.c_str(),
                       static_cast<unsigned long long>(headers_end), file.size()));
  }

  const ElfFile elf(file);
  if (!elf.is_elf()) return fail(what + ": libelf: " + libelf_error());

  RelObject object;
  object.what_ = what;
  object.entry_ = ehdr.e_entry;

  size_t count = 0;
  size_t shstrndx = 0;
  if (!elf.section_counts(count, shstrndx)) return fail(what + ": libelf: " + libelf_error());
  if (shstrndx >= count) return fail(format("%s: section name table index %zu out of range", what.c_str(), shstrndx));

  object.sections_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    GElf_Shdr shdr;
    if (!elf.section_header(i, shdr)) return fail(format("%s: section %zu: %s", what.c_str(), i, libelf_error()));
    Section& section = object.sections_[i];
    const char* name = elf.string_at(shstrndx, shdr.sh_name);
    if (i != 0 && !name) return fail(format("%s: section %zu: name out of the name table", what.c_str(), i));
    section.name = name ? name : "";
    section.type = shdr.sh_type;
    section.flags = shdr.sh_flags;
    section.addr = shdr.sh_addr;
    section.size = shdr.sh_size;
    section.align = shdr.sh_addralign == 0 ? 1 : shdr.sh_addralign;
    section.link = shdr.sh_link;
    section.info = shdr.sh_info;
    if ((section.align & (section.align - 1)) != 0) {
      return fail(format("%s: section %s: alignment %#llx is not a power of two", what.c_str(),
                         section.name.c_str(), static_cast<unsigned long long>(section.align)));
    }
    if (section.type == SHT_NOBITS || section.type == SHT_NULL || section.size == 0) continue;
    if (shdr.sh_offset > file.size() || shdr.sh_size > file.size() - shdr.sh_offset) {
      return fail(format("%s: truncated: section %s ends at %#llx, file has %#zx bytes", what.c_str(),
                         section.name.c_str(), static_cast<unsigned long long>(shdr.sh_offset + shdr.sh_size),
                         file.size()));
    }
    Elf_Data* data = elf.data(i);
    if (!data || data->d_size != shdr.sh_size || !data->d_buf) {
      return fail(format("%s: section %s: cannot read its contents: %s", what.c_str(), section.name.c_str(), libelf_error()));
    }
    const auto* bytes = static_cast<const uint8_t*>(data->d_buf);
    section.bytes.assign(bytes, bytes + data->d_size);
  }

  // The symbol table: kexec-tools walks every SHT_SYMTAB; an object has one.
  size_t symtab_index = 0;
  for (size_t i = 0; i < count; ++i) {
    if (object.sections_[i].type != SHT_SYMTAB) continue;
    if (symtab_index != 0) return fail(what + ": more than one symbol table");
    symtab_index = i;
  }
  if (symtab_index == 0) return fail(what + ": no symbol table");
  {
    const Section& symtab = object.sections_[symtab_index];
    if (symtab.link >= count || object.sections_[symtab.link].type != SHT_STRTAB) {
      return fail(format("%s: symbol table's string table index %u is not a string table", what.c_str(), symtab.link));
    }
    Elf_Data* data = elf.data(symtab_index);
    if (!data) return fail(what + ": symbol table: " + libelf_error());
    const size_t symbol_count = symtab.size / sizeof(Elf64_Sym);
    object.symbols_.resize(symbol_count);
    for (size_t i = 0; i < symbol_count; ++i) {
      GElf_Sym sym;
      if (!symbol_at(data, i, sym)) return fail(format("%s: symbol %zu: %s", what.c_str(), i, libelf_error()));
      Symbol& symbol = object.symbols_[i];
      const char* name = elf.string_at(symtab.link, sym.st_name);
      if (!name) return fail(format("%s: symbol %zu: name out of the string table", what.c_str(), i));
      symbol.name = name;
      if (sym.st_name == 0 && GELF_ST_TYPE(sym.st_info) == STT_SECTION && sym.st_shndx < count) {
        symbol.name = object.sections_[sym.st_shndx].name;  // as kexec-tools names section symbols
      }
      symbol.bind = GELF_ST_BIND(sym.st_info);
      symbol.type = GELF_ST_TYPE(sym.st_info);
      symbol.shndx = sym.st_shndx;
      symbol.value = sym.st_value;
      symbol.size = sym.st_size;
      const bool special = symbol.shndx == SHN_UNDEF || symbol.shndx == SHN_ABS || symbol.shndx == SHN_COMMON;
      if (!special && symbol.shndx >= count) {
        return fail(format("%s: symbol %s: section index %u out of range (%zu sections)", what.c_str(),
                           symbol.name.c_str(), symbol.shndx, count));
      }
    }
  }

  // Relocations for allocated sections (kexec-tools ignores the others).
  for (size_t i = 0; i < count; ++i) {
    const Section& rel = object.sections_[i];
    if (rel.type != SHT_RELA && rel.type != SHT_REL) continue;
    if (rel.info >= count || rel.link >= count) {
      return fail(format("%s: %s: section number out of range (info %u, link %u)", what.c_str(), rel.name.c_str(), rel.info, rel.link));
    }
    const Section& target = object.sections_[rel.info];
    if (!target.allocated()) continue;
    if (rel.link != symtab_index) return fail(format("%s: %s: links to section %u, not the symbol table", what.c_str(), rel.name.c_str(), rel.link));
    if (target.nobits()) return fail(format("%s: %s: relocates %s, which has no contents", what.c_str(), rel.name.c_str(), target.name.c_str()));
    Elf_Data* data = elf.data(i);
    if (!data && rel.size != 0) return fail(what + ": " + rel.name + ": " + libelf_error());
    RelocationSection out;
    out.section_index = i;
    out.target = rel.info;
    const size_t entry_size = rel.type == SHT_RELA ? sizeof(Elf64_Rela) : sizeof(Elf64_Rel);
    const size_t n = rel.size / entry_size;
    for (size_t k = 0; k < n; ++k) {
      RelocationEntry entry;
      if (!relocation_at(data, rel.type == SHT_RELA, k, entry)) {
        return fail(format("%s: %s #%zu: %s", what.c_str(), rel.name.c_str(), k, libelf_error()));
      }
      // kexec-tools elf_rel(): SHT_REL entries get addend 0 (relocation_at's).
      const Relocation r = {entry.offset, entry.type, entry.symbol, entry.addend};
      const size_t width = relocation_width(r.type);
      if (width == SIZE_MAX) {
        return fail(format("%s: %s #%zu: unsupported relocation type %u (%s)", what.c_str(), rel.name.c_str(), k, r.type, relocation_name(r.type)));
      }
      if (r.symbol >= object.symbols_.size()) {
        return fail(format("%s: %s #%zu: symbol index %u out of range (%zu symbols)", what.c_str(), rel.name.c_str(), k, r.symbol, object.symbols_.size()));
      }
      if (r.offset > target.size || width > target.size - r.offset) {
        return fail(format("%s: %s #%zu: offset %#llx out of section %s (size %#llx)", what.c_str(), rel.name.c_str(), k,
                           static_cast<unsigned long long>(r.offset), target.name.c_str(), static_cast<unsigned long long>(target.size)));
      }
      const Symbol& symbol = object.symbols_[r.symbol];
      if (symbol.shndx == SHN_UNDEF && symbol.type != STT_NOTYPE) {
        return fail(format("%s: %s #%zu: undefined symbol %s", what.c_str(), rel.name.c_str(), k, symbol.name.c_str()));
      }
      if (symbol.shndx == SHN_UNDEF && r.symbol != 0) {
        // kexec-tools resolves an undefined NOTYPE symbol to 0; in a purgatory
        // that is a link error that a -r link let through.
        return fail(format("%s: %s #%zu: undefined symbol %s", what.c_str(), rel.name.c_str(), k, symbol.name.c_str()));
      }
      if (symbol.shndx == SHN_COMMON) {
        return fail(format("%s: %s #%zu: symbol %s is in a common section", what.c_str(), rel.name.c_str(), k, symbol.name.c_str()));
      }
      out.entries.push_back(r);
    }
    object.relocations_.push_back(std::move(out));
  }
  return object;
}

Layout RelObject::layout() const {
  Layout layout;
  layout.section_offsets.assign(sections_.size(), 0);
  uint64_t bss_align = 1;
  for (const Section& section : sections_) {
    if (!section.allocated()) continue;
    if (!section.nobits()) {
      layout.buf_align = std::max(layout.buf_align, section.align);
      layout.bufsz = align_up(layout.bufsz, section.align) + section.size;
    } else {
      bss_align = std::max(bss_align, section.align);
      layout.bsssz = align_up(layout.bsssz, section.align) + section.size;
    }
  }
  layout.buf_align = std::max(layout.buf_align, bss_align);
  if (layout.bufsz & (bss_align - 1)) layout.bss_pad = bss_align - (layout.bufsz & (bss_align - 1));
  uint64_t data = 0;
  uint64_t bss = layout.bufsz + layout.bss_pad;
  for (size_t i = 0; i < sections_.size(); ++i) {
    const Section& section = sections_[i];
    if (!section.allocated()) continue;
    uint64_t& cursor = section.nobits() ? bss : data;
    cursor = align_up(cursor, section.align);
    layout.section_offsets[i] = cursor;
    cursor += section.size;
  }
  return layout;
}

Result<LoadedImage> RelObject::load_at(uint64_t base) const {
  LoadedImage image;
  image.base = base;
  image.layout = layout();
  if (base & (image.layout.buf_align - 1)) {
    return fail(format("%s: load address %#llx is not aligned to %#llx", what_.c_str(),
                       static_cast<unsigned long long>(base), static_cast<unsigned long long>(image.layout.buf_align)));
  }
  image.bytes.assign(image.layout.bufsz, 0);
  std::vector<uint64_t> address(sections_.size());
  for (size_t i = 0; i < sections_.size(); ++i) {
    const Section& section = sections_[i];
    address[i] = section.allocated() ? base + image.layout.section_offsets[i] : section.addr;
    if (section.allocated() && !section.nobits() && !section.bytes.empty()) {
      std::memcpy(image.bytes.data() + image.layout.section_offsets[i], section.bytes.data(), section.bytes.size());
    }
  }
  // Entry: kexec-tools makes e_entry relative to the first executable
  // allocated section whose [sh_addr, sh_addr + size) holds it.
  image.kexec_tools_entry = entry_;
  for (size_t i = 0; i < sections_.size(); ++i) {
    const Section& section = sections_[i];
    if (!section.allocated() || !(section.flags & SHF_EXECINSTR)) continue;
    if (section.addr <= entry_ && section.addr + section.size > entry_) {
      image.kexec_tools_entry = entry_ - section.addr + address[i];
      break;
    }
  }
  for (const RelocationSection& rel : relocations_) {
    const uint64_t target_offset = image.layout.section_offsets[rel.target];
    for (size_t k = 0; k < rel.entries.size(); ++k) {
      const Relocation& r = rel.entries[k];
      const Symbol& symbol = symbols_[r.symbol];
      const uint64_t section_base = symbol.shndx == SHN_ABS ? 0 : address[symbol.shndx];
      const uint64_t value = symbol.value + section_base + static_cast<uint64_t>(r.addend);
      const uint64_t place = base + target_offset + r.offset;
      uint8_t* location = image.bytes.data() + target_offset + r.offset;
      auto overflow = [&]() {
        return fail(format("%s: %s #%zu: %s to %s overflows: value %#llx at %#llx", what_.c_str(),
                           sections_[rel.section_index].name.c_str(), k, relocation_name(r.type), symbol.name.c_str(),
                           static_cast<unsigned long long>(value), static_cast<unsigned long long>(place)));
      };
      switch (r.type) {
        case R_X86_64_NONE:
          break;
        case R_X86_64_64:
          std::memcpy(location, &value, 8);
          break;
        case R_X86_64_32: {
          if (value > std::numeric_limits<uint32_t>::max()) return overflow();
          const uint32_t v = static_cast<uint32_t>(value);
          std::memcpy(location, &v, 4);
          break;
        }
        case R_X86_64_32S: {
          const int64_t s = static_cast<int64_t>(value);
          if (s < std::numeric_limits<int32_t>::min() || s > std::numeric_limits<int32_t>::max()) return overflow();
          const int32_t v = static_cast<int32_t>(s);
          std::memcpy(location, &v, 4);
          break;
        }
        case R_X86_64_PC32:
        case R_X86_64_PLT32: {
          const int64_t s = static_cast<int64_t>(value - place);
          if (s < std::numeric_limits<int32_t>::min() || s > std::numeric_limits<int32_t>::max()) return overflow();
          const int32_t v = static_cast<int32_t>(s);
          std::memcpy(location, &v, 4);
          break;
        }
      }
    }
  }
  return image;
}

Result<const Symbol*> RelObject::find_global(const std::string& name) const {
  for (const Symbol& symbol : symbols_) {
    if (symbol.bind != STB_GLOBAL || symbol.name != name) continue;
    if (symbol.shndx == SHN_UNDEF || symbol.shndx >= sections_.size()) {
      return fail(format("%s: symbol %s has bad section index %u", what_.c_str(), name.c_str(), symbol.shndx));
    }
    return &symbol;
  }
  return fail(format("%s: symbol %s not found", what_.c_str(), name.c_str()));
}

Result<uint64_t> RelObject::address_of(const LoadedImage& image, const std::string& name) const {
  LIMBO_TRY_ASSIGN(const Symbol* symbol, find_global(name));
  const Section& section = sections_[symbol->shndx];
  const uint64_t section_address = section.allocated() ? image.base + image.layout.section_offsets[symbol->shndx] : section.addr;
  return section_address + symbol->value;
}

Result<RelObject::Range> RelObject::data_range(const LoadedImage& image, const std::string& name, uint64_t size) const {
  LIMBO_TRY_ASSIGN(const Symbol* found, find_global(name));
  const Symbol& symbol = *found;
  if (symbol.size != size) {
    return fail(format("%s: symbol %s has size %llu, not %llu", what_.c_str(), name.c_str(),
                       static_cast<unsigned long long>(symbol.size), static_cast<unsigned long long>(size)));
  }
  const Section& section = sections_[symbol.shndx];
  if (section.nobits()) return fail(format("%s: symbol %s is in a bss section (%s): it cannot be set", what_.c_str(), name.c_str(), section.name.c_str()));
  if (!section.allocated()) return fail(format("%s: symbol %s is in %s, which is not loaded", what_.c_str(), name.c_str(), section.name.c_str()));
  if (symbol.value > section.size || size > section.size - symbol.value) {
    return fail(format("%s: symbol %s lies outside its section %s", what_.c_str(), name.c_str(), section.name.c_str()));
  }
  const uint64_t offset = image.layout.section_offsets[symbol.shndx] + symbol.value;
  if (offset + size > image.bytes.size()) return fail(format("%s: symbol %s lies outside the loaded image", what_.c_str(), name.c_str()));
  return Range{offset, size};
}

Status RelObject::set_symbol(LoadedImage& image, const std::string& name, std::span<const uint8_t> bytes) const {
  LIMBO_TRY_ASSIGN(const Range range, data_range(image, name, bytes.size()));
  std::memcpy(image.bytes.data() + range.offset, bytes.data(), bytes.size());
  return Ok{};
}

Status RelObject::get_symbol(const LoadedImage& image, const std::string& name, std::span<uint8_t> bytes) const {
  LIMBO_TRY_ASSIGN(const Range range, data_range(image, name, bytes.size()));
  std::memcpy(bytes.data(), image.bytes.data() + range.offset, bytes.size());
  return Ok{};
}

}  // namespace limbo::plugin::elf
