// SPDX-License-Identifier: GPL-2.0-only
// Writes the purgatory object embedded in a kexec binary (default /sbin/kexec)
// to OUT: the first object the plugin's own finder sees
// (kexec-plugin/elf/embedded_objects.h). Test-only: the benchmark's
// stock-equivalent hash is kexec-tools' own code as shipped, and the ELF
// loader's fuzz target starts from it.
//
//   BUILD/tests/extract_stock_purgatory OUT [KEXEC]
#include <cstdio>
#include <string>

#include "elf/embedded_objects.h"
#include "kexec/stock_finder.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s OUT [KEXEC]\n", argv[0]);
    return 2;
  }
  const std::string kexec = argc == 3 ? argv[2] : "/sbin/kexec";
  const auto binary = limbo::plugin::kexec::read_file(kexec);
  if (!binary) {
    std::fprintf(stderr, "%s\n", binary.error().message.c_str());
    return 1;
  }
  const auto found = limbo::plugin::elf::find_embedded_objects(*binary);
  if (found.empty()) {
    std::fprintf(stderr, "no embedded x86_64 relocatable object found\n");
    return 1;
  }
  std::FILE* out = std::fopen(argv[1], "wb");
  if (out == nullptr || std::fwrite(found.front().data(), 1, found.front().size(), out) != found.front().size() ||
      std::fclose(out) != 0) {
    std::perror(argv[1]);
    return 1;
  }
  std::printf("stock purgatory: %zu bytes at offset %#zx\n", found.front().size(),
              static_cast<size_t>(found.front().data() - binary->data()));
  return 0;
}
