// Google Benchmark over the simulated fabric (not part of `make test`):
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
