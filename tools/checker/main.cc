// SPDX-License-Identifier: GPL-2.0-only
// purgatory-check FILE.ro: checks a purgatory object for what would make it
// fail silently between kernels. Exit status 0 clean, 1 findings, 2 unreadable.
// FILE may also be an executable embedding one (e.g. /sbin/kexec).
#include <cstdio>
#include <string>

#include "elf_object.h"
#include "purgatory_check.h"

int main(int argc, char** argv) {
  // --frames also prints each function's own stack use (to compare with
  // GCC's -fstack-usage, say).
  bool frames = argc == 3 && std::string(argv[1]) == "--frames";
  if ((argc != 2 && !frames) || std::string(argv[argc - 1]).starts_with("-")) {
    std::fprintf(stderr, "usage: purgatory-check [--frames] FILE.ro\n");
    return 2;
  }
  const char* path = argv[argc - 1];
  limbo::check::LoadResult loaded = limbo::check::load_file(path);
  if (!loaded.object) {
    std::fprintf(stderr, "purgatory-check: %s: %s\n", path, loaded.error.c_str());
    return 2;
  }
  std::printf("purgatory-check: %s%s%s\n", path, loaded.note.empty() ? "" : ": ", loaded.note.c_str());
  limbo::check::Report report = limbo::check::check_object(*loaded.object);
  if (frames) {
    for (const limbo::check::Frame& frame : report.frames) {
      std::printf("frame: %s %llu\n", frame.symbol.c_str(), static_cast<unsigned long long>(frame.depth));
    }
  }
  std::fputs(limbo::check::format_report(report).c_str(), stdout);
  std::printf("result: %s\n", report.findings.empty() ? "clean" : "FINDINGS");
  return report.findings.empty() ? 0 : 1;
}
