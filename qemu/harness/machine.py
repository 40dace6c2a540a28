# SPDX-License-Identifier: GPL-2.0-only
"""The machine a scenario boots: QEMU's command line (q35 under TCG, the
serial console on stdio), the device topologies (an NVMe behind a root
port, the fabric, the flat root bus), the disk pattern both kernels read
back, UEFI firmware, and the tight reservation's size."""

import hashlib
import os
import sys

from harness.console import Limits, kOverallTimeoutS, run_serial


# An NVMe controller behind a root port: the endpoint Limbo must reset (a
# secondary bus reset needs a port above the device; q35's own devices sit on
# the root bus). A null block backend: no file, nothing stored.
kNvmeQemuArgs = (
    '-device', 'pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1',
    '-blockdev', 'driver=null-co,node-name=nvm0,size=67108864',
    '-device', 'nvme,serial=limbo0,drive=nvm0,bus=rp1',
)


# The fabric topology: the two endpoints Limbo must reset, each on its own
# root port, and two it must leave alone. QEMU places the root ports on
# pcie.0 and numbers the buses by the firmware's enumeration; the first
# kernel names the functions it finds (guest-init, "GUEST: fabric ...").
#   rp1 -> NVMe (1b36:0010) with a 1 MiB read-only disk of a known pattern
#   rp2 -> e1000e (8086:10d3), no network peer (receive enable needs none)
#   rp3 -> switch upstream port x3130 -> downstream port xio3130 ->
#          bochs-display (class 0380): a display device, skipped by policy
#   rp4 -> pcie-pci-bridge -> pci-testdev (1b36:0005): conventional PCI,
#          skipped by policy
# q35's default VGA (00:01.0, on the root bus) is left out (-vga none) so
# that the display below the switch is the topology's only one; it is a
# bochs-display (class 0380), a display device without the legacy VGA ranges.
kFabricDisk = 'fabric-disk.img'


def fabric_qemu_args(disk):
  return (
      '-vga', 'none',
      '-device', 'pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1',
      '-blockdev', f'driver=file,filename={disk},node-name=disk0,read-only=on',
      '-blockdev', 'driver=raw,file=disk0,node-name=nvm0,read-only=on',
      '-device', 'nvme,serial=limbo0,drive=nvm0,bus=rp1',
      '-device', 'pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2',
      '-device', 'e1000e,bus=rp2',
      '-device', 'pcie-root-port,id=rp3,bus=pcie.0,chassis=3,slot=3',
      '-device', 'x3130-upstream,id=up1,bus=rp3',
      '-device', 'xio3130-downstream,id=dp1,bus=up1,chassis=4,slot=0',
      '-device', 'bochs-display,bus=dp1',
      '-device', 'pcie-root-port,id=rp4,bus=pcie.0,chassis=5,slot=5',
      '-device', 'pcie-pci-bridge,id=pb1,bus=rp4',
      '-device', 'pci-testdev,bus=pb1,addr=1',
  )


# The flat topology: what a bus reset cannot reach. On q35's root
# bus (pcie.0), each a Root Complex Integrated Endpoint with no port above:
#   00:03.0 NVMe (1b36:0010) with the disk pattern (read-only)
#   00:04.0 e1000e (8086:10d3)
#   00:05.0 virtio-net (1af4:1041), no backend (the first kernel drives it)
# and 00:06.0 a root port -> 01:00.0 NVMe with the same pattern. Fixed
# addresses, so the judge knows each role by its BDF.
kFlatRoles = {'0000:00:03.0': 'nvme', '0000:00:04.0': 'e1000e',
              '0000:00:05.0': 'virtio', '0000:01:00.0': 'nvme-port'}


def flat_qemu_args(disk):
  return (
      '-vga', 'none',
      '-blockdev', f'driver=file,filename={disk},node-name=disk0,read-only=on',
      '-blockdev', 'driver=raw,file=disk0,node-name=nvm0,read-only=on',
      '-blockdev', f'driver=file,filename={disk},node-name=disk1,read-only=on',
      '-blockdev', 'driver=raw,file=disk1,node-name=nvm1,read-only=on',
      '-device', 'nvme,serial=flat0,drive=nvm0,bus=pcie.0,addr=0x3',
      '-device', 'e1000e,bus=pcie.0,addr=0x4',
      '-device', 'virtio-net-pci,bus=pcie.0,addr=0x5',
      '-device', 'pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x6',
      '-device', 'nvme,serial=flat1,drive=nvm1,bus=rp1',
  )


# The disk's pattern: 2048 sectors of 512 bytes, each naming itself, so that
# a sector read from the wrong place or a stale buffer changes the digest.
kDiskSectors = 2048


