# SPDX-License-Identifier: GPL-2.0-only
"""Limbo's QEMU panic harness: boot a Debian kernel under TCG, load a capture
kernel (stock kexec or Limbo), panic it with sysrq-c, timestamp every serial
line on the host, and judge the run from the console alone.

Used by qemu/run-scenario (one scenario, PASS/FAIL), qemu/demo (the Limbo run,
summarised) and qemu/compare (stock and Limbo in one session, timed).
"""

import dataclasses
import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

kRepo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Serial markers. Kernel lines carry a "[    4.286132] " printk time prefix.
kPrintkPrefix = re.compile(r'^\[\s*\d+\.\d+\]\s?')
kPanicMarkers = ('sysrq: Trigger a crash', 'Kernel panic - not syncing')
kStockPurgatoryLine = "I'm in purgatory"  # kexec-tools purgatory/purgatory.c
kKernelBanner = 'Linux version '
kLimboPrefix = 'limbo:'
kLimboReport = re.compile(r'(?:^|\s)limbo=(\S+)')


@dataclasses.dataclass(frozen=True)
class Scenario:
  name: str
  image: str            # initramfs under BUILD/qemu/
  purgatory: str        # 'stock' or 'limbo': whose console lines to expect;
                        # 'kernel': kexec_file_load's, which prints none
  captures: bool        # True: the capture kernel must boot; False: must not
  description: str
  devices: str = ''     # 'nvme': an NVMe controller behind a PCIe root port;
                        # 'fabric': the issue 3 topology (kFabricQemuArgs)
  cpus: int = 1         # the first kernel's CPUs (the capture kernel: nr_cpus=1)
  timeout_s: float = 0.0  # overall limit; 0: kOverallTimeoutS
  firmware: str = 'bios'  # 'bios': QEMU's SeaBIOS; 'ovmf': UEFI (kOvmfCode)
  guest_args: str = ''  # more of the first kernel's command line, for guest-init
  # Issue 20: (console message prefix, HMP command) pairs. QEMU then runs
  # with its monitor on a unix socket, and the harness sends each command
  # once, as soon as a serial line whose message starts with the prefix
  # arrives (e.g. an NMI while the purgatory verifies).
  monitor_at: tuple = ()
  # Issue 16: '' boots the host's kernel and kexec (BUILD/qemu/); a Debian
  # suite name boots that suite's kernel with its kexec-tools and libraries
  # (BUILD/qemu/suite-SUITE/, from qemu/kdump/build-rootfs --suite SUITE).
  suite: str = ''
  # Issue 21 (limbo-panic-test): the first kernel's memory, its crashkernel=
  # ('' : 256M, or the tight scenarios' own), and QEMU's accelerator.
  mem: str = '1G'
  crashkernel: str = ''
  accel: str = 'tcg'
  device_args: tuple = ()  # more QEMU device options (a user's topology file)

  @property
  def qemu_dir(self):
    return f'suite-{self.suite}/' if self.suite else ''


# An NVMe controller behind a root port: the endpoint Limbo must reset (a
# secondary bus reset needs a port above the device; q35's own devices sit on
# the root bus). A null block backend: no file, nothing stored.
kNvmeQemuArgs = (
    '-device', 'pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1',
    '-blockdev', 'driver=null-co,node-name=nvm0,size=67108864',
    '-device', 'nvme,serial=limbo0,drive=nvm0,bus=rp1',
)


# The issue 3 topology: the two endpoints Limbo must reset, each on its own
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


# Issue 14, the flat topology: what a bus reset cannot reach. On q35's root
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


kScenarios = {
    'stock': Scenario(
        'stock', 'guest-stock.img', 'stock', True,
        'control run: stock kexec -p -c with its own purgatory, no plugin'),
    'limbo': Scenario(
        'limbo', 'guest-limbo.img', 'limbo', True,
        'limbo-kexec -p: stock kexec with the Limbo plugin and purgatory'),
    'corrupt': Scenario(
        'corrupt', 'guest-limbo.img', 'limbo', False,
        'limbo-kexec -p --test-corrupt-digest (test-only switch): the '
        'purgatory must report the mismatch and halt'),
    'stock-nvme': Scenario(
        'stock-nvme', 'guest-stock.img', 'stock', True,
        'control run with an NVMe controller the first kernel enabled: '
        'stock kexec leaves it enabled (CC.EN = 1) for the capture kernel',
        devices='nvme'),
    'limbo-nvme': Scenario(
        'limbo-nvme', 'guest-limbo.img', 'limbo', True,
        'limbo-kexec with an NVMe controller the first kernel enabled: Limbo '
        'resets it (CC.EN = 0, Bus Master off) before the capture kernel',
        devices='nvme'),
    'limbo-smp2': Scenario(
        'limbo-smp2', 'guest-limbo.img', 'limbo', True,
        'limbo-kexec with two CPUs: the crashing kernel stops the other CPU '
        'and the purgatory runs beside it', cpus=2),
    'stock-fabric': Scenario(
        'stock-fabric', 'guest-stock.img', 'stock', True,
        'control run on the issue 3 topology (NVMe and e1000e on root ports, '
        'a display behind a switch, a PCI device behind a PCIe-to-PCI '
        'bridge): stock kexec leaves NVMe CC.EN = 1 and e1000e RCTL.EN = 1',
        devices='fabric'),
    'limbo-fabric': Scenario(
        'limbo-fabric', 'guest-limbo.img', 'limbo', True,
        'limbo-kexec on the issue 3 topology: Limbo resets the NVMe and the '
        'e1000e (CC.EN = 0, RCTL.EN = 0, Bus Master off), skips the display '
        'and the conventional device, restores the BARs; the capture '
        'kernel reads the disk through the NVMe driver',
        devices='fabric'),
    # Issue 9: one segment damaged after the digests were computed (the
    # plugin's TEST-ONLY --test-damage-segment). The guest-init word is the
    # name itself (no dash).
    'damage': Scenario(
        'damage', 'guest-limbo.img', 'limbo', False,
        'limbo-kexec --test-damage-segment=initrd:0x1000 (test-only): the '
        'purgatory names the damaged initrd segment and halts'),
    'reboot': Scenario(
        'reboot', 'guest-limbo.img', 'limbo', False,
        'limbo-kexec --on-corruption=reboot --test-damage-segment=kernel:last '
        '(test-only): the purgatory names the kernel segment and the changed '
        'zero-fill offset, then resets through the FADT reset register (QEMU '
        'runs with -no-reboot: the reset makes it exit)'),
    # Issue 7: the same two runs on UEFI firmware.
    'stock-ovmf': Scenario(
        'stock-ovmf', 'guest-stock.img', 'stock', True,
        'control run on UEFI (OVMF): stock kexec -p -c, the first kernel '
        'booted through its EFI stub', firmware='ovmf'),
    'limbo-ovmf': Scenario(
        'limbo-ovmf', 'guest-limbo.img', 'limbo', True,
        'limbo-kexec -p on UEFI (OVMF): the first kernel booted through its '
        'EFI stub, the capture kernel handed the EFI state by kexec-tools',
        firmware='ovmf'),
    # Issue 6 (guest-safety.img: guest-limbo.img plus test-only purgatories).
    'safety': Scenario(
        'safety', 'guest-safety.img', 'limbo', True,
        'issue 6 loader safety: a loop of loads and unloads through Limbo, '
        'then the capture kernel to keep (limbo.first=1), then bad loads '
        '(missing, truncated, unsupported relocation, missing ABI symbol, '
        'malformed --pcie-exclude, non-kernel ELF, untrusted purgatory, one in a '
        'directory others may write): each '
        'fails with one line and leaves kexec_crash_loaded at 1; the panic '
        'boots the first capture kernel (300 loads, every 30th and the last '
        'with checks: ~5 min under TCG)', timeout_s=900.0,
        guest_args='limbo.loops=300 limbo.checked_every=30'),
    # Issues 6 and 20: the TEST-ONLY fault build (ud2 where the capture
    # kernel's command line says, limbo.test_fault=...).
    'fault': Scenario(
        'fault', 'guest-safety.img', 'limbo', True,
        'issue 20 fault in optional work: the TEST-ONLY build executes ud2 in '
        'the PCIe phase, with every port of the fabric topology in Secondary '
        'Bus Reset; Limbo prints vector 6 and the RIP, abandons the phase, '
        'clears the resets, reports pcie:fault and jumps: the capture kernel '
        'boots and reads the disk through the NVMe', devices='fabric',
        guest_args='limbo.test_fault=pcie'),
    'fault-verify': Scenario(
        'fault-verify', 'guest-safety.img', 'limbo', False,
        'issue 20 fault before verification: ud2 as the hash starts; '
        '--on-fault=reboot (the default): the diagnosis, the reset ways, and '
        'the machine resets (QEMU exits: -no-reboot)',
        guest_args='limbo.test_fault=verify'),
    'fault-handler': Scenario(
        'fault-handler', 'guest-safety.img', 'limbo', False,
        'issue 20: a fault inside the fault handler: ud2 as the hash starts, '
        'then ud2 again in the handler after its diagnosis; the nested fault '
        'prints one line and carries out --on-fault=reboot at once (a triple '
        'fault): QEMU exits, never a silent hang',
        guest_args='limbo.test_fault=handler'),
    'fault-verify-halt': Scenario(
        'fault-verify-halt', 'guest-safety.img', 'limbo', False,
        'issue 20: the same fault with --on-fault=halt: the diagnosis, then '
        'the CPU halts (no exit, no capture kernel)',
        guest_args='limbo.test_fault=verify limbo.on_fault=halt'),
    'tight': Scenario(
        'tight', 'guest-safety.img', 'limbo', False,
        'issue 6: a crash reservation sized (tight_crashkernel) so that the '
        'capture kernel and its initrd leave 512 KiB for Limbo\'s purgatory: '
        'that load is kept (limbo.first=1); the same load with an initrd '
        '448 KiB larger leaves too little room for Limbo (kexec-tools\' own '
        'layout fits): one "no room" line, kexec_crash_loaded stays 1, the '
        'panic verifies and starts the first capture kernel (its banner and '
        'command line; in a reservation this small it cannot go further)'),
    # Issue 20: an NMI (QEMU monitor `nmi`) sent as soon as the purgatory
    # starts hashing: Limbo counts it, returns from it, verifies and boots
    # the capture kernel; the stock purgatory, which has no IDT, triple
    # faults and the machine resets (-no-reboot: QEMU exits).
    'limbo-nmi': Scenario(
        'limbo-nmi', 'guest-limbo.img', 'limbo', True,
        'issue 20: an NMI while Limbo verifies (monitor `nmi` on its '
        '"sha256: portable" line): Limbo prints it, returns from it, '
        'verifies, counts it before its report, and the capture kernel boots',
        monitor_at=(('limbo: sha256: portable', 'nmi'),)),
    # Issue 20: a machine check (monitor `mce`, bank 1 uncorrected, RIPV and
    # MCIP) as the PCIe phase starts on the fabric topology: logged, MCIP
    # cleared, the phase abandoned as for any fault in it, the jump.
    'limbo-mce': Scenario(
        'limbo-mce', 'guest-limbo.img', 'limbo', True,
        'issue 20: a machine check in the PCIe phase (monitor `mce` on the '
        '"pcie: delays on" line): Limbo logs MCG_STATUS and bank 1, clears '
        'MCIP, abandons the phase (ports cleared), reports pcie:fault and the '
        'capture kernel boots and reads the disk', devices='fabric',
        monitor_at=(('limbo: pcie: delays on', 'mce 0 1 0xb000000000000000 0x5 0 0'),)),
    'stock-mce': Scenario(
        'stock-mce', 'guest-stock.img', 'stock', False,
        'issue 20 control: the same machine check in the stock purgatory (on '
        'its "I\'m in purgatory" line): CR4.MCE is clear, the CPU shuts down '
        'and the machine resets (QEMU exits: -no-reboot)',
        monitor_at=((kStockPurgatoryLine, 'mce 0 1 0xb000000000000000 0x5 0 0'),)),
    'limbo-nmi-fabric': Scenario(
        'limbo-nmi-fabric', 'guest-limbo.img', 'limbo', True,
        'issue 20: an NMI as Limbo\'s PCIe phase starts on the issue 3 topology '
        '(monitor `nmi` on its "pcie: delays on" line: it lands in the reset\'s '
        'hold or settle time): returned from, counted, every endpoint still reset '
        'and restored, the capture kernel reads the disk',
        devices='fabric', monitor_at=(('limbo: pcie: delays on', 'nmi'),)),
    'stock-nmi': Scenario(
        'stock-nmi', 'guest-stock.img', 'stock', False,
        'issue 20 control: the same NMI in the stock purgatory (on its '
        '"I\'m in purgatory" line): no IDT, a triple fault, the machine '
        'resets (QEMU exits: -no-reboot) and no capture kernel boots',
        monitor_at=((kStockPurgatoryLine, 'nmi'),)),
    # Issue 14: devices a bus reset cannot reach (kFlatRoles).
    'stock-flat': Scenario(
        'stock-flat', 'guest-stock.img', 'stock', True,
        'control run on the flat topology (NVMe, e1000e, virtio-net on the '
        'root bus, an NVMe behind a root port): stock kexec leaves them all '
        'live for the capture kernel', devices='flat'),
    'limbo-flat': Scenario(
        'limbo-flat', 'guest-limbo.img', 'limbo', True,
        'limbo-kexec on the flat topology: each function gets the strongest '
        'method it offers (FLR, its class reset, or Bus Master off; the port\'s '
        'NVMe a bus reset); the capture kernel finds the NVMe controllers '
        'disabled, the e1000e receiver off or Bus Master off, the virtio '
        'status 0 or Bus Master off, and reads the disk through both NVMe',
        devices='flat'),
    # Issue 13 (guest-safety.img: it carries the kdump-tools snippet).
    'fallback': Scenario(
        'fallback', 'guest-safety.img', 'stock', True,
        'issue 13 stock fallback: a crash kernel through Limbo; a load Limbo '
        'refuses (untrusted purgatory) with fallback none keeps it (--status: '
        'through Limbo); the same refusal on the kdump-tools path '
        '(LIMBO_FALLBACK=stock from the snippet) loads kexec-tools\' own '
        'segments (--status: stock, after a refusal), and the panic boots that '
        'capture kernel through the stock purgatory'),
    'lockdown': Scenario(
        'lockdown', 'guest-safety.img', 'stock', False,
        'issue 13: lockdown=integrity on the first kernel: the command '
        'kdump-config runs with Limbo\'s snippet is the one it runs without, '
        'the snippet says why once, limbo-kexec refuses before kexec runs '
        '(exit 5) naming kexec -s; no panic', guest_args='lockdown=integrity'),
    'tightstock': Scenario(
        'tightstock', 'guest-safety.img', 'stock', False,
        'issue 13: the tight reservation; after the load through Limbo, the '
        'load with the larger initrd that leaves no room for Limbo, with '
        '--fallback=stock: one FALLBACK line, kexec-tools\' own load in '
        '(it fits), --status "stock, after a refusal: no room ...", and the '
        'panic starts that capture kernel through the stock purgatory (its '
        'banner and command line; in a reservation this small it cannot go '
        'further: ~60 s, ends by silence)'),
    'excludeid-fabric': Scenario(
        'excludeid-fabric', 'guest-limbo.img', 'limbo', True,
        'issue 17: --pcie-exclude=8086:10d3 on the issue 3 topology leaves '
        'the e1000e untouched (RCTL.EN and Bus Master stay 1 in the capture '
        'kernel) while the NVMe is reset; --plan names the rule for both',
        devices='fabric'),
    # Issue 15: the purgatory's log node read back in the capture kernel.
    'record-fabric': Scenario(
        'record-fabric', 'guest-limbo.img', 'limbo', True,
        'issue 15: on the issue 3 topology the capture kernel finds Limbo\'s '
        'setup_data node; limbo-kexec --report --json lists every function '
        'with the decision and outcome of its console line, and the whole '
        'log equals the serial console\'s limbo: lines', devices='fabric'),
    'overlap-fabric': Scenario(
        'overlap-fabric', 'guest-limbo.img', 'limbo', True,
        'issue 19: --pcie-order=overlap on the issue 3 topology: both '
        'endpoints\' ports put in reset before the image is verified, the '
        'verification during their settle time, then restored; verify:ok, '
        'the capture kernel reads the disk through the NVMe',
        devices='fabric'),
    'overlapdamage-fabric': Scenario(
        'overlapdamage-fabric', 'guest-limbo.img', 'limbo', False,
        'issue 19: --pcie-order=overlap with --test-damage-segment=initrd:0x1000 '
        '(test-only) on the issue 3 topology: both ports reset before the '
        'verdict; the purgatory names the initrd, says the ports were reset '
        'and not restored, and halts', devices='fabric'),
    'readymin-fabric': Scenario(
        'readymin-fabric', 'guest-limbo.img', 'limbo', True,
        'issue 6: --pcie-ready-timeout-ms=1 (the minimum) on the issue 3 '
        'topology still boots the capture kernel', devices='fabric'),
}

