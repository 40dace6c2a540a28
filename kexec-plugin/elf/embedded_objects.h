// SPDX-License-Identifier: GPL-2.0-only
// The one finder of the purgatory objects that kexec-tools embeds in its own
// binary (a byte array holding an ELF64 ET_REL EM_X86_64 object), by scanning
// the file: the plugin's (kexec/stock_finder.h, which reads the file) and the
// checker's (tools/checker/elf_object.h load_file). Header-only, no libelf.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace limbo::plugin::elf {

// Each candidate is sized by its section header table's end
// (e_shoff + e_shnum * e_shentsize), which is where `ld -r` puts it last.
// In file order; a candidate is never searched for others inside it.
inline std::vector<std::span<const uint8_t>> find_embedded_objects(std::span<const uint8_t> binary) {
  std::vector<std::span<const uint8_t>> found;
  if (binary.size() < sizeof(Elf64_Ehdr)) return found;
  for (size_t at = 0; at + sizeof(Elf64_Ehdr) <= binary.size(); ++at) {
    if (std::memcmp(binary.data() + at, ELFMAG, SELFMAG) != 0) continue;
    Elf64_Ehdr ehdr;
    std::memcpy(&ehdr, binary.data() + at, sizeof(ehdr));
    if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_ident[EI_DATA] != ELFDATA2LSB || ehdr.e_type != ET_REL ||
        ehdr.e_machine != EM_X86_64 || ehdr.e_shentsize != sizeof(Elf64_Shdr) || ehdr.e_shnum == 0) {
      continue;
    }
    const uint64_t size = ehdr.e_shoff + uint64_t{ehdr.e_shnum} * ehdr.e_shentsize;
    if (ehdr.e_shoff < sizeof(ehdr) || size > binary.size() - at) continue;
    found.push_back(binary.subspan(at, size));
    at += size - 1;
  }
  return found;
}

}  // namespace limbo::plugin::elf
