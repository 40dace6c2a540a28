# SPDX-License-Identifier: GPL-2.0-only
"""Limbo's own QEMU scenarios: what each boots (image, devices, firmware,
Debian suite, CPUs, memory, monitor commands), whose purgatory it expects,
and whether the capture kernel must boot; and the make call that builds a
scenario's kernel and images."""

import dataclasses
import os
import subprocess
import sys

from harness.machine import kFabricDisk
from harness.reading import kStockPurgatoryLine


# The repository: qemu/harness/ is two levels below it.
kRepo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass(frozen=True)
class Scenario:
  name: str
  image: str            # initramfs under BUILD/qemu/
  purgatory: str        # 'stock' or 'limbo': whose console lines to expect;
                        # 'kernel': kexec_file_load's, which prints none
  captures: bool        # True: the capture kernel must boot; False: must not
  description: str
  devices: str = ''     # 'nvme': an NVMe controller behind a PCIe root port;
                        # 'fabric': the fabric topology (kFabricQemuArgs)
  cpus: int = 1         # the first kernel's CPUs (the capture kernel: nr_cpus=1)
  timeout_s: float = 0.0  # overall limit; 0: kOverallTimeoutS
  firmware: str = 'bios'  # 'bios': QEMU's SeaBIOS; 'ovmf': UEFI (kOvmfCode)
  guest_args: str = ''  # more of the first kernel's command line, for guest-init
  # (console message prefix, HMP command) pairs. QEMU then runs
  # with its monitor on a unix socket, and the harness sends each command
  # once, as soon as a serial line whose message starts with the prefix
  # arrives (e.g. an NMI while the purgatory verifies).
  monitor_at: tuple = ()
  # '' boots the host's kernel and kexec (BUILD/qemu/); a Debian
  # suite name boots that suite's kernel with its kexec-tools and libraries
  # (BUILD/qemu/suite-SUITE/, from qemu/kdump/build-rootfs --suite SUITE).
  suite: str = ''
  # The first kernel's memory, its crashkernel=
  # ('' : 256M, or the tight scenarios' own), and QEMU's accelerator.
  mem: str = '1G'
  crashkernel: str = ''
  accel: str = 'tcg'
  device_args: tuple = ()  # more QEMU device options (a user's topology file)

  @property
  def qemu_dir(self):
    return f'suite-{self.suite}/' if self.suite else ''


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
        'control run on the fabric topology (NVMe and e1000e on root ports, '
        'a display behind a switch, a PCI device behind a PCIe-to-PCI '
        'bridge): stock kexec leaves NVMe CC.EN = 1 and e1000e RCTL.EN = 1',
        devices='fabric'),
    'limbo-fabric': Scenario(
        'limbo-fabric', 'guest-limbo.img', 'limbo', True,
        'limbo-kexec on the fabric topology: Limbo resets the NVMe and the '
        'e1000e (CC.EN = 0, RCTL.EN = 0, Bus Master off), skips the display '
        'and the conventional device, restores the BARs; the capture '
        'kernel reads the disk through the NVMe driver',
        devices='fabric'),
    # One segment damaged after the digests were computed (the
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
    # The same two runs on UEFI firmware.
    'stock-ovmf': Scenario(
        'stock-ovmf', 'guest-stock.img', 'stock', True,
        'control run on UEFI (OVMF): stock kexec -p -c, the first kernel '
        'booted through its EFI stub', firmware='ovmf'),
    'limbo-ovmf': Scenario(
        'limbo-ovmf', 'guest-limbo.img', 'limbo', True,
        'limbo-kexec -p on UEFI (OVMF): the first kernel booted through its '
        'EFI stub, the capture kernel handed the EFI state by kexec-tools',
        firmware='ovmf'),
    # Loader safety (guest-safety.img: guest-limbo.img plus test-only purgatories).
    'safety': Scenario(
        'safety', 'guest-safety.img', 'limbo', True,
        'loader safety: a loop of loads and unloads through Limbo, '
        'then the capture kernel to keep (limbo.first=1), then bad loads '
        '(missing, truncated, unsupported relocation, missing ABI symbol, '
        'malformed --pcie-exclude, non-kernel ELF, untrusted purgatory, one in a '
        'directory others may write): each '
        'fails with one line and leaves kexec_crash_loaded at 1; the panic '
        'boots the first capture kernel (300 loads, every 30th and the last '
        'with checks: ~5 min under TCG)', timeout_s=900.0,
        guest_args='limbo.loops=300 limbo.checked_every=30'),
    # The TEST-ONLY fault build (ud2 where the capture
    # kernel's command line says, limbo.test_fault=...).
    'fault': Scenario(
        'fault', 'guest-safety.img', 'limbo', True,
        'fault in optional work: the TEST-ONLY build executes ud2 in '
        'the PCIe phase, with every port of the fabric topology in Secondary '
        'Bus Reset; Limbo prints vector 6 and the RIP, abandons the phase, '
        'clears the resets, reports pcie:fault and jumps: the capture kernel '
        'boots and reads the disk through the NVMe', devices='fabric',
        guest_args='limbo.test_fault=pcie'),
    'fault-verify': Scenario(
        'fault-verify', 'guest-safety.img', 'limbo', False,
        'fault before verification: ud2 as the hash starts; '
        '--on-fault=reboot (the default): the diagnosis, the reset ways, and '
        'the machine resets (QEMU exits: -no-reboot)',
        guest_args='limbo.test_fault=verify'),
    'fault-verify-overlap': Scenario(
        'fault-verify-overlap', 'guest-safety.img', 'limbo', False,
        'the same fault under --pcie-order=overlap on the fabric topology: the '
        'ports are already in reset when the hash faults, and the diagnosis '
        'says so (ports reset, none restored) before the reset ways',
        devices='fabric', guest_args='limbo.test_fault=verify limbo.pcie_order=overlap'),
    'fault-handler': Scenario(
        'fault-handler', 'guest-safety.img', 'limbo', False,
        'a fault inside the fault handler: ud2 as the hash starts, '
        'then ud2 again in the handler after its diagnosis; the nested fault '
        'prints one line and carries out --on-fault=reboot at once (a triple '
        'fault): QEMU exits, never a silent hang',
        guest_args='limbo.test_fault=handler'),
    'fault-verify-halt': Scenario(
        'fault-verify-halt', 'guest-safety.img', 'limbo', False,
        'the same fault with --on-fault=halt: the diagnosis, then '
        'the CPU halts (no exit, no capture kernel)',
        guest_args='limbo.test_fault=verify limbo.on_fault=halt'),
    'tight': Scenario(
        'tight', 'guest-safety.img', 'limbo', False,
        'a crash reservation sized (tight_crashkernel) so that the '
        'capture kernel and its initrd leave 512 KiB for Limbo\'s purgatory: '
        'that load is kept (limbo.first=1); the same load with an initrd '
        '448 KiB larger leaves too little room for Limbo (kexec-tools\' own '
        'layout fits): one "no room" line, kexec_crash_loaded stays 1, the '
        'panic verifies and starts the first capture kernel (its banner and '
        'command line; in a reservation this small it cannot go further)'),
    # An NMI (QEMU monitor `nmi`) sent as soon as the purgatory
    # starts hashing: Limbo counts it, returns from it, verifies and boots
    # the capture kernel; the stock purgatory, which has no IDT, triple
    # faults and the machine resets (-no-reboot: QEMU exits).
    'limbo-nmi': Scenario(
        'limbo-nmi', 'guest-limbo.img', 'limbo', True,
        'an NMI while Limbo verifies (monitor `nmi` on its '
        '"sha256: portable" line): Limbo prints it, returns from it, '
        'verifies, counts it before its report, and the capture kernel boots',
        monitor_at=(('limbo: sha256: portable', 'nmi'),)),
    # A machine check (monitor `mce`, bank 1 uncorrected, RIPV and
    # MCIP) as the PCIe phase starts on the fabric topology: logged, MCIP
    # cleared, the phase abandoned as for any fault in it, the jump.
    'limbo-mce': Scenario(
        'limbo-mce', 'guest-limbo.img', 'limbo', True,
        'a machine check in the PCIe phase (monitor `mce` on the '
        '"pcie: delays on" line): Limbo logs MCG_STATUS and bank 1, clears '
        'MCIP, abandons the phase (ports cleared), reports pcie:fault and the '
        'capture kernel boots and reads the disk', devices='fabric',
        monitor_at=(('limbo: pcie: delays on', 'mce 0 1 0xb000000000000000 0x5 0 0'),)),
    'stock-mce': Scenario(
        'stock-mce', 'guest-stock.img', 'stock', False,
        'control: the same machine check in the stock purgatory (on '
        'its "I\'m in purgatory" line): CR4.MCE is clear, the CPU shuts down '
        'and the machine resets (QEMU exits: -no-reboot)',
        monitor_at=((kStockPurgatoryLine, 'mce 0 1 0xb000000000000000 0x5 0 0'),)),
    'limbo-nmi-fabric': Scenario(
        'limbo-nmi-fabric', 'guest-limbo.img', 'limbo', True,
        'an NMI as Limbo\'s PCIe phase starts on the fabric topology '
        '(monitor `nmi` on its "pcie: delays on" line: it lands in the reset\'s '
        'hold or settle time): returned from, counted, every endpoint still reset '
        'and restored, the capture kernel reads the disk',
        devices='fabric', monitor_at=(('limbo: pcie: delays on', 'nmi'),)),
    'stock-nmi': Scenario(
        'stock-nmi', 'guest-stock.img', 'stock', False,
        'control: the same NMI in the stock purgatory (on its '
        '"I\'m in purgatory" line): no IDT, a triple fault, the machine '
        'resets (QEMU exits: -no-reboot) and no capture kernel boots',
        monitor_at=((kStockPurgatoryLine, 'nmi'),)),
    # Devices a bus reset cannot reach (kFlatRoles).
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
    # Never worse than stock (guest-safety.img: it carries the kdump-tools snippet).
    'fallback': Scenario(
        'fallback', 'guest-safety.img', 'stock', True,
        'stock fallback: a crash kernel through Limbo; a load Limbo '
        'refuses (untrusted purgatory) with fallback none keeps it (--status: '
        'through Limbo); the same refusal on the kdump-tools path '
        '(LIMBO_FALLBACK=stock from the snippet) loads kexec-tools\' own '
        'segments (--status: stock, after a refusal), and the panic boots that '
        'capture kernel through the stock purgatory'),
    'lockdown': Scenario(
        'lockdown', 'guest-safety.img', 'stock', False,
        'lockdown=integrity on the first kernel: the command '
        'kdump-config runs with Limbo\'s snippet is the one it runs without, '
        'the snippet says why once, limbo-kexec refuses before kexec runs '
        '(exit 5) naming kexec -s; no panic', guest_args='lockdown=integrity'),
    'tightstock': Scenario(
        'tightstock', 'guest-safety.img', 'stock', False,
        'the tight reservation; after the load through Limbo, the '
        'load with the larger initrd that leaves no room for Limbo, with '
        '--fallback=stock: one FALLBACK line, kexec-tools\' own load in '
        '(it fits), --status "stock, after a refusal: no room ...", and the '
        'panic starts that capture kernel through the stock purgatory (its '
        'banner and command line; in a reservation this small it cannot go '
        'further: ~60 s, ends by silence)'),
    'excludeid-fabric': Scenario(
        'excludeid-fabric', 'guest-limbo.img', 'limbo', True,
        '--pcie-exclude=8086:10d3 on the fabric topology leaves '
        'the e1000e untouched (RCTL.EN and Bus Master stay 1 in the capture '
        'kernel) while the NVMe is reset; --plan names the rule for both',
        devices='fabric'),
    # The purgatory's log node read back in the capture kernel.
    'record-fabric': Scenario(
        'record-fabric', 'guest-limbo.img', 'limbo', True,
        'on the fabric topology the capture kernel finds Limbo\'s '
        'setup_data node; limbo-kexec --report --json lists every function '
        'with the decision and outcome of its console line, and the whole '
        'log equals the serial console\'s limbo: lines', devices='fabric'),
    'overlap-fabric': Scenario(
        'overlap-fabric', 'guest-limbo.img', 'limbo', True,
        '--pcie-order=overlap on the fabric topology: both '
        'endpoints\' ports put in reset before the image is verified, the '
        'verification during their settle time, then restored; verify:ok, '
        'the capture kernel reads the disk through the NVMe',
        devices='fabric'),
    'overlapdamage-fabric': Scenario(
        'overlapdamage-fabric', 'guest-limbo.img', 'limbo', False,
        '--pcie-order=overlap with --test-damage-segment=initrd:0x1000 '
        '(test-only) on the fabric topology: both ports reset before the '
        'verdict; the purgatory names the initrd, says the ports were reset '
        'and not restored, and halts', devices='fabric'),
    'readymin-fabric': Scenario(
        'readymin-fabric', 'guest-limbo.img', 'limbo', True,
        '--pcie-ready-timeout-ms=1 (the minimum) on the fabric '
        'topology still boots the capture kernel', devices='fabric'),
}