# Issue 16: the distribution matrix. Each Debian release's own kernel,
# modules, kexec-tools and libraries (qemu/kdump/build-rootfs --suite), with
# Limbo built here, on the issue 3 topology; the stock control runs the same
# release's kexec -p -c (kexec_load and kexec-tools' purgatory: the one a
# console can be asked of; limbo-kexec loads through kexec_load too).
kSuites = {
    'bookworm': 'Debian 12',
    'trixie': 'Debian 13',
    'sid': 'Debian unstable',
}
for _suite, _release in kSuites.items():
  kScenarios[f'stock-fabric-{_suite}'] = Scenario(
      f'stock-fabric-{_suite}', 'guest-stock.img', 'stock', True,
      f'issue 16 matrix, {_release} ({_suite}): its kernel and its kexec -p -c '
      'on the issue 3 topology: the capture kernel finds the NVMe and the '
      'e1000e as the crashed kernel left them', devices='fabric', suite=_suite)
  if _suite != 'bookworm':
    kScenarios[f'kfile-fabric-{_suite}'] = Scenario(
        f'kfile-fabric-{_suite}', 'guest-stock.img', 'kernel', True,
        f'issue 16 matrix, {_release} ({_suite}): a plain kexec -p, which '
        'from kexec-tools 2.0.27 on is kexec_file_load and the kernel\'s own '
        'purgatory: what that release gives without Limbo by default',
        devices='fabric', suite=_suite)
  kScenarios[f'limbo-fabric-{_suite}'] = Scenario(
      f'limbo-fabric-{_suite}', 'guest-limbo.img', 'limbo', True,
      f'issue 16 matrix, {_release} ({_suite}): limbo-kexec -p through its '
      'kexec-tools and libraries, its kernel: Limbo resets the NVMe and the '
      'e1000e, the capture kernel boots with verify:ok and reads the disk',
      devices='fabric', suite=_suite)

kDamageScenarios = {'damage': 'initrd', 'reboot': 'kernel', 'overlapdamage-fabric': 'initrd'}

# Limits. A normal run takes 10-20 s under TCG; the machine is shared, so the
# overall limit leaves a wide margin. After the purgatory's halting line the
# guest hangs by design: that much silence ends the run as expected.
kOverallTimeoutS = 150.0
kSilenceAfterHaltS = 12.0
# After the panic the console is never quiet this long on a good run (the
# longest gap seen, purgatory to capture kernel, is about 6 s): a hang there
# (a purgatory spinning, a capture kernel stuck) fails without waiting for
# the overall limit.
kSilenceAfterPanicS = 45.0


@dataclasses.dataclass
class Line:
  t: float      # host time.monotonic() when its first printable byte arrived
  text: str

  @property
  def message(self):
    """The text without a printk time prefix."""
    return kPrintkPrefix.sub('', self.text, count=1)


@dataclasses.dataclass
class Run:
  scenario: Scenario
  lines: list
  t_start: float
  t_end: float
  exit_code: int | None        # QEMU's, None when the harness killed it
  end_reason: str              # 'exited', 'silent-after-halt',
                               # 'silent-after-panic', 'timeout'
  log_path: str
  command: list
  monitor_sent: list = dataclasses.field(default_factory=list)  # (t, prefix, command)


def build_dir_arg(build):
  """BUILD as the Makefile names it: relative to the repository when inside."""
  build = os.path.abspath(build)
  rel = os.path.relpath(build, kRepo)
  return build if rel.startswith('..') else rel


