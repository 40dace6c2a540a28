// SPDX-License-Identifier: GPL-2.0-only
// The objects the plugin tests load: the stock purgatory extracted from the
// installed /sbin/kexec at test time, the fixture objects built by
// tests/plugin/tests.mk, and build/purgatory.ro once it exists.
#pragma once

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "raw_elf.h"

namespace limbo::test {

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline const char* kexec_path() {
  return access("/sbin/kexec", R_OK) == 0 ? "/sbin/kexec" : "/usr/sbin/kexec";
}

// The test's own extraction (independent of kexec/stock_finder): the first
// ELF64 ET_REL EM_X86_64 header in the binary, sized by its section headers.
inline std::vector<uint8_t> extract_stock_purgatory() {
  const std::vector<uint8_t> binary = read_bytes(kexec_path());
  for (size_t at = 0; at + sizeof(Elf64_Ehdr) <= binary.size(); ++at) {
    if (std::memcmp(binary.data() + at, ELFMAG, SELFMAG) != 0) continue;
    Elf64_Ehdr e;
    std::memcpy(&e, binary.data() + at, sizeof(e));
    if (e.e_ident[EI_CLASS] != ELFCLASS64 || e.e_type != ET_REL || e.e_machine != EM_X86_64) continue;
    const uint64_t size = e.e_shoff + uint64_t{e.e_shnum} * e.e_shentsize;
    if (size > binary.size() - at) continue;
    return {binary.begin() + at, binary.begin() + at + size};
  }
  return {};
}

inline RawElf stock_raw() { return RawElf{extract_stock_purgatory()}; }
inline RawElf fixture_raw() { return RawElf{read_bytes(LIMBO_TEST_FIXTURE)}; }
inline RawElf big_fixture_raw() { return RawElf{read_bytes(LIMBO_TEST_FIXTURE_BIG)}; }

}  // namespace limbo::test
