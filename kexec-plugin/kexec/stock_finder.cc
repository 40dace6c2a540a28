// SPDX-License-Identifier: GPL-2.0-only
#include "kexec/stock_finder.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file.h"

namespace limbo::plugin::kexec {

std::vector<std::span<const uint8_t>> find_embedded_objects(std::span<const uint8_t> binary) {
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

Result<std::vector<uint8_t>> read_file(const std::string& path) {
  const UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) {
    const int error = errno;
    return fail(format("%s: %s", path.c_str(), std::strerror(error)), error);
  }
  return read_to_end(fd.get(), path);
}

}  // namespace limbo::plugin::kexec
