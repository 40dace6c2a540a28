#include "pcie/system.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "kexec/memory_map.h"
#include "pcie/address.h"
#include "pcie/ecam.h"
#include "kexec/stock_finder.h"

namespace limbo::plugin::pcie {
namespace fs = std::filesystem;

SystemPaths SystemPaths::from_environment() {
  SystemPaths paths;
  if (const char* v = std::getenv("LIMBO_TEST_MCFG"); v && *v) paths.mcfg = v;
  if (const char* v = std::getenv("LIMBO_TEST_IOMEM"); v && *v) paths.iomem = v;
  if (const char* v = std::getenv("LIMBO_TEST_SYSFS"); v && *v) paths.sysfs = v;
  return paths;
}

Result<std::vector<abi::PciAddress>> find_root_buses(const std::string& sysfs_root) {
  std::vector<abi::PciAddress> buses;
  auto add = [&](const abi::PciAddress& bus) {
    if (std::none_of(buses.begin(), buses.end(), [&](const abi::PciAddress& b) { return same_function(b, bus); })) {
      buses.push_back(bus);
    }
  };
  std::error_code devices_error, bus_error;
  for (const fs::directory_entry& entry : fs::directory_iterator(fs::path(sysfs_root) / "devices", devices_error)) {
    if (auto bus = parse_host_bridge_name(entry.path().filename().string())) add(*bus);
  }
  // Host bridges that are not at the top of /sys/devices (Hyper-V, VMD) show
  // up as the parent of their root bus's devices.
  for (const fs::directory_entry& entry : fs::directory_iterator(fs::path(sysfs_root) / "bus/pci/devices", bus_error)) {
    std::error_code ec;
    const fs::path real = fs::canonical(entry.path(), ec);
    if (ec) continue;
    if (auto bus = parse_host_bridge_name(real.parent_path().filename().string())) add(*bus);
  }
  if (devices_error && bus_error) {
    return fail("cannot read " + sysfs_root + "/devices or " + sysfs_root + "/bus/pci/devices: " + devices_error.message(),
                devices_error.value());
  }
  std::sort(buses.begin(), buses.end(), [](const abi::PciAddress& a, const abi::PciAddress& b) {
    return a.segment != b.segment ? a.segment < b.segment : a.bus < b.bus;
  });
  return buses;
}

Topology read_topology(const SystemPaths& paths) {
  Topology topology;
  std::string mcfg_problem;
  auto mcfg = kexec::read_file(paths.mcfg);
  if (!mcfg) {
    mcfg_problem = mcfg.error().message;
  } else if (auto windows = parse_mcfg(*mcfg)) {
    topology.windows = std::move(windows.value());
    topology.ecam_source = "MCFG";
  } else {
    mcfg_problem = windows.error().message;
  }
  if (topology.windows.empty()) {
    std::string iomem_problem;
    auto text = kexec::read_file(paths.iomem);
    if (!text) {
      iomem_problem = text.error().message;
    } else if (auto windows = parse_iomem_ecam({reinterpret_cast<const char*>(text->data()), text->size()})) {
      if (windows->empty()) {
        iomem_problem = paths.iomem + " lists no PCI MMCONFIG/ECAM range";
      } else {
        topology.windows = std::move(windows.value());
        topology.ecam_source = paths.iomem;
      }
    } else {
      iomem_problem = windows.error().message;
    }
    if (topology.windows.empty()) topology.ecam_problem = mcfg_problem + "; " + iomem_problem;
  }
  auto roots = find_root_buses(paths.sysfs);
  if (!roots) {
    topology.root_bus_problem = roots.error().message;
  } else {
    topology.root_buses = std::move(roots.value());
    if (topology.root_buses.empty()) topology.root_bus_problem = paths.sysfs + " shows no host bridge";
  }
  return topology;
}

}  // namespace limbo::plugin::pcie
