// SPDX-License-Identifier: GPL-2.0-only
// A fake sysfs tree in a temporary directory, for the plugin's PCIe tests:
// devices/pciSSSS:BB host bridges, bus/pci/devices/SSSS:BB:DD.F links to
// their directories, each with a `config` file built here field by field
// (PCI Local Bus r3.0 §6.1 header, PCIe r6.0 §7.5.3 capability), and an
// MCFG table with a correct checksum.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace limbo::test {

// One function's config space as the test states it.
struct FakeFunction {
  uint16_t segment = 0;
  uint8_t bus = 0, device = 0, function = 0;
  uint16_t vendor = 0x8086, device_id = 0x1234;
  uint32_t class_code = 0x020000;
  int pcie_type = -1;        // -1: no PCI Express capability (conventional PCI)
  bool multi_function = false;
  uint8_t secondary = 0, subordinate = 0;  // bridges (pcie_type 4..8 or bridge = true)
  bool bridge = false;       // type 1 header without PCIe (a conventional PCI-to-PCI bridge)
  size_t visible_bytes = 4096;  // what the config file shows (64: an unprivileged reader)

  bool is_bridge() const { return bridge || pcie_type == 4 || pcie_type == 5 || pcie_type == 6 || pcie_type == 7 || pcie_type == 8; }

  std::vector<uint8_t> config() const {
    std::vector<uint8_t> c(pcie_type >= 0 ? 4096 : 256, 0);
    auto put16 = [&](size_t at, uint16_t v) { c[at] = v & 0xff; c[at + 1] = v >> 8; };
    put16(0x00, vendor);
    put16(0x02, device_id);
    c[0x09] = class_code & 0xff;
    c[0x0a] = (class_code >> 8) & 0xff;
    c[0x0b] = (class_code >> 16) & 0xff;
    c[0x0e] = static_cast<uint8_t>((is_bridge() ? 1 : 0) | (multi_function ? 0x80 : 0));
    if (is_bridge()) {
      c[0x18] = bus;
      c[0x19] = secondary;
      c[0x1a] = subordinate;
    }
    if (pcie_type >= 0) {
      put16(0x06, 0x0010);  // Status: Capabilities List
      c[0x34] = 0x40;
      c[0x40] = 0x10;       // PCI Express capability, last in the list
      c[0x41] = 0x00;
      put16(0x42, static_cast<uint16_t>(0x2 | (pcie_type << 4)));
    }
    if (visible_bytes < c.size()) c.resize(visible_bytes);
    return c;
  }
  std::string name() const {
    char text[32];
    std::snprintf(text, sizeof(text), "%04x:%02x:%02x.%x", segment, bus, device, function);
    return text;
  }
};

class FakeSysfs {
 public:
  FakeSysfs() {
    char name[] = "/tmp/limbo-sysfs-XXXXXX";
    root_ = mkdtemp(name);
    std::filesystem::create_directories(root_ / "devices");
    std::filesystem::create_directories(root_ / "bus/pci/devices");
  }
  ~FakeSysfs() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  std::string root() const { return root_.string(); }
  std::string path(const std::string& relative) const { return (root_ / relative).string(); }

  // A host bridge directory devices/pciSSSS:BB (under `parent` if given).
  std::filesystem::path host_bridge(uint16_t segment, uint8_t bus, const std::string& parent = "devices") {
    char name[16];
    std::snprintf(name, sizeof(name), "pci%04x:%02x", segment, bus);
    const auto dir = root_ / parent / name;
    std::filesystem::create_directories(dir);
    return dir;
  }

  // The function's directory below `parent_dir` (a host bridge or a bridge
  // function's directory) and its bus/pci/devices link.
  std::filesystem::path add(const FakeFunction& f, const std::filesystem::path& parent_dir) {
    const auto dir = parent_dir / f.name();
    std::filesystem::create_directories(dir);
    const std::vector<uint8_t> bytes = f.config();
    std::ofstream(dir / "config", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    std::filesystem::create_symlink(dir, root_ / "bus/pci/devices" / f.name());
    return dir;
  }

  void write(const std::string& relative, const std::string& text) {
    std::filesystem::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text;
  }
  void write(const std::string& relative, const std::vector<uint8_t>& bytes) {
    std::filesystem::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }

 private:
  std::filesystem::path root_;
};

struct McfgEntry {
  uint64_t base;  // as in the table: the address of bus 0 of the segment
  uint16_t segment;
  uint8_t start_bus, end_bus;
};

// An MCFG table (PCI Firmware r3.3 §4.1.2) with a valid checksum.
inline std::vector<uint8_t> make_mcfg(const std::vector<McfgEntry>& entries) {
  std::vector<uint8_t> t(44 + 16 * entries.size(), 0);
  std::memcpy(t.data(), "MCFG", 4);
  const uint32_t length = static_cast<uint32_t>(t.size());
  std::memcpy(t.data() + 4, &length, 4);
  t[8] = 1;  // revision
  std::memcpy(t.data() + 10, "LIMBO ", 6);
  for (size_t i = 0; i < entries.size(); ++i) {
    uint8_t* e = t.data() + 44 + 16 * i;
    std::memcpy(e, &entries[i].base, 8);
    std::memcpy(e + 8, &entries[i].segment, 2);
    e[10] = entries[i].start_bus;
    e[11] = entries[i].end_bus;
  }
  uint8_t sum = 0;
  for (uint8_t b : t) sum = static_cast<uint8_t>(sum + b);
  t[9] = static_cast<uint8_t>(-sum);
  return t;
}

}  // namespace limbo::test
