# SPDX-License-Identifier: GPL-2.0-only
"""Judges of the purgatory's hard paths: exceptions (in the PCIe phase,
during verification, inside the handler), NMIs, machine checks, and a
damaged image that must never be jumped into."""

import re

from harness.reading import capture_cmdline, parse_limbo_report
from harness.scenarios import kDamageScenarios


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
  """The NMI reached Limbo in its window (the hash, or the PCIe
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
  """What the stock purgatory does with an NMI, as
  measured: no IDT, so the NMI triple faults and the machine resets."""
  errors = []
  if not run.monitor_sent:
    errors.append('the harness never sent the NMI (no stock purgatory line)')
  if ms.capture_kernel is not None:
    errors.append('a capture kernel booted: the NMI did not stop the stock purgatory')
  if run.end_reason != 'exited':
    errors.append(f'QEMU did not exit (a reset under -no-reboot) after the NMI: end {run.end_reason}')
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


# The scenarios whose PCIe phase a fault abandons, and those where
# the fault's moment (a monitor command a few ms after a console line, under
# TCG) decides whether any port had been asserted: the devices are then found
# reset (ports cleared) or as the first kernel left them (no port asserted:
# as with stock), and only the capture kernel's boot and disk read are judged.
kPcieFaultScenarios = ('fault', 'limbo-mce')


kPcieStateUntimed = ('limbo-mce',)


def abandoned_without_totals(run, limbo_msgs):
  """An abandoned PCIe phase prints no totals, and the report says
  pcie:fault instead of the counts."""
  errors = []
  if any(m.startswith('limbo: pcie reset ') for m in limbo_msgs):
    errors.append('the PCIe phase printed its totals: it was not abandoned')
  cmdline = capture_cmdline(run)
  report = parse_limbo_report(cmdline) if cmdline else None
  if report is None or report[1].get('pcie') != 'fault' or 'reset' in report[1]:
    errors.append(f'the report does not say the PCIe phase faulted: {cmdline!r}')
  return errors


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
  return errors + abandoned_without_totals(run, limbo_msgs)


kMcgStatusLine = re.compile(r'^limbo: machine check: MCG_STATUS 0x([0-9a-f]+) \(RIPV (\d), EIPV (\d), '
                            r'MCIP (\d)\), (\d+) banks, (\d+) valid$')


def judge_limbo_mce(run, limbo_msgs):
  """The monitor's `mce` (bank 1, VAL|UC|EN, MCG_STATUS RIPV|MCIP)
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
  """Ud2 in the PCIe phase with the ports in reset, after the image
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
  return errors + abandoned_without_totals(run, limbo_msgs)


kNestedExceptionLine = re.compile(r'^limbo: EXCEPTION vector (\d+) rip 0x[0-9a-f]+ inside the fault handler$')


def judge_fault_handler(run, limbo_msgs, ms):
  """A fault inside the fault handler (the TEST-ONLY build's
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
  """Ud2 before the image is verified: the diagnosis, then
  --on-fault: reboot (default; QEMU exits under -no-reboot) or halt."""
  errors = judge_exception_in_limbo(texts, limbo_msgs, 'verify')
  halt = run.scenario.name.endswith('-halt')
  wanted = ('limbo: halting: fault in the verify phase (--on-fault=halt); not jumping' if halt
            else 'limbo: rebooting: fault in the verify phase (--on-fault=reboot); not jumping')
  if wanted not in limbo_msgs:
    errors.append(f'no "{wanted}" line')
  elif run.scenario.name.endswith('-overlap'):
    # Under overlap the ports were put in reset before the hash started:
    # the diagnosis says so, between the exception and the decision.
    reset = [i for i, m in enumerate(limbo_msgs)
             if m.startswith('limbo: pcie: order overlap: 2 ports reset (2 endpoints below), ')
             and m.endswith('none restored')]
    exception = next((i for i, m in enumerate(limbo_msgs) if m.startswith('limbo: EXCEPTION')), None)
    if not reset:
      errors.append('no "limbo: pcie: order overlap: 2 ports reset (2 endpoints below), ... '
                    'none restored" line: the fault report does not say the ports were reset')
    elif exception is None or not exception < reset[0] < limbo_msgs.index(wanted):
      errors.append('the ports-reset line is not between the exception and the decision')
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
  """One damaged segment, named by role; then halt or reboot."""
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