def disk_pattern():
  out = bytearray()
  for i in range(kDiskSectors):
    text = f'limbo fabric disk sector {i:04d} of {kDiskSectors}\n'.encode()
    out += (text * (512 // len(text) + 1))[:512]
  return bytes(out)


def disk_pattern_md5():
  return hashlib.md5(disk_pattern()).hexdigest()


# UEFI firmware: Debian's ovmf package. QEMU still loads -kernel/-initrd
# through fw_cfg; OVMF starts the kernel's EFI stub, so the first kernel runs
# on UEFI (EFI memory map, EFI runtime services) and kexec-tools passes that
# EFI state on to the capture kernel. The variable store is writable: each
# run gets its own copy of the package's template.
kOvmfCode = '/usr/share/OVMF/OVMF_CODE.fd'


kOvmfVarsTemplate = '/usr/share/OVMF/OVMF_VARS.fd'


def firmware_args(scenario, log_path):
  """-drive options for UEFI firmware (nothing for SeaBIOS). The variable
  store is copied next to the log, fresh for each run."""
  if scenario.firmware != 'ovmf':
    return ()
  vars_path = os.path.splitext(log_path)[0] + '.OVMF_VARS.fd'
  with open(kOvmfVarsTemplate, 'rb') as src, open(vars_path, 'wb') as dst:
    dst.write(src.read())
  return ('-drive', f'if=pflash,format=raw,unit=0,readonly=on,file={kOvmfCode}',
          '-drive', f'if=pflash,format=raw,unit=1,file={vars_path}')


def tight_crashkernel(kernel):
  """The `tight` scenario's reservation, in bytes. kexec-tools (2.0.25,
  bzImage64 -p) stacks backup (0x9f000), ELF core headers (0x4000), its
  purgatory (0x9000) and the setup page (0x6000) at the top of the
  reservation, then the kernel top-down at 2 MiB alignment (init_size, setup
  header offset 0x260), then the initrd in the highest hole, here the one
  above the kernel. With the kernel at the (16 MiB aligned) bottom, that hole
  holds the capture initrd plus 0x80000 bytes: room for Limbo's purgatory
  (0x57000 with its 16 KiB log node), and none once guest-init's
  bigger initrd (+0x70000) is there.
  The capture kernel has too little memory left to reach its init."""
  with open(kernel, 'rb') as f:
    header = f.read(0x264)
  init_size = int.from_bytes(header[0x260:0x264], 'little')
  capture = os.path.join(os.path.dirname(kernel), 'capture.img')
  page = lambda n: (n + 0xfff) & ~0xfff
  return page(init_size) + 0xb2000 + page(os.path.getsize(capture)) + 0x80000


def qemu_command(kernel, initrd, scenario, disk=None, firmware=(), monitor=None):
  # limbo.scenario names how guest-init loads; the stock/limbo/corrupt word
  # is the scenario name before any device suffix.
  crashkernel = (scenario.crashkernel or
                 (str(tight_crashkernel(kernel)) if scenario.name in ('tight', 'tightstock') else '256M'))
  append = (f'console=ttyS0,115200 crashkernel={crashkernel} quiet panic=1 '
            f'limbo.scenario={scenario.name.split("-")[0]}')
  if scenario.guest_args:
    append += ' ' + scenario.guest_args
  device_args = ()
  if scenario.devices == 'nvme':
    append += ' limbo.devices=nvme'
    device_args = kNvmeQemuArgs
  elif scenario.devices == 'fabric':
    append += ' limbo.devices=fabric'
    device_args = fabric_qemu_args(disk)
  elif scenario.devices == 'flat':
    append += ' limbo.devices=flat'
    device_args = flat_qemu_args(disk)
  return ['qemu-system-x86_64', '-accel', scenario.accel, '-machine', 'q35',
          '-m', scenario.mem, '-smp', str(scenario.cpus), '-nographic', '-no-reboot',
          '-monitor', f'unix:{monitor},server=on,wait=off' if monitor else 'none',
          '-serial', 'stdio', '-nic', 'none',
          *firmware, *device_args, *scenario.device_args,
          '-kernel', kernel, '-initrd', initrd, '-append', append]


def boot(scenario, kernel, initrd, log_path, echo=sys.stdout,
         overall_timeout=kOverallTimeoutS, disk=None):
  """Boots the scenario's machine with `kernel` and `initrd` and runs its
  serial console to the end (harness.console.run_serial); returns the Run."""
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  monitor = None
  if scenario.monitor_at:
    monitor = os.path.splitext(log_path)[0] + '.monitor'
    if os.path.exists(monitor):
      os.unlink(monitor)
  cmd = qemu_command(kernel, initrd, scenario, disk,
                     firmware_args(scenario, log_path), monitor)
  return run_serial(cmd, log_path, echo, Limits(overall_s=overall_timeout),
                    monitor, scenario.monitor_at, scenario)
