// purgatory-check FILE.ro: checks a purgatory object for what would make it
// fail silently between kernels. Exit status 0 clean, 1 findings, 2 unreadable.
// FILE may also be an executable embedding one (e.g. /sbin/kexec).
#include <cstdio>
#include <string>

#include "elf_object.h"
#include "purgatory_check.h"

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]).starts_with("-")) {
    std::fprintf(stderr, "usage: purgatory-check FILE.ro\n");
    return 2;
  }
  limbo::check::LoadResult loaded = limbo::check::load_file(argv[1]);
  if (!loaded.object) {
    std::fprintf(stderr, "purgatory-check: %s: %s\n", argv[1], loaded.error.c_str());
    return 2;
  }
  std::printf("purgatory-check: %s%s%s\n", argv[1], loaded.note.empty() ? "" : ": ", loaded.note.c_str());
  limbo::check::Report report = limbo::check::check_object(*loaded.object);
  std::fputs(limbo::check::format_report(report).c_str(), stdout);
  std::printf("result: %s\n", report.findings.empty() ? "clean" : "FINDINGS");
  return report.findings.empty() ? 0 : 1;
}