# The distribution matrix. Each Debian release's own kernel,
# modules, kexec-tools and libraries (qemu/kdump/build-rootfs --suite), with
# Limbo built here, on the fabric topology; the stock control runs the same
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
      f'matrix, {_release} ({_suite}): its kernel and its kexec -p -c '
      'on the fabric topology: the capture kernel finds the NVMe and the '
      'e1000e as the crashed kernel left them', devices='fabric', suite=_suite)
  if _suite != 'bookworm':
    kScenarios[f'kfile-fabric-{_suite}'] = Scenario(
        f'kfile-fabric-{_suite}', 'guest-stock.img', 'kernel', True,
        f'matrix, {_release} ({_suite}): a plain kexec -p, which '
        'from kexec-tools 2.0.27 on is kexec_file_load and the kernel\'s own '
        'purgatory: what that release gives without Limbo by default',
        devices='fabric', suite=_suite)
  kScenarios[f'limbo-fabric-{_suite}'] = Scenario(
      f'limbo-fabric-{_suite}', 'guest-limbo.img', 'limbo', True,
      f'matrix, {_release} ({_suite}): limbo-kexec -p through its '
      'kexec-tools and libraries, its kernel: Limbo resets the NVMe and the '
      'e1000e, the capture kernel boots with verify:ok and reads the disk',
      devices='fabric', suite=_suite)


# Scenarios on the fabric in which no capture kernel runs: no device state
# to judge in one.
kNoCaptureOnFabric = ('overlapdamage-fabric', 'fault-verify-overlap')
kDamageScenarios = {'damage': 'initrd', 'reboot': 'kernel', 'overlapdamage-fabric': 'initrd'}


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
