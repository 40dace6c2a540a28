// SPDX-License-Identifier: GPL-2.0-only
// Test doubles for the purgatory's injected hardware: a port-I/O bus that
// simulates a 16550 UART at one base (divisor latch, THR, LSR) and a PIT
// counter 2 behind port 0x61, and records every access; VGA text cells in an
// array.
#pragma once

#include <stdint.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "abi/limbo_abi.h"
#include "lib/flow_pcie.h"
#include "lib/pcie/quiesce.h"

namespace limbo::testing {

struct PortAccess {
  bool write;
  uint16_t port;
  uint8_t value;
  bool operator==(const PortAccess&) const = default;
};

class FakePortIo {
 public:
  explicit FakePortIo(uint16_t uart_base = 0x3f8) : uart_base_(uart_base) {}

  // --- UART behaviour knobs ---
  bool transmitter_ready = true;  // LSR THRE and TEMT
  // --- PIT counter 2: OUT2 (port 0x61 bit 5) reads 1 after this many reads
  // of port 0x61 following the count's programming; < 0: never.
  int pit_out2_after_reads = -1;
  std::function<void()> on_port61_read;  // e.g. advance a fake TSC
  // --- PIT counter 2 as a free-running counter (lib/clock.h PitClock):
  // when set, this gives the time in microseconds; a latch command (port
  // 0x43, counter 2, access 00) latches 65,536 minus the input clocks since
  // the count was last written, modulo 65,536, read low byte then high.
  std::function<uint64_t()> pit_time_us;
  uint64_t pit_latches = 0;

  uint8_t in8(uint16_t port) {
    accesses.push_back({false, port, 0});
    uint8_t value = 0xff;  // an empty bus reads all ones
    if (port >= uart_base_ && port < uart_base_ + 8) {
      value = uart_read(port - uart_base_);
    } else if (port == 0x42 && pit_time_us && latched_bytes_ > 0) {
      value = static_cast<uint8_t>(latched_bytes_ == 2 ? latched_ & 0xff : latched_ >> 8);
      --latched_bytes_;
    } else if (port == 0x61) {
      if (on_port61_read) on_port61_read();
      value = port61_ & 0x03;
      if (pit_armed_ && pit_out2_after_reads >= 0 && port61_reads_++ >= pit_out2_after_reads) value |= 0x20;
    }
    accesses.back().value = value;
    return value;
  }

  void out8(uint16_t port, uint8_t value) {
    accesses.push_back({true, port, value});
    if (port >= uart_base_ && port < uart_base_ + 8) {
      uart_write(port - uart_base_, value);
    } else if (port == 0x61) {
      port61_ = value;
    } else if (port == 0x42) {
      pit_armed_ = true;
      port61_reads_ = 0;
      if (pit_time_us) pit_origin_us_ = pit_time_us();
    } else if (port == 0x43 && pit_time_us && (value & 0xc0) == 0x80 && (value & 0x30) == 0) {
      ++pit_latches;
      const uint64_t ticks = (pit_time_us() - pit_origin_us_) * 1193182 / 1000000;
      latched_ = static_cast<uint16_t>(65536 - ticks % 65536);
      latched_bytes_ = 2;
    }
  }

  std::vector<PortAccess> accesses;
  std::string transmitted;  // bytes written to THR
  uint8_t lcr = 0, ier = 0, fcr = 0, mcr = 0, dll = 0, dlm = 0;

  std::vector<PortAccess> writes_to(uint16_t port) const {
    std::vector<PortAccess> out;
    for (const auto& a : accesses)
      if (a.write && a.port == port) out.push_back(a);
    return out;
  }

 private:
  bool dlab() const { return (lcr & 0x80) != 0; }

  uint8_t uart_read(int offset) {
    switch (offset) {
      case 3: return lcr;
      case 4: return mcr;
      case 5: return transmitter_ready ? 0x60 : 0x00;
      default: return 0;
    }
  }

  void uart_write(int offset, uint8_t value) {
    switch (offset) {
      case 0:
        if (dlab()) dll = value;
        else transmitted.push_back(static_cast<char>(value));
        break;
      case 1:
        if (dlab()) dlm = value;
        else ier = value;
        break;
      case 2: fcr = value; break;
      case 3: lcr = value; break;
      case 4: mcr = value; break;
      default: break;
    }
  }

  uint16_t uart_base_;
  uint8_t port61_ = 0;
  bool pit_armed_ = false;
  int port61_reads_ = 0;
  uint64_t pit_origin_us_ = 0;
  uint16_t latched_ = 0;
  int latched_bytes_ = 0;
};

struct FakeVgaCells {
  std::array<uint16_t, 80 * 25> cells{};
  void write(int index, uint16_t cell) { cells.at(index) = cell; }
  uint16_t read(int index) { return cells.at(index); }

  std::string row(int r) const {
    std::string s;
    for (int c = 0; c < 80; ++c) s.push_back(static_cast<char>(cells[r * 80 + c] & 0xff));
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  }
};

// Collects printed text, for the formatter.
struct StringSink {
  std::string text;
  void put(char c) { text.push_back(c); }
};

// The PCIe step's machine requirements (lib/flow_pcie.h) for a fake machine
// whose tests do not exercise PCIe: no page tables of its own, so ECAM is
// unreachable and the step says so (it never gets as far as config space
// unless a test turns PCIe on, which then fails loudly on these).
struct AbsentConfigSpace {
  uint8_t read8(abi::PciAddress, uint16_t) { return 0xff; }
  uint16_t read16(abi::PciAddress, uint16_t) { return 0xffff; }
  uint32_t read32(abi::PciAddress, uint16_t) { return 0xffffffffu; }
  void write8(abi::PciAddress, uint16_t, uint8_t) {}
  void write16(abi::PciAddress, uint16_t, uint16_t) {}
  void write32(abi::PciAddress, uint16_t, uint32_t) {}
  bool in_window(uint16_t, uint8_t) { return false; }
};

struct NoPcie {
  flow::PagingSummary paging_summary() const {
    return flow::PagingSummary{false, false, 4, false, 0, 0, "host test without PCIe"};
  }
  bool tsc_invariant() const { return false; }
  AbsentConfigSpace pcie_config_space(const abi::PcieSettings&) { return {}; }
  pcie::NoMmio pcie_mmio() { return {}; }
  pcie::Workspace& pcie_workspace() {
    ADD_FAILURE() << "PCIe workspace asked of a machine without PCIe";
    return *workspace;
  }
  std::unique_ptr<pcie::Workspace> workspace = std::make_unique<pcie::Workspace>();
};

}  // namespace limbo::testing