def ensure_image(build, scenario, out=sys.stdout):
  """Builds (or finds up to date) the kernel and image the scenario boots."""
  b = build_dir_arg(build)
  d = scenario.qemu_dir
  targets = [f'{b}/qemu/{d}vmlinuz', f'{b}/qemu/{d}{scenario.image}']
  if scenario.devices in ('fabric', 'flat'):
    targets.append(f'{b}/qemu/{kFabricDisk}')
  cmd = ['make', '--no-print-directory', '-C', kRepo, f'BUILD={b}'] + targets
  print(f'harness: make {" ".join(cmd[4:])}', file=out, flush=True)
  result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
  if result.stdout.strip():
    for text in result.stdout.rstrip().splitlines()[-30:]:
      print(f'harness: | {text}', file=out)
  if result.returncode != 0:
    return None
  return [os.path.join(kRepo, t) for t in targets]


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
  (0x57000 with issue 15's 16 KiB log node), and none once guest-init's
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


# Terminal control sequences (SeaBIOS clears the screen; OVMF sets modes with
# "ESC [=3h") and other controls: a CSI is ESC [, parameter bytes 0x30-0x3f,
# intermediate bytes 0x20-0x2f, one final byte 0x40-0x7e (ECMA-48 §5.4).
kAnsiEscape = re.compile(r'\x1b(?:\[[0-?]*[ -/]*[@-~]|[^\[])')


def _printable(raw):
  text = kAnsiEscape.sub('', raw.decode('utf-8', errors='replace'))
  return ''.join(c for c in text if c == '\t' or c >= ' ')


def boot(scenario, kernel, initrd, log_path, echo=sys.stdout,
         overall_timeout=kOverallTimeoutS, disk=None):
  """Boots QEMU, timestamps each serial line as it arrives, ends the run.

  Echoes every line as "[+seconds] text" to `echo` (None: silent) and the
  same to log_path, which is kept whatever the outcome.
  """
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  monitor = None
  if scenario.monitor_at:
    monitor = os.path.splitext(log_path)[0] + '.monitor'
    if os.path.exists(monitor):
      os.unlink(monitor)
  cmd = qemu_command(kernel, initrd, scenario, disk,
                     firmware_args(scenario, log_path), monitor)
  pending = list(scenario.monitor_at)
  monitor_sent = []
  log = open(log_path, 'w', encoding='utf-8')
  log.write('# ' + ' '.join(cmd) + '\n')
  t_start = time.monotonic()
  proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True)
  fd = proc.stdout.fileno()
  lines = []
  partial = b''
  partial_t = None
  last_output = t_start
  halted_at = None
  panicked = False
  end_reason = None

  def emit(raw, t):
    line = Line(t, _printable(raw))
    lines.append(line)
    out = f'[{t - t_start:8.3f}] {line.text}'
    log.write(out + '\n')
    log.flush()
    if echo is not None:
      print(out, file=echo, flush=True)
    return line

  try:
    while True:
      now = time.monotonic()
      if now - t_start > overall_timeout:
        end_reason = 'timeout'
        break
      if (halted_at is not None and now - last_output > kSilenceAfterHaltS):
        end_reason = 'silent-after-halt'
        break
      if panicked and now - last_output > kSilenceAfterPanicS:
        end_reason = 'silent-after-panic'
        break
      ready, _, _ = select.select([fd], [], [], 0.2)
      if not ready:
        continue
      chunk = os.read(fd, 65536)
      now = time.monotonic()
      if not chunk:
        end_reason = 'exited'
        break
      last_output = now
      for piece in chunk.splitlines(keepends=True):
        # A line starts with its first printable byte: SeaBIOS leaves a
        # screen-clear sequence without a newline before the kernel's output.
        if partial_t is None or not _printable(partial):
          partial_t = now
        partial += piece
        if partial.endswith(b'\n'):
          line = emit(partial.rstrip(b'\r\n'), partial_t)
          partial, partial_t = b'', None
          for trigger in [p for p in pending if line.message.startswith(p[0])]:
            pending.remove(trigger)
            sent_at, reply = send_monitor(monitor, trigger[1])
            monitor_sent.append((sent_at, trigger[0], trigger[1]))
            log.write(f'# monitor: sent {trigger[1]!r} at [{sent_at - t_start:8.3f}], '
                      f'{(sent_at - line.t) * 1000:.1f} ms after the line {trigger[0]!r}; '
                      f'reply {reply[-300:]!r}\n')
          if line.message.startswith('limbo: halting'):
            halted_at = line.t
          if any(m in line.text for m in kPanicMarkers):
            panicked = True
  finally:
    if partial:
      emit(partial, partial_t)
    if end_reason != 'exited':
      # QEMU runs in its own session: end exactly that process group.
      try:
        os.killpg(proc.pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
    try:
      exit_code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
      exit_code = None
    proc.stdout.close()
    t_end = time.monotonic()
    if end_reason != 'exited':
      exit_code = None
    log.write(f'# end: {end_reason}, exit code {exit_code}, '
              f'{t_end - t_start:.3f} s\n')
    log.close()
  return Run(scenario, lines, t_start, t_end, exit_code, end_reason,
             log_path, cmd, monitor_sent)


def send_monitor(path, command):
  """Sends one HMP command to QEMU's monitor socket; returns the host time it
  was written and what the monitor answered (the socket is QEMU's from its
  start: a few tries cover a monitor that is not listening yet)."""
  import socket
  for _ in range(50):
    try:
      with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.settimeout(2.0)
        reply = b''
        while b'(qemu)' not in reply:  # the banner, then the first prompt
          chunk = sock.recv(4096)
          if not chunk:
            break
          reply += chunk
        sock.sendall(command.encode() + b'\r\n')
        sent = time.monotonic()
        reply = b''
        try:
          while reply.count(b'(qemu)') < 1:  # the command's output, then the next prompt
            chunk = sock.recv(4096)
            if not chunk:
              break
            reply += chunk
        except OSError:
          pass
        return sent, _printable(reply).replace('(qemu)', '').strip()
    except OSError:
      time.sleep(0.02)
  return time.monotonic(), 'no monitor connection'


# ---- Reading a run ------------------------------------------------------

def first_index(lines, predicate, start=0):
  for i in range(start, len(lines)):
    if predicate(lines[i]):
      return i
  return None


@dataclasses.dataclass
class Milestones:
  """Indices into Run.lines of what the judgement and the timings use."""
  panic: int | None
  purgatory_first: int | None   # Limbo's first line or the stock banner
  purgatory_last: int | None
  capture_kernel: int | None    # "Linux version" after the panic
  capture_init: int | None      # first "CAPTURE: " line
  limbo_lines: list             # indices of "limbo:" lines after the panic


def milestones(run):
  lines = run.lines
  panic = first_index(lines, lambda l: any(m in l.text for m in kPanicMarkers))
  after = (panic + 1) if panic is not None else len(lines)
  limbo = [i for i in range(after, len(lines))
           if lines[i].message.startswith(kLimboPrefix)]
  stock = [i for i in range(after, len(lines))
           if lines[i].message.startswith(kStockPurgatoryLine)]
  purgatory = sorted(limbo + stock)
  capture_kernel = first_index(lines, lambda l: kKernelBanner in l.text, after)
  capture_init = first_index(lines, lambda l: l.text.startswith('CAPTURE: '),
                             after)
  return Milestones(panic, purgatory[0] if purgatory else None,
                    purgatory[-1] if purgatory else None, capture_kernel,
                    capture_init, limbo)


def parse_limbo_report(text):
  """`limbo=v2,verify:ok,reset:0,...` -> ('v2', {'verify': 'ok', ...})."""
  m = kLimboReport.search(text)
  if not m:
    return None
  words = m.group(1).split(',')
  fields = {}
  for word in words[1:]:
    key, _, value = word.partition(':')
    fields[key] = value
  return words[0], fields


def capture_cmdline(run):
  for line in run.lines:
    if line.text.startswith('CAPTURE: cmdline '):
      return line.text[len('CAPTURE: cmdline '):]
  return None


def timings(run, ms):
  """Host-measured seconds between milestones; None where one is missing."""
  def at(i):
    return None if i is None else run.lines[i].t

  def delta(a, b):
    return None if a is None or b is None else b - a

  t_panic = at(ms.panic)
  return {
      'panic_to_purgatory': delta(t_panic, at(ms.purgatory_first)),
      # First to last purgatory line: Limbo's time up to its jump. The stock
      # purgatory prints one line only, so it has no span (None).
      'purgatory_span': (delta(at(ms.purgatory_first), at(ms.purgatory_last))
                         if ms.purgatory_first != ms.purgatory_last else None),
      'purgatory_to_capture_kernel': delta(at(ms.purgatory_first),
                                           at(ms.capture_kernel)),
      'panic_to_capture_kernel': delta(t_panic, at(ms.capture_kernel)),
      'panic_to_capture_init': delta(t_panic, at(ms.capture_init)),
      'boot_to_panic': delta(run.t_start, t_panic),
      'total': run.t_end - run.t_start,
  }


def fmt_s(value):
  return '   n/a' if value is None else f'{value:6.3f}'


# ---- Judging a run ------------------------------------------------------

def judge(run):
  """Returns the list of failed assertions (empty: PASS)."""
  sc = run.scenario
  if sc.name == 'lockdown':
    return judge_lockdown(run)
  lines = run.lines
  ms = milestones(run)
  texts = [l.text for l in lines]
  messages = [l.message for l in lines]
  errors = []

  def has(pred):
    return any(pred(t) for t in texts)

  load = [t for t in texts if t.startswith('GUEST: load rc=')]
  if not load:
    errors.append('the guest never reported its load (no "GUEST: load rc=")')
  elif load[0] != 'GUEST: load rc=0 kexec_crash_loaded=1':
    output = [t for t in texts if t.startswith('GUEST: | ')]
    errors.append(f'load failed: "{load[0]}"; its output: ' +
                  (' / '.join(o[9:] for o in output[-8:]) or '(none)'))
  if ms.panic is None:
    errors.append('no panic on the console (sysrq-c line missing)')

  limbo_msgs = [messages[i] for i in ms.limbo_lines]
  stock_seen = any(m.startswith(kStockPurgatoryLine)
                   for m in messages[(ms.panic or 0):])

  if sc.purgatory == 'kernel':
    # kexec_file_load: the kernel's purgatory prints nothing.
    if stock_seen:
      errors.append('kexec-tools\' purgatory ran: the load was not kexec_file_load')
    if limbo_msgs:
      errors.append(f'"limbo:" lines in a kexec_file_load run: {limbo_msgs[0]!r}')
  elif sc.purgatory == 'stock':
    if not stock_seen:
      errors.append(f'the stock purgatory\'s "{kStockPurgatoryLine}" is missing')
    if limbo_msgs:
      errors.append(f'"limbo:" lines in a stock run: {limbo_msgs[0]!r}')
  else:
    if stock_seen:
      errors.append('the stock purgatory ran instead of Limbo\'s')
    if not limbo_msgs:
      errors.append('no "limbo:" line after the panic')
    elif not any(m.startswith('limbo: Limbo purgatory') for m in limbo_msgs):
      errors.append('Limbo\'s banner ("limbo: Limbo purgatory ...") is missing')

  if sc.captures:
    if sc.purgatory == 'limbo':
      if not any(m.startswith('limbo: sha256: ok') for m in limbo_msgs):
        errors.append('no "limbo: sha256: ok" line')
      if any('MISMATCH' in m for m in limbo_msgs):
        errors.append('Limbo reported a digest mismatch')
      if not any(m.startswith('limbo: report "') for m in limbo_msgs):
        errors.append('no "limbo: report" line')
      if not any(m.startswith('limbo: jumping to 0x') for m in limbo_msgs):
        errors.append('no "limbo: jumping to 0x..." line')
      # Issue 9: QEMU's TCG has no SHA extensions, so the portable engine
      # runs; the plugin's per-segment checks turn the fill into a scan.
      if 'limbo: sha256: portable' not in limbo_msgs:
        errors.append('no "limbo: sha256: portable" line (TCG has no SHA-NI)')
      if not any(m.startswith('limbo: sha256: ok (') and 'zero fill scanned' in m
                 for m in limbo_msgs):
        errors.append('the per-segment check did not run (no "zero fill '
                      'scanned" in the sha256: ok line)')
      if not any(m.startswith('limbo: times: verify ') for m in limbo_msgs):
        errors.append('no "limbo: times: verify ..." line')
    if ms.capture_kernel is None:
      errors.append('the capture kernel did not boot (no "Linux version" '
                    'after the panic)')
    if not has(lambda t: t.startswith('CAPTURE: vmcore ELF64 ok')):
      bad = [t for t in texts if t.startswith('CAPTURE: vmcore')]
      errors.append('/proc/vmcore is not an ELF64 core: ' +
                    (bad[0] if bad else 'no "CAPTURE: vmcore" line'))
    cmdline = capture_cmdline(run)
    if cmdline is None:
      errors.append('the capture init did not print its command line')
    else:
      report = parse_limbo_report(cmdline)
      if sc.purgatory == 'limbo':
        if report is None:
          errors.append(f'no limbo= report on the capture cmdline: {cmdline!r}')
        else:
          version, fields = report
          if version != 'v3':
            errors.append(f'limbo= report version {version!r}, expected v3')
          if fields.get('verify') != 'ok':
            errors.append(f'limbo= report verify:{fields.get("verify")}, '
                          'expected verify:ok')
        # What the purgatory says it appended is what the kernel received.
        printed = [m for m in limbo_msgs if m.startswith('limbo: report "')]
        if printed:
          appended = printed[0][len('limbo: report "'):].rstrip('"').strip()
          if appended not in cmdline:
            errors.append(f'the purgatory reported appending {appended!r} but '
                          f'the capture cmdline is {cmdline!r}')
      elif report is not None:
        errors.append(f'a limbo= report in a stock run: {cmdline!r}')
    if run.end_reason != 'exited' or run.exit_code != 0:
      errors.append(f'the VM did not power off by itself (end: '
                    f'{run.end_reason}, QEMU exit code {run.exit_code})')
    elif not has(lambda t: t.startswith('CAPTURE: powering off')):
      errors.append('QEMU exited without the capture init powering off')
  elif sc.name in kDamageScenarios:
    errors += judge_damage(run, limbo_msgs, ms)
  elif sc.name in ('fault-verify', 'fault-verify-halt'):
    errors += judge_fault_verify(run, texts, limbo_msgs, ms)
  elif sc.name == 'fault-handler':
    errors += judge_fault_handler(run, limbo_msgs, ms)
  elif sc.name == 'tight':
    errors += judge_tight(run, texts, limbo_msgs, ms)
  elif sc.name in ('stock-nmi', 'stock-mce'):
    errors += judge_stock_nmi(run, ms)
  elif sc.name == 'tightstock':
    errors += judge_tightstock(run, texts, ms)
  else:
    for needed in ('limbo: sha256: MISMATCH', 'limbo: computed',
                   'limbo: expected', 'limbo: halting'):
      if not any(m.startswith(needed) for m in limbo_msgs):
        errors.append(f'no "{needed}" line')
    if any(m.startswith('limbo: jumping') for m in limbo_msgs):
      errors.append('Limbo jumped to the capture kernel despite the mismatch')
    if ms.capture_kernel is not None:
      errors.append('a capture kernel booted despite the corrupt digest')
    if ms.capture_init is not None:
      errors.append('the capture init ran despite the corrupt digest')
    if run.end_reason != 'silent-after-halt':
      errors.append(f'the run did not end halted and silent (end: '
                    f'{run.end_reason}, QEMU exit code {run.exit_code})')
  if sc.name in kNmiWindows:
    errors += judge_limbo_nmi(run, limbo_msgs)
  if sc.name == 'fault':
    errors += judge_fault_pcie(run, texts, limbo_msgs)
  if sc.name == 'limbo-mce':
    errors += judge_limbo_mce(run, limbo_msgs)
  if sc.name == 'safety':
    errors += judge_safety(run, texts)
  if sc.name == 'tight':
    errors += judge_safety(run, texts, kTightBadLoads, loop=False)
  if sc.name == 'fallback':
    errors += judge_fallback(run, texts)
  if sc.name == 'readymin-fabric' and not any(
      t.startswith('GUEST: | limbo: pcie: mode reset, settle ') and t.endswith(', ready timeout 1 ms')
      for t in texts):
    errors.append('the plugin did not report "ready timeout 1 ms": the minimum was not used')
  if sc.name.startswith('record'):
    errors += judge_record(run, texts, limbo_msgs)
  if sc.name == 'overlap-fabric':
    errors += judge_overlap(texts, [messages[i] for i in ms.limbo_lines])
  if sc.name == 'overlapdamage-fabric':
    errors += judge_overlap_damage([messages[i] for i in ms.limbo_lines])
  if sc.devices in ('nvme', 'fabric') and sc.name != 'overlapdamage-fabric':
    errors += judge_nvme(run, texts)
  if sc.devices == 'fabric' and sc.name != 'overlapdamage-fabric':
    errors += judge_fabric(run, texts, [messages[i] for i in ms.limbo_lines])
  if sc.devices == 'flat':
    errors += judge_flat(run, texts, [messages[i] for i in ms.limbo_lines])
  # The OVMF scenarios must really have run the first kernel on UEFI (a
  # missing pflash would fall back to SeaBIOS and pass unnoticed).
  if sc.firmware == 'ovmf' and 'GUEST: firmware uefi' not in texts:
    seen = [t for t in texts if t.startswith('GUEST: firmware')]
    errors.append('the first kernel did not run on UEFI: ' +
                  (seen[0] if seen else 'no "GUEST: firmware" line'))
  if sc.cpus > 1:
    wanted = f'GUEST: cpus online 0-{sc.cpus - 1}'
    if wanted not in texts:
      seen = [t for t in texts if t.startswith('GUEST: cpus online')]
      errors.append(f'the first kernel did not run {sc.cpus} CPUs: ' +
                    (seen[0] if seen else 'no "GUEST: cpus online" line'))
  if run.end_reason == 'silent-after-panic' and sc.name not in ('tight', 'tightstock'):
    errors.append(f'no console output for {kSilenceAfterPanicS:.0f} s after '
                  'the panic: hung; QEMU killed, log kept')
  if run.end_reason == 'timeout':
    errors.append(f'overall timeout ({run.t_end - run.t_start:.0f} s): the '
                  'guest hung; QEMU killed, log kept')
  return errors


# Issue 6, safety: each bad load the guest tries, a pattern its one line
# must match (the plugin's or limbo-kexec's cause) and how many of Limbo's
# lines it must print: one, or none where kexec-tools itself refuses the
# file before any kexec_load (a non-kernel ELF: "Invalid memory segment"
# for -p, "Base address ... is not page aligned" for -l).
kSafetyBadLoads = {
    'missing': (r'^limbo-kexec: purgatory \S*missing\.ro: No such file', 1),
    'truncated': (r'^limbo: error: /tmp/truncated\.ro: truncated: ', 1),
    'bad-relocation': (r'^limbo: error: \S*bad-reloc\.ro: .*unsupported relocation type 9 \(R_X86_64_GOTPCREL\)$', 1),
    'missing-symbol': (r'^limbo: error: \S*no-symbol\.ro: symbol sha256_digest not found$', 1),
    'pcie-exclude': (r'^limbo-kexec: --pcie-exclude=0000:00:zz\.0: .*bad device', 1),
    'non-kernel-elf': (r'^(Invalid memory segment|Base address: .* is not page aligned|Cannot determine the file type)', 0),
    'untrusted': (r'^limbo: error: Limbo purgatory /tmp/writable\.ro: refused: mode 0666 is writable by group and others', 1),
    'untrusted-directory': (r'^limbo: error: Limbo purgatory /tmp/open/purgatory\.ro: directory /tmp/open: refused: '
                            r'mode 0777 lets group and others replace the file', 1),
}
kTightBadLoads = {
    'reservation': (r'^limbo: error: no room: no free 0x[0-9a-f]+-byte hole aligned to 0x1000 in the '
                    r'crash kernel reservation for Limbo\'s purgatory \(it does not fit the '
                    r'0x9000-byte stock slot\)$', 1),
}
kLoopLine = re.compile(r'^GUEST: loop: (?P<loops>\d+) loads and unloads \((?P<checked>\d+) with checks\), '
                       r'(?P<failed>\d+) failed, (?P<open>\d+) left a descriptor open, '
                       r'(?P<t0>[\d.]+) s -> (?P<t1>[\d.]+) s, after load (?P<warmup>\d+) -> after load \d+: MemAvailable (?P<mem0>\d+) kB -> (?P<mem1>\d+) kB, '
                       r'Slab (?P<slab0>\d+) kB -> (?P<slab1>\d+) kB$')
# The kernel memory the loop may cost between its baseline (after its first
# 10 loads) and its end: each load's segments live in the crash reservation,
# not in MemAvailable, and an unload frees the kimage. MemAvailable moves by
# about 2 MiB without any leak (boot-time memory still being given back,
# pages parked on the per-CPU free lists): measured 602500 kB after load 10
# and 600404 kB after load 300 (Slab 15128 -> 15132 kB), where another run
# read 600536 kB flat from load 10 to load 40. The budget is twice that: a
# leak of a load's pages (tens of MiB), or of more than 14 KiB per load over
# 290 loads, fails the scenario.
kLoopMemoryBudgetKb = 4096
kBadLine = re.compile(r'^GUEST: bad (\S+) rc=(\d+) loaded=(\d+) lines=(\d+): (.*)$')


def judge_safety(run, texts, bad_loads=None, loop=True, first_capture=True):
  errors = []
  bad_loads = kSafetyBadLoads if bad_loads is None else bad_loads
  loops = [kLoopLine.match(t) for t in texts if t.startswith('GUEST: loop: ')]
  if not loop:
    pass
  elif not loops or not loops[0]:
    errors.append('no "GUEST: loop: N loads and unloads" line')
  else:
    m = loops[0]
    wanted = re.search(r'limbo\.loops=(\d+)', run.scenario.guest_args)
    if wanted and int(m['loops']) != int(wanted.group(1)):
      errors.append(f'the loop ran {m["loops"]} loads, not the {wanted.group(1)} asked for')
    if int(m['failed']) != 0:
      errors.append(f'{m["failed"]} of the loop\'s loads or unloads failed')
    if int(m['checked']) < 2:
      errors.append(f'only {m["checked"]} of the loop\'s loads ran with checks')
    if int(m['open']) != 0:
      errors.append(f'the plugin left a file descriptor open in {m["open"]} of the loop\'s loads')
    lost = int(m['mem0']) - int(m['mem1'])
    if lost > kLoopMemoryBudgetKb:
      errors.append(f'the loop cost the kernel {lost} kB of MemAvailable (budget {kLoopMemoryBudgetKb} kB): '
                    f'{m["mem0"]} -> {m["mem1"]} kB, Slab {m["slab0"]} -> {m["slab1"]} kB')
  seen = {}
  for t in texts:
    m = kBadLine.match(t)
    if m:
      seen[m.group(1)] = m
  for name, (pattern, limbo_lines) in bad_loads.items():
    m = seen.get(name)
    if m is None:
      errors.append(f'bad load {name}: no "GUEST: bad {name}" line')
      continue
    if m.group(2) == '0':
      errors.append(f'bad load {name} succeeded (rc=0)')
    if m.group(3) != '1':
      errors.append(f'bad load {name} left kexec_crash_loaded={m.group(3)}')
    if int(m.group(4)) != limbo_lines:
      errors.append(f'bad load {name}: {m.group(4)} lines from Limbo, expected {limbo_lines}')
    if not re.search(pattern, m.group(5)):
      errors.append(f'bad load {name}: its line does not match /{pattern}/: {m.group(5)!r}')
  cmdline = capture_cmdline(run)
  if first_capture and cmdline is not None and ('limbo.first=1' not in cmdline or 'limbo.second' in cmdline):
    errors.append(f'the capture kernel is not the first one loaded: {cmdline!r}')
  return errors


kExceptionLine = re.compile(r'^limbo: EXCEPTION vector (\d+) \(#(\w+)\) error 0x[0-9a-f]+ '
                            r'rip 0x([0-9a-f]+) cr2 0x[0-9a-f]+ rsp 0x[0-9a-f]+$')
kLoadedLine = re.compile(r'limbo: loaded Limbo purgatory \((\d+) bytes at 0x([0-9a-f]+),')


kNmiLine = re.compile(r'^limbo: NMI at rip 0x[0-9a-f]+ rsp 0x[0-9a-f]+: not a fault of the purgatory; returning to it')
kNmiTally = re.compile(r'^limbo: nmi: (\d+) received in the purgatory, each returned from \(the first at rip 0x[0-9a-f]+')


# Where each NMI scenario's NMI must land: between these two console lines.
kNmiWindows = {
    'limbo-nmi': ('limbo: sha256: portable', 'limbo: sha256: ok', 'while Limbo hashed'),
    'limbo-nmi-fabric': ('limbo: pcie: delays on', 'limbo: pcie reset ', 'during the PCIe phase'),
}


def judge_limbo_nmi(run, limbo_msgs):
  """Issue 20: the NMI reached Limbo in its window (the hash, or the PCIe
  phase with its settle time), was returned from, and was counted before the
  report (the generic judge has checked verify:ok, the jump and the capture
  kernel; judge_fabric, that every endpoint was reset and restored)."""
  errors = []
  first, last, what = kNmiWindows[run.scenario.name]
  if not run.monitor_sent:
    return [f'the harness never sent the NMI (no "{first}" line)']
  def index(pred):
    return next((i for i, m in enumerate(limbo_msgs) if pred(m)), None)
  start = index(lambda m: m.startswith(first))
  nmi = index(lambda m: kNmiLine.match(m) is not None)
  done = index(lambda m: m.startswith(last))
  tally = index(lambda m: kNmiTally.match(m) is not None)
  report = index(lambda m: m.startswith('limbo: report "'))
  if nmi is None:
    errors.append('Limbo did not print the NMI ("limbo: NMI at rip ...")')
  elif start is None or done is None or not start < nmi < done:
    errors.append(f'the NMI did not arrive {what} (its line is not between '
                  f'"{first}" and "{last}"): the scenario proved nothing')
  if tally is None:
    errors.append('no "limbo: nmi: N received ..." tally before the report')
  else:
    count = int(kNmiTally.match(limbo_msgs[tally]).group(1))
    sent = sum(1 for _, _, command in run.monitor_sent if command == 'nmi')
    if count != sent:
      errors.append(f'Limbo counted {count} NMIs, the harness sent {sent}')
    if report is not None and tally > report:
      errors.append('the NMI tally came after the report')
  if any(m.startswith('limbo: EXCEPTION') or m.startswith('limbo: halting') for m in limbo_msgs):
    errors.append('Limbo treated the NMI as a fault')
  return errors


def judge_stock_nmi(run, ms):
  """Issue 20 control: what the stock purgatory does with an NMI, as
  measured: no IDT, so the NMI triple faults and the machine resets."""
  errors = []
  if not run.monitor_sent:
    errors.append('the harness never sent the NMI (no stock purgatory line)')
  if ms.capture_kernel is not None:
    errors.append('a capture kernel booted: the NMI did not stop the stock purgatory')
  if run.end_reason != 'exited':
    errors.append(f'QEMU did not exit (a reset under -no-reboot) after the NMI: end {run.end_reason}')
  return errors


def judge_tight(run, texts, limbo_msgs, ms):
  """The first capture kernel is the one started: verified, jumped to, its
  banner and command line (limbo.first=1, the limbo= report) on the console."""
  errors = []
  if 'GUEST: status after-none rc=0: loaded through Limbo' not in texts:
    errors.append('--status after the refused load (fallback none) does not say "loaded through Limbo" (exit 0)')
  for needed in ('limbo: sha256: ok', 'limbo: jumping to 0x'):
    if not any(m.startswith(needed) for m in limbo_msgs):
      errors.append(f'no "{needed}" line')
  if ms.capture_kernel is None:
    errors.append('the capture kernel did not start (no "Linux version" after the panic)')
  after = [l.message for l in run.lines[(ms.panic or 0):]]
  cmdlines = [m for m in after if m.startswith('Command line: ')]
  if not cmdlines:
    errors.append('no capture kernel "Command line:" line')
  elif 'limbo.first=1' not in cmdlines[0] or 'limbo.second' in cmdlines[0] \
      or 'limbo=v3,verify:ok' not in cmdlines[0]:
    errors.append(f'the capture kernel is not the first one loaded, verified: {cmdlines[0]!r}')
  if run.end_reason == 'timeout':
    errors.append('overall timeout')
  return errors


# Issue 13: the refusal both fallback runs start from, as the plugin words it.
kUntrustedCause = (r'Limbo purgatory /tmp/writable\.ro: refused: mode 0666 is writable by group and others')


def judge_fallback(run, texts):
  """fallback none keeps the first crash kernel (and --status says Limbo);
  the kdump-tools path with fallback stock loads kexec-tools' own segments,
  says so in one line, --status says stock after a refusal, and the capture
  kernel that boots is that third load (the stock purgatory ran: judge())."""
  errors = []
  def need(pattern, what):
    if not any(re.search(pattern, t) for t in texts):
      errors.append(f'{what}: no line matching /{pattern}/')
  need(r'^GUEST: status first rc=0: loaded through Limbo$', '--status after the load through Limbo')
  errors += judge_safety(run, texts, {'untrusted-none': (r'^limbo: error: ' + kUntrustedCause, 1)}, loop=False,
                         first_capture=False)
  need(r'^GUEST: status after-none rc=0: loaded through Limbo$', '--status after the refusal with fallback none')
  need(r'^GUEST: kdump-tools path: LD_PRELOAD=/usr/lib/limbo/liblimbo-kexec\.so LIMBO_FALLBACK=stock '
       r'KDUMP_KEXEC_ARGS=-c ', 'the snippet\'s preload, fallback and -c')
  need(r'^GUEST: kdump-tools load rc=0 kexec_crash_loaded=1$', 'the kdump-tools path\'s load')
  kdump_limbo = [t for t in texts if t.startswith('GUEST: kdump | limbo')]
  wanted = (r'^GUEST: kdump \| limbo: FALLBACK: Limbo NOT loaded \(' + kUntrustedCause +
            r'.*\); kexec-tools\' own load goes to the kernel unchanged \(stock purgatory\)$')
  if len(kdump_limbo) != 1 or not re.search(wanted, kdump_limbo[0]):
    errors.append(f'the kdump-tools load must print one FALLBACK line, printed: {kdump_limbo!r}')
  need(r'^GUEST: status after-stock rc=6: loaded stock, after a refusal: ' + kUntrustedCause,
       '--status after the stock fallback')
  cmdline = capture_cmdline(run)
  if cmdline is not None and 'limbo.third=1' not in cmdline:
    errors.append(f'the capture kernel is not the stock fallback\'s load (limbo.third=1): {cmdline!r}')
  return errors


def judge_tightstock(run, texts, ms):
  """The load Limbo has no room for goes in stock (--fallback=stock), and the
  capture kernel the stock purgatory starts is that one (limbo.second=1)."""
  errors = []
  def need(pattern, what):
    if not any(re.search(pattern, t) for t in texts):
      errors.append(f'{what}: no line matching /{pattern}/')
  need(r'^GUEST: status first rc=0: loaded through Limbo$', '--status after the load through Limbo')
  need(r'^GUEST: fallback load rc=6 kexec_crash_loaded=1$', 'the fallback load (limbo-kexec exit 6)')
  no_room = (r'no room: no free 0x[0-9a-f]+-byte hole aligned to 0x1000 in the crash kernel reservation for '
             r'Limbo\'s purgatory \(it does not fit the 0x9000-byte stock slot\)')
  plugin_lines = [t for t in texts if t.startswith('GUEST: fallback | limbo: ')]
  if len(plugin_lines) != 1 or not re.search(r'^GUEST: fallback \| limbo: FALLBACK: Limbo NOT loaded \(' + no_room +
                                                r'\); kexec-tools\' own load goes to the kernel unchanged', plugin_lines[0]):
    errors.append(f'the fallback load must print one FALLBACK line (no room): {plugin_lines!r}')
  need(r'^GUEST: fallback \| limbo-kexec: loaded STOCK \(kexec-tools\' own purgatory\), not Limbo: ' + no_room,
       'limbo-kexec\'s closing line')
  need(r'^GUEST: status after-stock rc=6: loaded stock, after a refusal: ' + no_room, '--status after the fallback')
  if ms.capture_kernel is None:
    errors.append('the capture kernel did not start (no "Linux version" after the panic)')
  after = [l.message for l in run.lines[(ms.panic or 0):]]
  cmdlines = [m for m in after if m.startswith('Command line: ')]
  if not cmdlines:
    errors.append('no capture kernel "Command line:" line')
  elif 'limbo.second=1' not in cmdlines[0] or 'limbo=' in cmdlines[0]:
    errors.append(f'the capture kernel is not the stock fallback\'s load: {cmdlines[0]!r}')
  if run.end_reason == 'timeout':
    errors.append('overall timeout')
  return errors


def judge_lockdown(run):
  """lockdown=integrity: measured in the guest; the snippet leaves
  kdump-tools exactly stock and says why once; limbo-kexec refuses (exit 5)
  before kexec runs; nothing was loaded through Limbo."""
  texts = [l.text for l in run.lines]
  errors = []
  def need(pattern, what):
    if not any(re.search(pattern, t) for t in texts):
      errors.append(f'{what}: no line matching /{pattern}/')
  need(r'^GUEST: lockdown: none \[integrity\] confidentiality$',
       'the kernel did not honour lockdown=integrity')
  need(r'^GUEST: lockdown: snippet left kdump-tools stock: identical$', 'kdump-config\'s command with the snippet')
  said = [t for t in texts if t.startswith('GUEST: lockdown: snippet said: ')]
  wanted = ('GUEST: lockdown: snippet said: limbo: kdump-tools left stock, Limbo not used: this kernel refuses '
            'kexec_load (kernel lockdown is \'integrity\' (/sys/kernel/security/lockdown))')
  if [t for t in said if not t.startswith('GUEST: lockdown: snippet said: logger')] != [wanted]:
    errors.append(f'the snippet must say why once: {said!r}')
  need(r'^GUEST: lockdown: limbo-kexec rc=5 kexec_crash_loaded=0$', 'limbo-kexec\'s up-front refusal (exit 5)')
  need(r"^GUEST: lockdown: \| limbo-kexec: refused: this kernel refuses kexec_load \(kernel lockdown is 'integrity' "
       r"\(/sys/kernel/security/lockdown\)\); .*Use the stock command instead \(kexec_file_load, the kernel's own "
       r"purgatory; under lockdown the kernel must verify its signature\): /\S*kexec -s -p /boot/vmlinuz "
       r"--initrd=/boot/capture\.img ",
       'limbo-kexec\'s line naming the stock command')
  if any(t.startswith('GUEST: lockdown: | limbo: ') for t in texts):
    errors.append('the plugin ran: limbo-kexec did not refuse before kexec')
  need(r'^GUEST: lockdown: stock kexec -p rc=\d+ ', 'the stock command\'s outcome')
  need(r'^GUEST: lockdown: done$', 'the guest did not finish')
  if run.end_reason != 'exited':
    errors.append(f'the VM did not power off (end: {run.end_reason})')
  return errors


def judge_exception_in_limbo(texts, limbo_msgs, site):
  """The TEST-ONLY build's ud2 at `site`: announced, then #UD at a RIP inside
  Limbo's loaded segment."""
  errors = []
  if f'limbo: TEST-ONLY fault build: ud2 in the {site} phase' not in limbo_msgs:
    errors.append(f'no "limbo: TEST-ONLY fault build: ud2 in the {site} phase" line')
  exc = [kExceptionLine.match(m) for m in limbo_msgs if m.startswith('limbo: EXCEPTION')]
  if not exc or not exc[0]:
    errors.append('no "limbo: EXCEPTION vector N (#..) ... rip 0x..." line')
    return errors
  if len(exc) != 1:
    errors.append(f'{len(exc)} exception lines, expected 1')
  if exc[0].group(1) != '6' or exc[0].group(2) != 'UD':
    errors.append(f'exception vector {exc[0].group(1)} (#{exc[0].group(2)}), expected 6 (#UD)')
  loaded = [kLoadedLine.search(t) for t in texts if kLoadedLine.search(t)]
  if not loaded:
    errors.append('the load did not report where Limbo\'s purgatory went')
  else:
    size, base = int(loaded[0].group(1)), int(loaded[0].group(2), 16)
    rip = int(exc[0].group(3), 16)
    if not base <= rip < base + size:
      errors.append(f'rip {rip:#x} is outside Limbo\'s segment {base:#x}+{size:#x}')
  return errors


kAbandonedLine = re.compile(r'^limbo: pcie: abandoned: cleared Secondary Bus Reset on (\d+) ports?; '
                            r'settle (\d+) ms; endpoints not restored$')


# Issue 20: the scenarios whose PCIe phase a fault abandons, and those where
# the fault's moment (a monitor command a few ms after a console line, under
# TCG) decides whether any port had been asserted: the devices are then found
# reset (ports cleared) or as the first kernel left them (no port asserted:
# as with stock), and only the capture kernel's boot and disk read are judged.
kPcieFaultScenarios = ('fault', 'limbo-mce')
kPcieStateUntimed = ('limbo-mce',)


def judge_pcie_abandoned(run, limbo_msgs):
  """After a fault in the PCIe phase: abandoned, every asserted port
  cleared, no totals, pcie:fault in the report."""
  errors = []
  if 'limbo: fault in the pcie phase: abandoning it; going on to the jump' not in limbo_msgs:
    errors.append('no "limbo: fault in the pcie phase: abandoning it; going on to the jump" line')
  abandoned = [kAbandonedLine.match(m) for m in limbo_msgs]
  abandoned = [m for m in abandoned if m]
  if not abandoned:
    if 'limbo: pcie: abandoned: no port was left in reset' not in limbo_msgs:
      errors.append('no "limbo: pcie: abandoned: ..." line')
  if any(m.startswith('limbo: pcie reset ') for m in limbo_msgs):
    errors.append('the PCIe phase printed its totals: it was not abandoned')
  cmdline = capture_cmdline(run)
  report = parse_limbo_report(cmdline) if cmdline else None
  if report is None or report[1].get('pcie') != 'fault' or 'reset' in report[1]:
    errors.append(f'the report does not say the PCIe phase faulted: {cmdline!r}')
  return errors


kMcgStatusLine = re.compile(r'^limbo: machine check: MCG_STATUS 0x([0-9a-f]+) \(RIPV (\d), EIPV (\d), '
                            r'MCIP (\d)\), (\d+) banks, (\d+) valid$')


def judge_limbo_mce(run, limbo_msgs):
  """Issue 20: the monitor's `mce` (bank 1, VAL|UC|EN, MCG_STATUS RIPV|MCIP)
  in the PCIe phase: #MC, logged, then handled as a fault of that phase."""
  errors = []
  exc = [kExceptionLine.match(m) for m in limbo_msgs if m.startswith('limbo: EXCEPTION')]
  if not exc or not exc[0] or exc[0].group(1) != '18':
    errors.append('no "limbo: EXCEPTION vector 18 (#MC)" line')
  status = [kMcgStatusLine.match(m) for m in limbo_msgs]
  status = [m for m in status if m]
  if not status:
    errors.append('no "limbo: machine check: MCG_STATUS ..." line')
  elif status[0].group(1) != '5' or status[0].group(6) == '0':
    errors.append(f'MCG_STATUS or valid banks not as injected: {status[0].group(0)!r}')
  if not any(m.startswith('limbo: machine check: bank 1 status 0xb000000000000000 (UC 1,') for m in limbo_msgs):
    errors.append('no "limbo: machine check: bank 1 status 0xb000000000000000" line')
  errors += judge_pcie_abandoned(run, limbo_msgs)
  return errors


def judge_fault_pcie(run, texts, limbo_msgs):
  """Issue 20: ud2 in the PCIe phase with the ports in reset, after the image
  verified: the phase abandoned, every asserted port cleared, pcie:fault in
  the report, the jump (the capture kernel's boot, its NVMe reading the
  disk and the devices found reset are judged by the fabric judges)."""
  errors = []
  if not any(m.startswith('limbo: sha256: ok') for m in limbo_msgs):
    errors.append('no "limbo: sha256: ok" line (the fault comes after verification)')
  errors += judge_exception_in_limbo(texts, limbo_msgs, 'pcie')
  if 'limbo: fault in the pcie phase: abandoning it; going on to the jump' not in limbo_msgs:
    errors.append('no "limbo: fault in the pcie phase: abandoning it; going on to the jump" line')
  abandoned = [kAbandonedLine.match(m) for m in limbo_msgs]
  abandoned = [m for m in abandoned if m]
  if not abandoned:
    errors.append('no "limbo: pcie: abandoned: cleared Secondary Bus Reset on N ports" line')
  elif int(abandoned[0].group(1)) < 2:
    errors.append(f'only {abandoned[0].group(1)} port(s) cleared; the fabric resets the NVMe\'s and the e1000e\'s')
  if any(m.startswith('limbo: pcie reset ') for m in limbo_msgs):
    errors.append('the PCIe phase printed its totals: it was not abandoned')
  cmdline = capture_cmdline(run)
  report = parse_limbo_report(cmdline) if cmdline else None
  if report is None or report[1].get('pcie') != 'fault' or 'reset' in report[1]:
    errors.append(f'the report does not say the PCIe phase faulted: {cmdline!r}')
  return errors


kNestedExceptionLine = re.compile(r'^limbo: EXCEPTION vector (\d+) rip 0x[0-9a-f]+ inside the fault handler$')


def judge_fault_handler(run, limbo_msgs, ms):
  """Issue 20: a fault inside the fault handler (the TEST-ONLY build's
  second ud2): one line, then --on-fault=reboot at once, without the reset
  ways (they could fault again): a triple fault, QEMU exits."""
  errors = []
  wanted = ['limbo: TEST-ONLY fault build: ud2 in the verify phase',
            'limbo: rebooting: fault in the verify phase (--on-fault=reboot); not jumping',
            'limbo: TEST-ONLY fault build: ud2 inside the fault handler',
            'limbo: rebooting: fault inside the fault handler (--on-fault=reboot); not jumping']
  at = [limbo_msgs.index(w) if w in limbo_msgs else None for w in wanted]
  for w, i in zip(wanted, at):
    if i is None:
      errors.append(f'no "{w}" line')
  if None not in at and at != sorted(at):
    errors.append('the lines are not in the order: fault, decision, handler fault, decision')
  first = [kExceptionLine.match(m) for m in limbo_msgs]
  if not any(m and m.group(1) == '6' for m in first):
    errors.append('no "limbo: EXCEPTION vector 6 (#UD) ..." line for the first fault')
  nested = [kNestedExceptionLine.match(m) for m in limbo_msgs]
  nested = [m for m in nested if m]
  if len(nested) != 1 or nested[0].group(1) != '6':
    errors.append('not one "limbo: EXCEPTION vector 6 rip 0x... inside the fault handler" line')
  if any(m.startswith('limbo: reboot:') for m in limbo_msgs):
    errors.append('the nested fault ran the reset ways (it must go straight to the triple fault)')
  if ms.capture_kernel is not None:
    errors.append('a capture kernel booted despite the fault')
  if run.end_reason != 'exited' or run.exit_code != 0:
    errors.append(f'QEMU did not see the reset (end: {run.end_reason}, QEMU exit code {run.exit_code})')
  return errors


def judge_fault_verify(run, texts, limbo_msgs, ms):
  """Issue 20: ud2 before the image is verified: the diagnosis, then
  --on-fault: reboot (default; QEMU exits under -no-reboot) or halt."""
  errors = judge_exception_in_limbo(texts, limbo_msgs, 'verify')
  halt = run.scenario.name.endswith('-halt')
  wanted = ('limbo: halting: fault in the verify phase (--on-fault=halt); not jumping' if halt
            else 'limbo: rebooting: fault in the verify phase (--on-fault=reboot); not jumping')
  if wanted not in limbo_msgs:
    errors.append(f'no "{wanted}" line')
  if any(m.startswith('limbo: sha256: ok') for m in limbo_msgs):
    errors.append('verification completed despite the fault')
  if ms.capture_kernel is not None:
    errors.append('a capture kernel booted despite the fault')
  if halt:
    if any(m.startswith('limbo: reboot:') for m in limbo_msgs):
      errors.append('Limbo tried to reboot with --on-fault=halt')
    if run.end_reason != 'silent-after-halt':
      errors.append(f'the run did not end halted and silent (end: {run.end_reason}, '
                    f'QEMU exit code {run.exit_code})')
  else:
    if not any(m.startswith('limbo: reboot: reset control register 0xcf9') or
               m.startswith('limbo: reboot: ACPI reset register') for m in limbo_msgs):
      errors.append('no "limbo: reboot: ..." line (the reset ways)')
    # -no-reboot: the machine's reset is QEMU's exit, code 0.
    if run.end_reason != 'exited' or run.exit_code != 0:
      errors.append(f'QEMU did not see the reset (end: {run.end_reason}, '
                    f'QEMU exit code {run.exit_code})')
  return errors


kDamagedLine = re.compile(r'^limbo: damaged: segment (\d+) \(([^)]*)\) at 0x([0-9a-f]+) '
                          r'size 0x([0-9a-f]+), content 0x([0-9a-f]+) bytes$')


def judge_damage(run, limbo_msgs, ms):
  """Issue 9: one damaged segment, named by role; then halt or reboot."""
  errors = []
  sc = run.scenario
  role = kDamageScenarios[sc.name]
  if 'limbo: sha256: portable' not in limbo_msgs:
    errors.append('no "limbo: sha256: portable" line')
  if not any(re.match(r'^limbo: sha256: MISMATCH in 1 of \d+ segments$', m)
             for m in limbo_msgs):
    errors.append('no "limbo: sha256: MISMATCH in 1 of N segments" line')
  damaged = [kDamagedLine.match(m) for m in limbo_msgs]
  damaged = [d for d in damaged if d]
  if len(damaged) != 1:
    errors.append(f'expected one "limbo: damaged: segment" line, got '
                  f'{len(damaged)}')
  elif damaged[0].group(2) != role:
    errors.append(f'the damaged segment is named {damaged[0].group(2)!r}, '
                  f'expected {role!r}')
  if sc.name in ('damage', 'overlapdamage-fabric'):
    # initrd:0x1000 is in the content: the digests are printed.
    for needed in ('limbo: computed ', 'limbo: expected ', 'limbo: halting'):
      if not any(m.startswith(needed) for m in limbo_msgs):
        errors.append(f'no "{needed.strip()}" line')
    if run.end_reason != 'silent-after-halt':
      errors.append(f'the run did not end halted and silent (end: '
                    f'{run.end_reason}, QEMU exit code {run.exit_code})')
  else:
    # kernel:last is the last byte of the zero fill: its offset is size - 1.
    if damaged and len(damaged) == 1:
      size = int(damaged[0].group(4), 16)
      start = int(damaged[0].group(3), 16)
      wanted = (f'limbo: zero fill changed: first non-zero byte at offset '
                f'0x{size - 1:x} (address 0x{start + size - 1:x})')
      if wanted not in limbo_msgs:
        errors.append(f'no "{wanted}" line')
    if not any(m.startswith('limbo: rebooting:') for m in limbo_msgs):
      errors.append('no "limbo: rebooting:" line')
    if not any(m.startswith('limbo: reboot: ACPI reset register: I/O port')
               for m in limbo_msgs):
      errors.append('the FADT reset register was not used (q35 has one)')
    if any(m.startswith('limbo: reboot: still running') for m in limbo_msgs):
      errors.append('every reset way failed')
    if any(m.startswith('limbo: halting') for m in limbo_msgs):
      errors.append('Limbo halted instead of rebooting')
    # -no-reboot: the machine's reset is QEMU's exit, code 0.
    if run.end_reason != 'exited' or run.exit_code != 0:
      errors.append(f'QEMU did not see the reset (end: {run.end_reason}, '
                    f'exit code {run.exit_code})')
  if any(m.startswith('limbo: jumping') for m in limbo_msgs):
    errors.append('Limbo jumped to the capture kernel despite the damage')
  if ms.capture_kernel is not None:
    errors.append('a capture kernel booted despite the damage')
  return errors


kNvmeState = re.compile(r'^CAPTURE: nvme (\S+) .*bus_master=(\d) cc\.en=(\d) '
                        r'csts\.rdy=(\d)')


def judge_nvme(run, texts):
  """The device half of the NVMe scenarios, read from guest and capture."""
  errors = []
  sc = run.scenario
  if 'GUEST: nvme0 state live' not in texts:
    state = [t for t in texts if t.startswith('GUEST: nvme0 state')]
    errors.append('the first kernel did not bring the NVMe controller up: ' +
                  (state[0] if state else 'no "GUEST: nvme0 state" line'))
  states = [kNvmeState.match(t) for t in texts]
  states = [m for m in states if m]
  if not states:
    if sc.captures:
      errors.append('the capture init reported no NVMe controller state')
    return errors
  bdf, bus_master, enabled, ready = states[0].groups()
  if sc.name in kPcieStateUntimed:
    pass  # judge_limbo_mce: where the #MC lands decides what was reset
  elif sc.purgatory in ('stock', 'kernel'):
    # The control: without a reset the controller is still enabled. If it
    # were not, the Limbo variant would prove nothing.
    if enabled != '1':
      errors.append(f'control did not reproduce the problem: NVMe {bdf} '
                    f'CC.EN={enabled} after a stock kexec (expected 1)')
  else:
    if enabled != '0' or ready != '0':
      errors.append(f'NVMe {bdf} still enabled in the capture kernel: '
                    f'CC.EN={enabled} CSTS.RDY={ready} (expected 0 after '
                    'Limbo\'s reset)')
    if bus_master != '0':
      errors.append(f'NVMe {bdf} Bus Master still on in the capture kernel')
    cmdline = capture_cmdline(run)
    report = parse_limbo_report(cmdline) if cmdline else None
    if report is not None and report[1].get('pcie') != 'fault':  # fault: judge_fault_pcie
      fields = report[1]
      if not fields.get('reset', '').isdigit() or int(fields['reset']) < 1:
        errors.append(f'limbo= report reset:{fields.get("reset")}, expected '
                      'at least 1 (the NVMe controller)')
      if fields.get('fail') != '0':
        errors.append(f'limbo= report fail:{fields.get("fail")}, expected 0')
  return errors


def judge_overlap(texts, limbo_msgs):
  """overlap-fabric (issue 19): the order on the plan and the console, the
  ports reset before the verification and the devices restored after it
  (by the order of the console lines, not by their times)."""
  errors = []
  if not any(t.startswith('GUEST: plan | pcie: order overlap: ') for t in texts):
    errors.append('limbo-kexec --plan did not show "pcie: order overlap"')
  if not any(t.startswith('GUEST: | limbo: pcie: order overlap: ') for t in texts):
    errors.append('the plugin (--verbose) did not show "pcie: order overlap"')

  def first(prefix):
    for i, m in enumerate(limbo_msgs):
      if m.startswith(prefix):
        return i
    return None
  order = first('limbo: pcie: order overlap: devices reset first')
  engine = first('limbo: sha256: portable')
  verified = first('limbo: sha256: ok')
  totals = first('limbo: pcie reset ')
  timeline = first('limbo: pcie: timeline: ')
  times = first('limbo: times: verify ')
  if order is None:
    errors.append('no "limbo: pcie: order overlap: devices reset first ..." line')
  elif engine is None or not order < engine:
    errors.append('the PCIe order line does not come before the verification')
  if verified is None or totals is None or not verified < totals:
    errors.append('the PCIe totals ("limbo: pcie reset ...") do not come after "sha256: ok"')
  if timeline is None:
    errors.append('no "limbo: pcie: timeline:" line: no port was reset')
  if times is None or ' dma window ' not in limbo_msgs[times]:
    errors.append('the times line has no "dma window N us"')
  return errors


def judge_overlap_damage(limbo_msgs):
  """overlapdamage-fabric (issue 19): under overlap a damaged image finds
  both ports already reset; the purgatory says so before it halts and
  restores nothing (the damage itself: judge_damage)."""
  errors = []
  said = [i for i, m in enumerate(limbo_msgs) if m.startswith(
      'limbo: pcie: order overlap: 2 ports reset (2 endpoints below), ') and m.endswith(
      'before verification; none restored')]
  halting = [i for i, m in enumerate(limbo_msgs) if m.startswith('limbo: halting:')]
  if not said:
    errors.append('no "limbo: pcie: order overlap: 2 ports reset (2 endpoints below), ... none restored" line')
  elif not halting or not said[0] < halting[0]:
    errors.append('the ports-reset line does not come before "limbo: halting:"')
  if any(m.startswith('limbo: pcie reset ') for m in limbo_msgs):
    errors.append('the PCIe phase finished (restored) despite the damaged image')
  return errors


kFabricFunction = re.compile(r'^GUEST: fabric (\S+) (\S+) (\S+) class (\S+) '
                             r'bars ?(.*)$')
kE1000eState = re.compile(r'^CAPTURE: e1000e (\S+) .*bus_master=(\d) '
                          r'rctl\.en=(\d)')
kCaptureBars = re.compile(r'^CAPTURE: bars (\S+) ?(.*)$')
kFabricRoles = ('nvme', 'e1000e', 'display', 'conventional')
# The roles Limbo resets (an endpoint alone below its root port) and the ones
# its policy leaves alone (a display device; a conventional PCI function).
kFabricReset = ('nvme', 'e1000e')
# Each role Limbo does not reset and the start of what it prints for it
# (purgatory/lib/pcie/quiesce.h print_decision): the display is skipped; the
# conventional PCI function, which no reset reaches, is stopped (issue 14).
kFabricSkipped = {'display': 'skip display',
                  'conventional': 'stop by bus master off (conventional pci)'}


def pcie_line(limbo_msgs, bdf):
  """Limbo's console line for one function: `limbo: pcie BDF ...`."""
  for m in limbo_msgs:
    if m.startswith(f'limbo: pcie {bdf} '):
      return m
  return None


kLogNodeType = '0x6f626d4c'  # purgatory/abi/limbo_abi.h kSetupDataLimboLog
kConsoleFunction = re.compile(r'^limbo: pcie (?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) '
                              r'(?P<id>[0-9a-f]{4}:[0-9a-f]{4}) class (?P<cls>[0-9a-f]{6}) (?P<decision>.*)$')


def record_report(texts):
  """The capture init's `limbo-kexec --report --json` (issue 15): its exit
  status and the object, or an error text."""
  rc = [t for t in texts if t.startswith('CAPTURE: report json rc=')]
  body = [t[len('CAPTURE: report json | '):] for t in texts if t.startswith('CAPTURE: report json | ')]
  if not rc:
    return None, None, 'no "CAPTURE: report json rc=" line'
  if len(body) != 1:
    return rc[0], None, f'{len(body)} lines of JSON output, expected one: {body[:3]!r}'
  try:
    return rc[0], json.loads(body[0]), None
  except ValueError as e:
    return rc[0], None, f'the JSON does not parse ({e}): {body[0][:200]!r}'


def judge_record(run, texts, limbo_msgs):
  """Issue 15: the capture kernel's `limbo-kexec --report --json` against
  the serial console: the whole log equals the console's limbo: lines, and
  every function the console names has the same decision and outcome in
  the JSON; the command-line report and the times agree too."""
  errors = []
  nodes = [t for t in texts if t.startswith('CAPTURE: setup_data ')]
  if not any(f' type {kLogNodeType} ' in t for t in nodes):
    errors.append(f'no setup_data node of type {kLogNodeType} in the capture kernel: {nodes!r}')
  rc, report, problem = record_report(texts)
  if problem:
    return errors + [problem]
  if rc != 'CAPTURE: report json rc=0':
    errors.append(f'limbo-kexec --report --json exited non-zero: {rc!r}')
  if report.get('schema') != 'limbo-report/1':
    errors.append(f'JSON schema {report.get("schema")!r}, expected limbo-report/1')
  log = report.get('log', {})
  if not log.get('present'):
    return errors + [f'the JSON has no log: {log.get("error")!r}']
  # The whole log, line for line, against the console (which adds "limbo: ").
  logged = ['limbo: ' + line['text'] for line in log.get('lines', [])]
  if logged != limbo_msgs:
    first = next((i for i, (a, b) in enumerate(zip(logged, limbo_msgs)) if a != b), min(len(logged), len(limbo_msgs)))
    errors.append(f'the log ({len(logged)} lines) differs from the console ({len(limbo_msgs)} limbo: lines) '
                  f'at line {first + 1}: log {logged[first] if first < len(logged) else None!r}, '
                  f'console {limbo_msgs[first] if first < len(limbo_msgs) else None!r}')
  if log.get('dropped_lines') != 0:
    errors.append(f'{log.get("dropped_lines")} log lines dropped')
  stamps = [line['us'] for line in log.get('lines', [])]
  if any(u is None for u in stamps) or stamps != sorted(stamps):
    errors.append(f'the log\'s time stamps are missing or out of order: {stamps[:8]}...')
  # Every function of the console, with the same decision, in the JSON.
  console = {}
  for m in limbo_msgs:
    f = kConsoleFunction.match(m)
    if f:
      console[f['bdf']] = f
  functions = {f['bdf']: f for f in report.get('pcie', {}).get('functions', [])}
  if set(console) != set(functions):
    errors.append(f'the JSON lists functions {sorted(functions)}, the console {sorted(console)}')
  for bdf, f in console.items():
    j = functions.get(bdf)
    if j is None:
      continue
    if (j['id'], j['class'], j['decision']) != (f['id'], f['cls'], f['decision']):
      errors.append(f'{bdf}: JSON {j["id"]} {j["class"]} {j["decision"]!r}, console {f["id"]} {f["cls"]} {f["decision"]!r}')
    decision = f['decision']
    expected = ('skip' if decision.startswith('skip ') else 'stop' if decision.startswith('stop ')
                else 'fail' if decision.startswith('failed') else 'reset')
    if j['action'] != expected:
      errors.append(f'{bdf}: JSON action {j["action"]!r}, the console says {expected!r} ({decision!r})')
    ready = re.search(r' ready (\d+) ms ', decision)
    if ready and j['ms'] != int(ready.group(1)):
      errors.append(f'{bdf}: JSON ms {j["ms"]}, console ready {ready.group(1)} ms')
  # The reset endpoints of the topology are there as reset ok by bus reset.
  resets = [f for f in functions.values() if f['action'] == 'reset' and f['outcome'] == 'reset ok'
            and f['method'] == 'bus reset']
  if len(resets) < 2:
    errors.append(f'the JSON has {len(resets)} functions reset ok by bus reset, expected the NVMe and the e1000e')
  # The command-line report's fields, and the times line.
  cmdline = capture_cmdline(run) or ''
  parsed = parse_limbo_report(cmdline)
  jc = report.get('cmdline', {})
  if parsed is not None:
    version, fields = parsed
    for key in ('reset', 'stop', 'skip', 'fail', 'ms'):
      if key in fields and str(jc.get(key)) != fields[key]:
        errors.append(f'JSON cmdline {key} {jc.get(key)!r}, /proc/cmdline {fields[key]!r}')
    pcie = report.get('pcie', {})
    for key in ('reset', 'stop', 'skip', 'fail'):
      if key in fields and str(pcie.get(key)) != fields[key]:
        errors.append(f'JSON pcie {key} {pcie.get(key)!r} (the log\'s totals), /proc/cmdline {fields[key]!r}')
  times = [m for m in limbo_msgs if m.startswith('limbo: times: ')]
  total = re.search(r'total (\d+) us', times[0]) if times else None
  if not total or report.get('times', {}).get('total_us') != int(total.group(1)):
    errors.append(f'JSON times {report.get("times")!r}, console {times[:1]!r}')
  if report.get('verification', {}).get('state') != 'ok' or not report['verification'].get('segments'):
    errors.append(f'JSON verification {report.get("verification")!r}: not ok per segment')
  words = [t for t in texts if t.startswith('CAPTURE: report words rc=')]
  if words != ['CAPTURE: report words rc=0']:
    errors.append(f'limbo-kexec --report: {words!r}')
  return errors


def judge_fabric(run, texts, limbo_msgs):
  """The issue 3 topology: what the first kernel drove and named, what the
  capture kernel found before any driver bound, what Limbo printed, and the
  disk read back through the NVMe driver in the capture kernel."""
  errors = []
  sc = run.scenario
  expected_md5 = disk_pattern_md5()

  functions = {}
  for t in texts:
    m = kFabricFunction.match(t)
    if m:
      role, bdf, ident, cls, bars = m.groups()
      if role in functions:
        errors.append(f'the first kernel found two {role} functions: '
                      f'{functions[role][0]} and {bdf}')
      functions[role] = (bdf, ident.lower(), cls.lower(), bars.strip())
  for role in kFabricRoles:
    if role not in functions:
      errors.append(f'the first kernel did not find the {role} function '
                    f'(no "GUEST: fabric {role}" line)')
  for role in kFabricReset:
    if role in functions and not functions[role][3]:
      errors.append(f'the first kernel\'s {role} {functions[role][0]} has no '
                    'assigned BAR')

  disk = [t for t in texts if t.startswith('GUEST: disk ')]
  if disk != [f'GUEST: disk md5 {expected_md5}']:
    errors.append('the first kernel did not read the disk pattern: ' +
                  (disk[0] if disk else 'no "GUEST: disk" line') +
                  f' (expected md5 {expected_md5})')
  flags = [t for t in texts if t.startswith('GUEST: eth0 flags ')]
  try:
    up = bool(flags) and int(flags[0].split()[-1], 16) & 1 == 1  # IFF_UP
  except ValueError:
    up = False
  if not up:
    errors.append('the first kernel did not bring eth0 (e1000e) up: ' +
                  (flags[0] if flags else 'no "GUEST: eth0 flags" line'))

  if not sc.captures:
    return errors

  # Issue 17: excludeid-fabric excludes the e1000e by its ID: Limbo must not
  # touch it, and --plan must say which rule decided each function.
  excluded = ('e1000e',) if sc.name == 'excludeid-fabric' else ()
  if excluded:
    errors += judge_excludeid_plan(texts, functions)

  # Device state in the capture kernel, before any driver.
  nvme = [kNvmeState.match(t) for t in texts]
  nvme = [m for m in nvme if m]
  e1000e = [kE1000eState.match(t) for t in texts]
  e1000e = [m for m in e1000e if m]
  if not e1000e:
    errors.append('the capture init reported no e1000e state')
  for role, states in (('nvme', nvme), ('e1000e', e1000e)):
    if states and role in functions and states[0].group(1) != functions[role][0]:
      errors.append(f'the capture kernel\'s {role} is {states[0].group(1)}, '
                    f'the first kernel\'s {functions[role][0]}')
  live = {}
  if nvme and sc.purgatory in ('stock', 'kernel'):
    # (With Limbo, judge_nvme asserts the NVMe bits are 0.)
    _, bus_master, enabled, ready = nvme[0].groups()
    live['NVMe Bus Master'] = bus_master
    live['NVMe CSTS.RDY'] = ready
  if e1000e:
    _, bus_master, rx_enabled = e1000e[0].groups()
    live['e1000e Bus Master'] = bus_master
    live['e1000e RCTL.EN'] = rx_enabled
  if sc.purgatory in ('stock', 'kernel'):
    # The control: without a reset both devices are still live (NVMe CC.EN
    # is checked by judge_nvme).
    for what, value in live.items():
      if value != '1':
        errors.append(f'control did not reproduce the problem: {what}='
                      f'{value} after a stock kexec (expected 1)')
  elif sc.name not in kPcieStateUntimed:
    for what, value in live.items():
      if what.startswith('e1000e') and 'e1000e' in excluded:
        if value != '1':
          errors.append(f'{what}={value} in the capture kernel: the excluded '
                        'e1000e was touched (expected 1, as the first kernel left it)')
        continue
      if value != '0':
        errors.append(f'{what}={value} in the capture kernel (expected 0 '
                      'after Limbo\'s reset)')

  # BARs: what the first kernel used is what the capture kernel finds.
  capture_bars = {}
  for t in texts:
    m = kCaptureBars.match(t)
    if m:
      capture_bars[m.group(1)] = m.group(2).strip()
  for role in kFabricReset:
    if role not in functions:
      continue
    bdf, _, _, bars = functions[role]
    if sc.name in kPcieFaultScenarios:
      # Issue 20: the abandoned phase restored nothing: the capture kernel
      # finds the reset endpoints' BARs cleared, and assigns them itself.
      continue
    if bdf not in capture_bars:
      errors.append(f'the capture init reported no BARs for the {role} {bdf}')
    elif capture_bars[bdf] != bars:
      errors.append(f'{role} {bdf} BARs differ: first kernel "{bars}", '
                    f'capture kernel "{capture_bars[bdf]}"')

  # The restored (or, in the control, never reset) controller works.
  disk = [t for t in texts if t.startswith('CAPTURE: disk ')]
  if disk != [f'CAPTURE: disk md5 {expected_md5}']:
    state = [t for t in texts if t.startswith('CAPTURE: nvme0 state')]
    errors.append('the capture kernel did not read the disk pattern through '
                  'the NVMe driver: ' +
                  (disk[0] if disk else 'no "CAPTURE: disk" line') +
                  (f' ({state[0][len("CAPTURE: "):]})' if state else '') +
                  f' (expected md5 {expected_md5})')

  if sc.purgatory == 'limbo' and sc.name not in kPcieFaultScenarios:  # judge_fault_pcie, judge_limbo_mce
    # Limbo's per-function lines: the two endpoints reset, the display and
    # the conventional device skipped.
    for role in kFabricReset:
      if role not in functions:
        continue
      bdf, ident, cls, _ = functions[role]
      line = pcie_line(limbo_msgs, bdf)
      if role in excluded:
        wanted = f'limbo: pcie {bdf} {ident} class {cls} skip excluded (rule --pcie-exclude=8086:10d3)'
        if line is None or line.lower() != wanted.lower():
          errors.append(f'Limbo did not report the {role} {bdf} as "{wanted}": ' +
                        (repr(line) if line else f'no "limbo: pcie {bdf}" line'))
        continue
      wanted = re.compile(rf'^limbo: pcie {re.escape(bdf)} {re.escape(ident)} '
                          rf'class {re.escape(cls)} reset ok ready \d+ ms',
                          re.IGNORECASE)
      if line is None or not wanted.match(line):
        errors.append(f'Limbo did not report the {role} {bdf} reset ok: ' +
                      (repr(line) if line else f'no "limbo: pcie {bdf}" line'))
    for role, reason in kFabricSkipped.items():
      if role not in functions:
        continue
      bdf, ident, cls, _ = functions[role]
      line = pcie_line(limbo_msgs, bdf)
      wanted = re.compile(rf'^limbo: pcie {re.escape(bdf)} {re.escape(ident)} '
                          rf'class {re.escape(cls)} {re.escape(reason)}',
                          re.IGNORECASE)
      if line is None or not wanted.match(line):
        errors.append(f'Limbo did not report the {role} {bdf} as '
                      f'"{reason}...": ' +
                      (repr(line) if line else f'no "limbo: pcie {bdf}" line'))
    cmdline = capture_cmdline(run)
    report = parse_limbo_report(cmdline) if cmdline else None
    if report is not None:
      fields = report[1]
      for key, least in (('reset', 2 - len(excluded)), ('skip', 1 + len(excluded)), ('stop', 1)):
        value = fields.get(key, '')
        if not value.isdigit() or int(value) < least:
          errors.append(f'limbo= report {key}:{value}, expected at least '
                        f'{least}')
  return errors


def judge_excludeid_plan(texts, functions):
  """excludeid-fabric: `limbo-kexec --plan --pcie-exclude=8086:10d3` as the
  guest printed it (GUEST: plan | ...): the e1000e skipped by that rule with
  its port left for it, the NVMe reset by its port's bus reset."""
  errors = []
  plan = [t[len('GUEST: plan | '):] for t in texts if t.startswith('GUEST: plan | ')]
  if not plan:
    return ['no "GUEST: plan |" lines: limbo-kexec --plan did not run']
  if 'pcie: excluded 8086:10d3' not in plan:
    errors.append('--plan did not list the exclusion ("pcie: excluded 8086:10d3")')
  def tree_line(bdf):
    short = bdf[5:] if bdf.startswith('0000:') else bdf  # the tree prints BB:DD.F
    for p in plan:
      at = p.find('-' + short + ' ')
      if at >= 0:
        return p[at + 1:]
    return None
  if 'e1000e' in functions:
    bdf, ident, cls, _ = functions['e1000e']
    line = tree_line(bdf)
    wanted = f'{bdf[5:]} {ident} class {cls} endpoint: skip excluded (rule --pcie-exclude=8086:10d3)'
    if line is None or line.lower() != wanted.lower():
      errors.append(f'--plan line for the e1000e is {line!r}, expected {wanted!r}')
  if 'nvme' in functions:
    bdf, ident, cls, _ = functions['nvme']
    line = tree_line(bdf)
    wanted = re.compile(rf'^{re.escape(bdf[5:])} {re.escape(ident)} class {re.escape(cls)} endpoint: '
                        r'reset by bus reset \(port 0000:00:\S+\)$', re.IGNORECASE)
    if line is None or not wanted.match(line):
      errors.append(f'--plan line for the NVMe is {line!r}, expected "... reset by bus reset (port ...)"')
  if not any('leave excluded function below' in p and 'rule --pcie-exclude=8086:10d3' in p for p in plan):
    errors.append('--plan shows no port left for the excluded e1000e with its rule')
  return errors


kFlatFunction = re.compile(r'^GUEST: flat function (\S+) (\S+) class (\S+) '
                           r'flr (\S+) bars ?(.*)$')
kFlatNvme = re.compile(r'^(GUEST|CAPTURE): flat nvme (\S+) state (\S+) disk md5 (\S+)$')
kFlatNet = re.compile(r'^GUEST: flat net (\S+) (\S+) flags (\S+)$')
kVirtioState = re.compile(r'^CAPTURE: virtio (\S+) .*status=(\S+) bus_master=(\d) '
                          r'status\.zero=(\d)')


def flat_methods(functions):
  """The method Limbo must choose for each role, from the Device
  Capabilities FLR bit the first kernel read: FLR where offered, else the
  NVMe or virtio class reset, else Bus Master off; the port's NVMe by bus
  reset."""
  out = {}
  for bdf, role in kFlatRoles.items():
    if bdf not in functions:
      continue
    flr = functions[bdf][2] == '1'
    if role == 'nvme-port':
      out[bdf] = 'bus reset'
    elif flr:
      out[bdf] = 'flr'
    else:
      out[bdf] = {'nvme': 'nvme reset', 'virtio': 'virtio reset',
                  'e1000e': 'bus master off'}[role]
  return out


def judge_flat(run, texts, limbo_msgs):
  """Issue 14's flat topology: the first kernel drove all four functions;
  in the capture kernel, before any driver, stock leaves them live and Limbo
  leaves them stopped or reset; both NVMe controllers then read the disk."""
  errors = []
  sc = run.scenario
  expected_md5 = disk_pattern_md5()
  functions = {}
  for t in texts:
    m = kFlatFunction.match(t)
    if m:
      bdf, ident, cls, flr, bars = m.groups()
      functions[bdf] = (ident, cls, flr, bars.strip())
  for bdf, role in kFlatRoles.items():
    if bdf not in functions:
      errors.append(f'the first kernel did not find the {role} at {bdf}')
  guest_nvme = {m.group(2): m for m in map(kFlatNvme.match, texts)
                if m and m.group(1) == 'GUEST'}
  for bdf in ('0000:00:03.0', '0000:01:00.0'):
    m = guest_nvme.get(bdf)
    if m is None or m.group(3) != 'live' or m.group(4) != expected_md5:
      errors.append(f'the first kernel did not drive the NVMe {bdf} and read '
                    f'the disk: {m.group(0) if m else "no line"}')
  nets = {m.group(1): m for m in map(kFlatNet.match, texts) if m}
  for bdf in ('0000:00:04.0', '0000:00:05.0'):
    m = nets.get(bdf)
    try:
      up = m is not None and int(m.group(3), 16) & 1 == 1
    except ValueError:
      up = False
    if not up:
      errors.append(f'the first kernel did not bring {kFlatRoles[bdf]} {bdf} '
                    f'up: {m.group(0) if m else "no line"}')
  if not sc.captures:
    return errors

  # The capture kernel's view before any driver: (live?, text) per role.
  view = {}
  for m in map(kNvmeState.match, texts):
    if m:
      bdf, bus_master, enabled, ready = m.groups()
      view[bdf] = (enabled == '1' or ready == '1',
                   f'CC.EN={enabled} CSTS.RDY={ready} BusMaster={bus_master}')
  for m in map(kE1000eState.match, texts):
    if m:
      bdf, bus_master, rx = m.groups()
      view[bdf] = (rx == '1' and bus_master == '1',
                   f'RCTL.EN={rx} BusMaster={bus_master}')
  for m in map(kVirtioState.match, texts):
    if m:
      bdf, status, bus_master, zero = m.groups()
      view[bdf] = (zero == '0' and bus_master == '1',
                   f'status={status} BusMaster={bus_master}')
  for bdf, role in kFlatRoles.items():
    if bdf not in view:
      errors.append(f'the capture init reported no state for the {role} {bdf}')
      continue
    live, text = view[bdf]
    if sc.purgatory in ('stock', 'kernel') and not live:
      errors.append(f'control did not reproduce the problem: {role} {bdf} '
                    f'{text} after a stock kexec (expected live)')
    if sc.purgatory == 'limbo' and live:
      errors.append(f'{role} {bdf} still live in the capture kernel: {text}')
  # NVMe (the root bus one and the port's): CC.EN must read 0 after Limbo.
  if sc.purgatory == 'limbo':
    for m in map(kNvmeState.match, texts):
      if m and m.group(3) != '0':
        errors.append(f'NVMe {m.group(1)} CC.EN={m.group(3)} in the capture '
                      'kernel (expected 0)')
  capture_nvme = {m.group(2): m for m in map(kFlatNvme.match, texts)
                  if m and m.group(1) == 'CAPTURE'}
  for bdf in ('0000:00:03.0', '0000:01:00.0'):
    m = capture_nvme.get(bdf)
    if m is None or m.group(3) != 'live' or m.group(4) != expected_md5:
      errors.append(f'the capture kernel\'s NVMe driver did not read the disk '
                    f'through {bdf}: {m.group(0) if m else "no line"}')
  if sc.purgatory == 'limbo':
    wanted = flat_methods(functions)
    for bdf, method in wanted.items():
      ident, cls = functions[bdf][0], functions[bdf][1]
      line = pcie_line(limbo_msgs, bdf)
      outcome = 'stop' if method == 'bus master off' else r'reset ok (ready|within) \d+ ms'
      pattern = re.compile(rf'^limbo: pcie {re.escape(bdf)} {re.escape(ident)} '
                           rf'class {re.escape(cls)} {outcome} by {re.escape(method)} ')
      if line is None or not pattern.match(line):
        errors.append(f'Limbo did not report the {kFlatRoles[bdf]} {bdf} '
                      f'"{method}" (Device Capabilities FLR '
                      f'{functions[bdf][2]}): {line!r}')
    cmdline = capture_cmdline(run)
    report = parse_limbo_report(cmdline) if cmdline else None
    if report is not None:
      fields = report[1]
      stops = sum(1 for m in wanted.values() if m == 'bus master off')
      resets = len(wanted) - stops
      for key, least in (('reset', resets), ('stop', stops), ('fail', 0)):
        value = fields.get(key, '')
        if not value.isdigit() or (int(value) < least if key != 'fail' else int(value) != 0):
          errors.append(f'limbo= report {key}:{value}, expected '
                        f'{"0" if key == "fail" else f"at least {least}"}')
  return errors


kLimboTimes = re.compile(r'^limbo: times: .*\bpcie (\d+) us')


def pcie_summary(run):
  """Limbo's `limbo: pcie` console lines, for the summaries."""
  ms = milestones(run)
  idx = [i for i in ms.limbo_lines
         if run.lines[i].message.startswith('limbo: pcie')]
  return [run.lines[i].message for i in idx]


def pcie_time_us(run):
  """The purgatory's own measure of its PCIe work (`limbo: times: ... pcie
  N us`), None when it printed none."""
  for i in milestones(run).limbo_lines:
    m = kLimboTimes.match(run.lines[i].message)
    if m:
      return int(m.group(1))
  return None


def summary_lines(run):
  ms = milestones(run)
  t = timings(run, ms)
  out = [f'times (host clock, s): boot->panic {fmt_s(t["boot_to_panic"])}  '
         f'panic->purgatory {fmt_s(t["panic_to_purgatory"])}  '
         f'purgatory->capture kernel {fmt_s(t["purgatory_to_capture_kernel"])}',
         f'                       panic->capture kernel '
         f'{fmt_s(t["panic_to_capture_kernel"])}  panic->capture init '
         f'{fmt_s(t["panic_to_capture_init"])}  total {fmt_s(t["total"])}',
         f'end: {run.end_reason}, QEMU exit code {run.exit_code}; '
         f'log {run.log_path}']
  out += [f'pcie: {m[len("limbo: pcie "):]}' for m in pcie_summary(run)]
  pcie_us = pcie_time_us(run)
  if pcie_us is not None:
    out.append(f'pcie: Limbo\'s PCIe phase (its own clock) {pcie_us / 1000:.1f} ms')
  return out
  return out


def run_scenario(name, build, echo=sys.stdout, log_name=None):
  """Builds the image, boots, judges. Returns (run or None, errors)."""
  scenario = kScenarios[name]
  print(f'harness: scenario {name}: {scenario.description}', file=echo or
        sys.stdout, flush=True)
  paths = ensure_image(build, scenario, out=echo or sys.stdout)
  if paths is None:
    return None, [f'could not build the guest image {scenario.image} '
                  '(see the make output above)']
  kernel, initrd = paths[:2]
  disk = paths[2] if len(paths) > 2 else None
  log_path = os.path.join(os.path.abspath(build), 'qemu', 'logs',
                          (log_name or name) + '.log')
  run = boot(scenario, kernel, initrd, log_path, echo=echo, disk=disk,
             overall_timeout=scenario.timeout_s or kOverallTimeoutS)
  return run, judge(run)


def load_log(path, name):
  """A Run read back from a serial log written by boot(), for re-judging."""
  lines = []
  end_reason, exit_code = 'exited', None
  stamp = re.compile(r'^\[\s*(\d+\.\d+)\] (.*)$')
  total = 0.0
  with open(path, encoding='utf-8') as f:
    for raw in f:
      raw = raw.rstrip('\n')
      m = stamp.match(raw)
      if m:
        lines.append(Line(float(m.group(1)), m.group(2)))
      elif raw.startswith('# end: '):
        e = re.match(r'# end: (\S+), exit code (\S+), (\S+) s', raw)
        if e:
          end_reason = e.group(1)
          exit_code = None if e.group(2) == 'None' else int(e.group(2))
          total = float(e.group(3))
  return Run(kScenarios[name], lines, 0.0, total, exit_code, end_reason, path,
             [])
