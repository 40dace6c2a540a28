// SPDX-License-Identifier: GPL-2.0-only
// Google Benchmark over the simulated fabric (not part of `make test`):
// - the modelled time of FLR and of class resets for 1, 8 and 64
//   functions, all in parallel, which must stay within 2 ms of the longest
//   single wait;
// - the modelled reset time (fake clock) for 1, 8 and 64 selected ports,
//   which must stay within 2 ms of hold + settle (all ports reset together);
// - the config reads of discovery against the functions present, which grow
//   with the functions, not with the 65,536 possible (bus, dev, fn).
// The wall-clock columns are the host cost of the simulation, not of the
// purgatory; the counters are the figures that matter.
#include <benchmark/benchmark.h>

#include <memory>

#include "lib/pcie/quiesce.h"
#include "tests/pcie/fabric.h"
#include "tests/pcie/topologies.h"

namespace limbo::pcie::testing {
namespace {

struct NullSink {
  void put(char) {}
};

abi::PcieSettings settings_for(const Fabric& f) {
  abi::PcieSettings s{};
  s.mode = static_cast<uint32_t>(abi::PcieMode::kReset);
  for (const auto& w : f.windows()) s.ecam[s.ecam_count++] = w;
  return s;
}

void BM_ModelledResetTime(benchmark::State& state) {
  const int ports = static_cast<int>(state.range(0));
  auto ws = std::make_unique<Workspace>();
  Totals totals;
  uint64_t reads = 0;
  for (auto _ : state) {
    FakeClock clock;
    Fabric fabric(clock);
    fabric.logging = false;
    build_many_ports(fabric, ports);
    NullSink sink;
    totals = quiesce(fabric, clock, sink, settings_for(fabric), *ws);
    reads = fabric.reads;
  }
  const double hold_plus_settle_ms = (kLinuxSecondaryBusResetHoldUs + 100000) / 1000.0;
  state.counters["ports"] = ports;
  state.counters["reset"] = totals.reset;
  state.counters["modelled_ms"] = totals.elapsed_us / 1000.0;
  state.counters["over_hold_settle_ms"] = totals.elapsed_us / 1000.0 - hold_plus_settle_ms;
  state.counters["config_reads"] = static_cast<double>(reads);
  if (totals.reset != static_cast<uint32_t>(ports) || totals.elapsed_us / 1000.0 > hold_plus_settle_ms + 2.0) {
    state.SkipWithError("modelled reset time not within 2 ms of hold + settle");
  }
}
BENCHMARK(BM_ModelledResetTime)->Arg(1)->Arg(8)->Arg(64);

// `count` functions on the root bus (8 per device), each reset by
// FLR or by its class's reset (NVMe and virtio alternating), all in
// parallel. The modelled time must stay within 2 ms of the longest single
// wait: the FLR's 100 ms (PCIe r6.0 §6.6.2) plus the devices' ready time,
// or the slowest class reset (the fabric's NVMe drops RDY 2 ms after EN).
enum class Kind { kFlr, kClass };

void build_many_functions(Fabric& f, int count, Kind kind) {
  f.add_window(0, 0, 255);
  for (int i = 0; i < count; ++i) {
    const abi::PciAddress a = bdf(0, static_cast<uint8_t>(1 + i / 8), static_cast<uint8_t>(i % 8));
    Fabric::FunctionSpec spec = kind == Kind::kFlr ? virtio_net(true) : (i % 2 == 0 ? nvme_controller(false) : virtio_net(false));
    spec = rc_integrated(spec);
    spec.multi_function = true;
    f.add(a, spec);
    make_live(f, a, 0xe0000000u + static_cast<uint32_t>(i) * 0x100000u);
  }
}

void BM_ModelledFunctionResetTime(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  const Kind kind = state.range(1) == 0 ? Kind::kFlr : Kind::kClass;
  auto ws = std::make_unique<Workspace>();
  Totals totals;
  uint64_t reads = 0, writes = 0;
  for (auto _ : state) {
    FakeClock clock;
    Fabric fabric(clock);
    fabric.logging = false;
    build_many_functions(fabric, count, kind);
    NullSink sink;
    totals = quiesce(fabric, fabric, clock, sink, settings_for(fabric), *ws);
    reads = fabric.reads;
    writes = fabric.writes;
  }
  const double bound_ms = kind == Kind::kFlr ? kFlrCompletionMs : 2.0;
  state.SetLabel(kind == Kind::kFlr ? "flr" : "class reset (nvme, virtio)");
  state.counters["functions"] = count;
  state.counters["reset"] = totals.reset;
  state.counters["modelled_ms"] = totals.elapsed_us / 1000.0;
  state.counters["over_wait_ms"] = totals.elapsed_us / 1000.0 - bound_ms;
  state.counters["config_reads"] = static_cast<double>(reads);
  state.counters["config_writes"] = static_cast<double>(writes);
  if (totals.reset != static_cast<uint32_t>(count) || totals.elapsed_us / 1000.0 > bound_ms + 2.0) {
    state.SkipWithError("modelled function reset time not within 2 ms of the longest single wait");
  }
}
BENCHMARK(BM_ModelledFunctionResetTime)->ArgsProduct({{1, 8, 64}, {0, 1}});

// Discovery over `ports` root ports, each with one endpoint (2 x ports
// functions, ports + 1 buses).
void BM_DiscoveryReads(benchmark::State& state) {
  const int ports = static_cast<int>(state.range(0));
  FakeClock clock;
  Fabric fabric(clock);
  fabric.logging = false;
  build_many_ports(fabric, ports);
  const abi::PcieSettings s = settings_for(fabric);
  auto ws = std::make_unique<Workspace>();
  const size_t roots = root_buses(s, ws->roots);
  for (auto _ : state) {
    benchmark::DoNotOptimize(discover(fabric, ws->roots, roots, ws->topology));
  }
  state.counters["functions"] = ws->topology.count;
  state.counters["config_reads"] = ws->topology.config_reads;
  state.counters["reads_per_function"] = static_cast<double>(ws->topology.config_reads) / ws->topology.count;
  state.counters["possible_functions"] = 65536;
}
BENCHMARK(BM_DiscoveryReads)->Arg(1)->Arg(8)->Arg(64)->Arg(200);

}  // namespace
}  // namespace limbo::pcie::testing

BENCHMARK_MAIN();
