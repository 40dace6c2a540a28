// SPDX-License-Identifier: GPL-2.0-only
// Reading an ELF64 relocatable object into ObjectFile, through the host
// tools' libelf reader (elf/elf_file.h).
#include "elf_object.h"

#include <elf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "elf/elf_file.h"
#include "elf/embedded_objects.h"

namespace limbo::check {

bool Section::is_alloc() const { return (flags & SHF_ALLOC) != 0; }
bool Section::is_exec() const { return (flags & SHF_EXECINSTR) != 0; }
bool Section::is_nobits() const { return type == SHT_NOBITS; }

const Symbol* ObjectFile::find_symbol(const std::string& name, uint8_t bind) const {
  for (const Symbol& symbol : symbols) {
    if (symbol.index != 0 && symbol.bind == bind && symbol.name == name) return &symbol;
  }
  return nullptr;
}

const Section* ObjectFile::section_of(const Symbol& symbol) const {
  if (symbol.shndx == SHN_UNDEF || symbol.shndx >= SHN_LORESERVE) return nullptr;
  if (symbol.shndx >= sections.size()) return nullptr;
  return &sections[symbol.shndx];
}

namespace {

std::string libelf_error(const char* what) {
  return std::string(what) + ": " + plugin::elf::libelf_error();
}

// REL entries keep their addend in the patched bytes.
int64_t implicit_addend(const Section& target, uint64_t offset, uint32_t type) {
  size_t width = (type == R_X86_64_64) ? 8 : 4;
  if (target.bytes.size() < offset + width) return 0;
  if (width == 8) {
    int64_t value;
    std::memcpy(&value, &target.bytes[offset], 8);
    return value;
  }
  int32_t value;
  std::memcpy(&value, &target.bytes[offset], 4);
  return value;
}

}  // namespace

LoadResult read_object(std::span<const uint8_t> bytes) {
  LoadResult result;
  if (!plugin::elf::libelf_ready()) {
    result.error = libelf_error("libelf initialisation");
    return result;
  }
  const plugin::elf::ElfFile elf(bytes);
  if (!elf.is_elf()) {
    result.error = "not an ELF file";
    return result;
  }
  GElf_Ehdr ehdr;
  if (!elf.header(ehdr)) {
    result.error = libelf_error("ELF header");
    return result;
  }
  ObjectFile object;
  object.elf_class = ehdr.e_ident[EI_CLASS];
  object.data_encoding = ehdr.e_ident[EI_DATA];
  object.type = ehdr.e_type;
  object.machine = ehdr.e_machine;
  object.entry = ehdr.e_entry;

  size_t section_count = 0;
  size_t names_index = 0;
  if (!elf.section_counts(section_count, names_index)) {
    result.error = libelf_error("section headers");
    return result;
  }
  std::vector<GElf_Shdr> headers(section_count);
  object.sections.resize(section_count);
  for (size_t i = 0; i < section_count; ++i) {
    GElf_Shdr& shdr = headers[i];
    if (!elf.section_header(i, shdr)) {
      result.error = libelf_error("section header");
      return result;
    }
    Section& section = object.sections[i];
    section.index = i;
    const char* name = elf.string_at(names_index, shdr.sh_name);
    section.name = name != nullptr ? name : "";
    section.type = shdr.sh_type;
    section.flags = shdr.sh_flags;
    section.size = shdr.sh_size;
    section.align = shdr.sh_addralign;
    section.link = shdr.sh_link;
    section.info = shdr.sh_info;
    if (shdr.sh_type != SHT_NOBITS && shdr.sh_type != SHT_NULL) {
      Elf_Data* data = elf.raw_data(i);
      if (data == nullptr && shdr.sh_size != 0) {
        result.error = libelf_error(("contents of " + section.name).c_str());
        return result;
      }
      if (data != nullptr && data->d_buf != nullptr) {
        auto* begin = static_cast<const uint8_t*>(data->d_buf);
        section.bytes.assign(begin, begin + data->d_size);
      }
    }
  }

  // The symbol table (a relocatable object has exactly one SHT_SYMTAB).
  for (size_t i = 0; i < section_count; ++i) {
    const GElf_Shdr& shdr = headers[i];
    if (shdr.sh_type != SHT_SYMTAB) continue;
    Elf_Data* data = elf.data(i);
    size_t count = shdr.sh_entsize != 0 ? shdr.sh_size / shdr.sh_entsize : 0;
    for (size_t s = 0; s < count; ++s) {
      GElf_Sym sym;
      if (!plugin::elf::symbol_at(data, s, sym)) {
        result.error = libelf_error("symbol");
        return result;
      }
      Symbol symbol;
      symbol.index = s;
      const char* name = elf.string_at(shdr.sh_link, sym.st_name);
      symbol.name = name != nullptr ? name : "";
      symbol.bind = GELF_ST_BIND(sym.st_info);
      symbol.type = GELF_ST_TYPE(sym.st_info);
      symbol.shndx = sym.st_shndx;
      symbol.value = sym.st_value;
      symbol.size = sym.st_size;
      // kexec-tools names a section symbol by its section.
      if (symbol.type == STT_SECTION && symbol.name.empty() && symbol.shndx < section_count) {
        symbol.name = object.sections[symbol.shndx].name;
      }
      object.symbols.push_back(std::move(symbol));
    }
    break;
  }

  for (size_t i = 0; i < section_count; ++i) {
    const GElf_Shdr& shdr = headers[i];
    if (shdr.sh_type != SHT_RELA && shdr.sh_type != SHT_REL) continue;
    Elf_Data* data = elf.data(i);
    size_t count = shdr.sh_entsize != 0 ? shdr.sh_size / shdr.sh_entsize : 0;
    for (size_t r = 0; r < count; ++r) {
      plugin::elf::RelocationEntry entry;
      if (!plugin::elf::relocation_at(data, shdr.sh_type == SHT_RELA, r, entry)) {
        result.error = libelf_error("relocation");
        return result;
      }
      Relocation relocation;
      relocation.reloc_section = i;
      relocation.target_section = shdr.sh_info;
      relocation.offset = entry.offset;
      relocation.type = entry.type;
      relocation.symbol = entry.symbol;
      relocation.addend = entry.addend;
      if (!entry.explicit_addend && relocation.target_section < section_count) {
        relocation.addend = implicit_addend(object.sections[relocation.target_section],
                                            relocation.offset, relocation.type);
      }
      object.relocations.push_back(relocation);
    }
  }
  result.object = std::move(object);
  return result;
}

LoadResult load_file(const std::string& path) {
  LoadResult result;
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    result.error = error ? error.message() : "not a regular file";
    return result;
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    result.error = std::strerror(errno);
    return result;
  }
  std::vector<uint8_t> bytes;
  uint8_t chunk[65536];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) bytes.insert(bytes.end(), chunk, chunk + got);
  bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) {
    result.error = "read error";
    return result;
  }
  static constexpr uint8_t kElfMagic[] = {0x7f, 'E', 'L', 'F'};
  if (bytes.size() >= sizeof(Elf64_Ehdr) && std::memcmp(bytes.data(), kElfMagic, 4) == 0) {
    Elf64_Ehdr ehdr;
    std::memcpy(&ehdr, bytes.data(), sizeof ehdr);
    if (ehdr.e_type == ET_EXEC || ehdr.e_type == ET_DYN) {
      // The first object the plugin's finder sees (elf/embedded_objects.h).
      const auto found = plugin::elf::find_embedded_objects(bytes);
      if (found.empty()) {
        result.error = path + " is an executable with no embedded relocatable x86_64 object";
        return result;
      }
      const size_t at = static_cast<size_t>(found.front().data() - bytes.data());
      const size_t size = found.front().size();
      result = read_object(found.front());
      std::ostringstream note;
      note << "relocatable object of " << size << " bytes embedded in " << path << " at offset 0x" << std::hex << at;
      result.note = note.str();
      return result;
    }
  }
  return read_object(bytes);
}

}  // namespace limbo::check
