// SPDX-License-Identifier: GPL-2.0-only
// Fuzz target: the ACPI MCFG parser (kexec-plugin/pcie/ecam.h parse_mcfg)
// over arbitrary table bytes. What it accepts must hold the documented
// checks: 1..kMaxEcamWindows windows, ordered bus numbers, a non-zero 1 MiB
// aligned base with no overflow, no two windows of a segment sharing a bus;
// and it must pass validate_windows, the check the purgatory relies on.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "pcie/ecam.h"

namespace {

[[noreturn]] void violated(const char* what) {
  fprintf(stderr, "mcfg_fuzz: invariant violated: %s\n", what);
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace limbo::plugin::pcie;
  auto windows = parse_mcfg(std::span<const uint8_t>(data, size));
  if (!windows) {
    if (windows.error().message.empty()) violated("a refusal without a message");
    return 0;
  }
  if (windows->empty() || windows->size() > limbo::abi::kMaxEcamWindows) violated("window count");
  for (size_t i = 0; i < windows->size(); ++i) {
    const auto& w = (*windows)[i];
    if (w.start_bus > w.end_bus) violated("reversed bus range");
    if (w.base == 0 || (w.base & ((1ull << kEcamBusShift) - 1)) != 0) violated("base 0 or not 1 MiB aligned");
    const uint64_t span = (uint64_t{w.end_bus} - w.start_bus + 1) << kEcamBusShift;
    if (w.base + span < w.base) violated("window wraps around");
    for (size_t j = 0; j < i; ++j) {
      const auto& o = (*windows)[j];
      if (o.segment == w.segment && o.start_bus <= w.end_bus && w.start_bus <= o.end_bus) violated("shared bus");
    }
  }
  if (!validate_windows(*windows, "fuzz").ok()) violated("accepted windows fail validate_windows");
  return 0;
}
