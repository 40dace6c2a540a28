// SPDX-License-Identifier: GPL-2.0-only
#include "pcie/system.h"

#include <dirent.h>
#include <limits.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "common/environment.h"
#include "kexec/memory_map.h"
#include "pcie/address.h"
#include "pcie/ecam.h"
#include "kexec/stock_finder.h"

namespace limbo::plugin::pcie {
namespace {

// Calls `visit` with the name of each entry of `dir` but . and ..; returns 0
// or the errno of opendir. The DIR is closed on every way out, a throw too.
template <typename Visit>
int for_each_entry(const std::string& dir, Visit visit) {
  // Out of memory is not "no such directory": it goes to the exception
  // boundary like any other allocation failure, so a load never goes on
  // with fewer root buses than the system has.
  const std::unique_ptr<DIR, int (*)(DIR*)> stream(opendir(dir.c_str()), closedir);
  if (!stream) {
    if (errno == ENOMEM) throw std::bad_alloc();
    return errno;
  }
  for (;;) {
    errno = 0;
    const dirent* entry = readdir(stream.get());
    if (entry == nullptr) {
      if (errno == ENOMEM) throw std::bad_alloc();
      return errno;
    }
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    visit(entry->d_name);
  }
}

}  // namespace

SystemPaths SystemPaths::from_environment() {
  SystemPaths paths;
  if (const char* v = std::getenv(env::kTestMcfg); v && *v) paths.mcfg = v;
  if (const char* v = std::getenv(env::kTestIomem); v && *v) paths.iomem = v;
  if (const char* v = std::getenv(env::kTestSysfs); v && *v) paths.sysfs = v;
  return paths;
}

Result<std::vector<abi::PciAddress>> find_root_buses(const std::string& sysfs_root) {
  std::vector<abi::PciAddress> buses;
  auto add = [&](const abi::PciAddress& bus) {
    if (std::none_of(buses.begin(), buses.end(), [&](const abi::PciAddress& b) { return same_function(b, bus); })) {
      buses.push_back(bus);
    }
  };
  // POSIX directory reads, not std::filesystem: libstdc++'s error_code
  // overloads are noexcept and call std::terminate when an allocation inside
  // them fails (found by the allocation-failure sweep).
  int devices_error = 0, bus_error = 0;
  devices_error = for_each_entry(sysfs_root + "/devices", [&](const char* name) {
    if (auto bus = parse_host_bridge_name(name)) add(*bus);
  });
  // Host bridges that are not at the top of /sys/devices (Hyper-V, VMD) show
  // up as the parent of their root bus's devices.
  const std::string bus_devices = sysfs_root + "/bus/pci/devices";
  bus_error = for_each_entry(bus_devices, [&](const char* name) {
    char real[PATH_MAX];
    if (realpath((bus_devices + "/" + name).c_str(), real) == nullptr) {
      if (errno == ENOMEM) throw std::bad_alloc();
      return;
    }
    std::string parent(real);
    parent.resize(parent.rfind('/') == std::string::npos ? 0 : parent.rfind('/'));
    if (auto bus = parse_host_bridge_name(parent.substr(parent.rfind('/') + 1))) add(*bus);
  });
  if (devices_error && bus_error) {
    return fail("cannot read " + sysfs_root + "/devices or " + sysfs_root + "/bus/pci/devices: " + std::strerror(devices_error),
                devices_error);
  }
  std::sort(buses.begin(), buses.end(), [](const abi::PciAddress& a, const abi::PciAddress& b) {
    return a.segment != b.segment ? a.segment < b.segment : a.bus < b.bus;
  });
  return buses;
}

namespace {

// MCFG first, then /proc/iomem; with neither, both reasons.
Result<EcamWindows> read_ecam(const SystemPaths& paths) {
  std::string mcfg_problem;
  auto mcfg = kexec::read_file(paths.mcfg);
  if (!mcfg) {
    mcfg_problem = mcfg.error().message;
  } else if (auto windows = parse_mcfg(*mcfg)) {
    if (!windows->empty()) return EcamWindows{std::move(windows.value()), "MCFG"};
    mcfg_problem = "MCFG lists no ECAM window";
  } else {
    mcfg_problem = windows.error().message;
  }
  std::string iomem_problem;
  auto text = kexec::read_file(paths.iomem);
  if (!text) {
    iomem_problem = text.error().message;
  } else if (auto windows = parse_iomem_ecam({reinterpret_cast<const char*>(text->data()), text->size()})) {
    if (!windows->empty()) return EcamWindows{std::move(windows.value()), paths.iomem};
    iomem_problem = paths.iomem + " lists no PCI MMCONFIG/ECAM range";
  } else {
    iomem_problem = windows.error().message;
  }
  return fail(mcfg_problem + "; " + iomem_problem);
}

}  // namespace

Topology read_topology(const SystemPaths& paths) {
  Topology topology;
  topology.ecam = read_ecam(paths);
  topology.root_buses = find_root_buses(paths.sysfs);
  if (topology.root_buses && topology.root_buses->empty()) topology.root_buses = fail(paths.sysfs + " shows no host bridge");
  return topology;
}

}  // namespace limbo::plugin::pcie
