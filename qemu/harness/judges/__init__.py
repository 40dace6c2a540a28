# SPDX-License-Identifier: GPL-2.0-only
"""Judging a run: judge() checks what every scenario shares (the load, the
panic, the purgatory's lines, verification, the capture kernel) and hands
the rest to the scenario's own judge: loader safety (judges.loader), faults,
NMIs, machine checks and damaged images (judges.faults), device state
(judges.devices), the log node (judges.record)."""

import dataclasses

from harness.console import kSilenceAfterPanicS
from harness.judges.devices import (
    judge_fabric, judge_flat, judge_nvme, judge_overlap, judge_overlap_damage)
from harness.judges.faults import (
    judge_damage, judge_fault_handler, judge_fault_pcie, judge_fault_verify,
    judge_limbo_mce, judge_limbo_nmi, judge_stock_nmi, kNmiWindows)
from harness.judges.loader import (
    judge_fallback, judge_lockdown, judge_safety, judge_tight, judge_tightstock,
    kTightBadLoads)
from harness.judges.record import judge_record
from harness.reading import (
    capture_cmdline, kStockPurgatoryLine, milestones, parse_limbo_report)
from harness.scenarios import kDamageScenarios, kNoCaptureOnFabric


@dataclasses.dataclass
class Check:
  """One named check of a run: what it looked at when it held (`witness`,
  a console line where there is one) and each assertion that failed."""
  name: str
  witness: str = ''
  failures: list = dataclasses.field(default_factory=list)

  @property
  def passed(self):
    return not self.failures


def pcie_tally(limbo_msgs):
  """Limbo's one-line PCIe tally ("limbo: pcie reset 2 stop 3 skip 3 ...")."""
  return next((m for m in limbo_msgs if m.startswith('limbo: pcie reset ')), '')


def judge(run):
  """Returns the list of failed assertions (empty: PASS)."""
  return [f for c in judge_checks(run) for f in c.failures]


def judge_checks(run):
  """The run's named checks, in the order of the panic path: what every
  scenario shares (load, panic, purgatory, verify, capture kernel, vmcore,
  capture init, power-off), then the scenario's own judges, each a check
  named after what it judges."""
  sc = run.scenario
  checks = {}

  def check(name, witness=''):
    """The failure list of check `name`, which this run now has."""
    c = checks.setdefault(name, Check(name))
    if witness and not c.witness:
      c.witness = witness
    return c.failures

  if sc.name == 'lockdown':
    check('lockdown').extend(judge_lockdown(run))
    return list(checks.values())
  lines = run.lines
  ms = milestones(run)
  texts = [l.text for l in lines]
  messages = [l.message for l in lines]

  def has(pred):
    return any(pred(t) for t in texts)

  def first(prefix):
    return next((t for t in texts if t.startswith(prefix)), '')

  load = [t for t in texts if t.startswith('GUEST: load rc=')]
  errors = check('load', load[0] if load else '')
  if not load:
    errors.append('the guest never reported its load (no "GUEST: load rc=")')
  elif load[0] != 'GUEST: load rc=0 kexec_crash_loaded=1':
    output = [t for t in texts if t.startswith('GUEST: | ')]
    errors.append(f'load failed: "{load[0]}"; its output: ' +
                  (' / '.join(o[9:] for o in output[-8:]) or '(none)'))
  errors = check('panic', texts[ms.panic] if ms.panic is not None else '')
  if ms.panic is None:
    errors.append('no panic on the console (sysrq-c line missing)')

  limbo_msgs = [messages[i] for i in ms.limbo_lines]
  stock_seen = any(m.startswith(kStockPurgatoryLine)
                   for m in messages[(ms.panic or 0):])

  errors = check('purgatory', next((m for m in limbo_msgs if m.startswith('limbo: Limbo purgatory')),
                                    kStockPurgatoryLine if stock_seen else ''))
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
      errors = check('verify', next((m for m in limbo_msgs if m.startswith('limbo: sha256: ok')), ''))
      if not any(m.startswith('limbo: sha256: ok') for m in limbo_msgs):
        errors.append('no "limbo: sha256: ok" line')
      if any('MISMATCH' in m for m in limbo_msgs):
        errors.append('Limbo reported a digest mismatch')
      if not any(m.startswith('limbo: report "') for m in limbo_msgs):
        errors.append('no "limbo: report" line')
      if not any(m.startswith('limbo: jumping to 0x') for m in limbo_msgs):
        errors.append('no "limbo: jumping to 0x..." line')
      # QEMU's TCG has no SHA extensions, so the portable engine
      # runs; the plugin's per-segment checks turn the fill into a scan.
      if 'limbo: sha256: portable' not in limbo_msgs:
        errors.append('no "limbo: sha256: portable" line (TCG has no SHA-NI)')
      if not any(m.startswith('limbo: sha256: ok (') and 'zero fill scanned' in m
                 for m in limbo_msgs):
        errors.append('the per-segment check did not run (no "zero fill '
                      'scanned" in the sha256: ok line)')
      if not any(m.startswith('limbo: times: verify ') for m in limbo_msgs):
        errors.append('no "limbo: times: verify ..." line')
    errors = check('capture-kernel',
                   texts[ms.capture_kernel] if ms.capture_kernel is not None else '')
    if ms.capture_kernel is None:
      errors.append('the capture kernel did not boot (no "Linux version" '
                    'after the panic)')
    errors = check('vmcore', first('CAPTURE: vmcore ELF64 ok'))
    if not has(lambda t: t.startswith('CAPTURE: vmcore ELF64 ok')):
      bad = [t for t in texts if t.startswith('CAPTURE: vmcore')]
      errors.append('/proc/vmcore is not an ELF64 core: ' +
                    (bad[0] if bad else 'no "CAPTURE: vmcore" line'))
    cmdline = capture_cmdline(run)
    errors = check('capture-init', f'capture command line {cmdline!r}' if cmdline else '')
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
    errors = check('power-off', first('CAPTURE: powering off'))
    if run.end_reason != 'exited' or run.exit_code != 0:
      errors.append(f'the VM did not power off by itself (end: '
                    f'{run.end_reason}, QEMU exit code {run.exit_code})')
    elif not has(lambda t: t.startswith('CAPTURE: powering off')):
      errors.append('QEMU exited without the capture init powering off')
  elif sc.name in kDamageScenarios:
    check('damaged-image').extend(judge_damage(run, limbo_msgs, ms))
  elif sc.name in ('fault-verify', 'fault-verify-halt', 'fault-verify-overlap'):
    check('fault-in-verify').extend(judge_fault_verify(run, texts, limbo_msgs, ms))
  elif sc.name == 'fault-handler':
    check('fault-in-handler').extend(judge_fault_handler(run, limbo_msgs, ms))
  elif sc.name == 'tight':
    check('tight-reservation').extend(judge_tight(run, texts, limbo_msgs, ms))
  elif sc.name in ('stock-nmi', 'stock-mce'):
    check('stock-triple-fault').extend(judge_stock_nmi(run, ms))
  elif sc.name == 'tightstock':
    check('tight-reservation').extend(judge_tightstock(run, texts, ms))
  else:
    errors = check('digest-mismatch-halts',
                   next((m for m in limbo_msgs if m.startswith('limbo: sha256: MISMATCH')), ''))
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
    check('nmi').extend(judge_limbo_nmi(run, limbo_msgs))
  if sc.name == 'fault':
    check('fault-in-pcie').extend(judge_fault_pcie(run, texts, limbo_msgs))
  if sc.name == 'limbo-mce':
    check('machine-check').extend(judge_limbo_mce(run, limbo_msgs))
  if sc.name == 'safety':
    check('bad-loads').extend(judge_safety(run, texts))
  if sc.name == 'tight':
    check('bad-loads').extend(judge_safety(run, texts, kTightBadLoads, loop=False))
  if sc.name == 'fallback':
    check('fallback').extend(judge_fallback(run, texts))
  if sc.name == 'readymin-fabric':
    errors = check('ready-timeout')
    if not any(t.startswith('GUEST: | limbo: pcie: mode reset, settle ') and
               t.endswith(', ready timeout 1 ms') for t in texts):
      errors.append('the plugin did not report "ready timeout 1 ms": the minimum was not used')
  if sc.name.startswith('record'):
    check('log-node').extend(judge_record(run, texts, limbo_msgs))
  if sc.name == 'overlap-fabric':
    check('overlap-order', next((m for m in limbo_msgs if m.startswith('limbo: pcie: order overlap')), '')
          ).extend(judge_overlap(texts, limbo_msgs))
  if sc.name == 'overlapdamage-fabric':
    check('overlap-order', next((m for m in limbo_msgs if m.startswith('limbo: pcie: order overlap')), '')
          ).extend(judge_overlap_damage(limbo_msgs))
  if sc.devices in ('nvme', 'fabric') and sc.name not in kNoCaptureOnFabric:
    check('nvme-state', first('CAPTURE: nvme ')).extend(judge_nvme(run, texts))
  if sc.devices == 'fabric' and sc.name not in kNoCaptureOnFabric:
    check('fabric-devices', pcie_tally(limbo_msgs)).extend(judge_fabric(run, texts, limbo_msgs))
  if sc.devices == 'flat':
    check('flat-devices', pcie_tally(limbo_msgs)).extend(judge_flat(run, texts, limbo_msgs))
  # The OVMF scenarios must really have run the first kernel on UEFI (a
  # missing pflash would fall back to SeaBIOS and pass unnoticed).
  if sc.firmware == 'ovmf':
    errors = check('firmware', 'GUEST: firmware uefi' if 'GUEST: firmware uefi' in texts else '')
  if sc.firmware == 'ovmf' and 'GUEST: firmware uefi' not in texts:
    seen = [t for t in texts if t.startswith('GUEST: firmware')]
    errors.append('the first kernel did not run on UEFI: ' +
                  (seen[0] if seen else 'no "GUEST: firmware" line'))
  if sc.cpus > 1:
    wanted = f'GUEST: cpus online 0-{sc.cpus - 1}'
    errors = check('cpus', wanted if wanted in texts else '')
    if wanted not in texts:
      seen = [t for t in texts if t.startswith('GUEST: cpus online')]
      errors.append(f'the first kernel did not run {sc.cpus} CPUs: ' +
                    (seen[0] if seen else 'no "GUEST: cpus online" line'))
  errors = check('end', f'end {run.end_reason}, QEMU exit code {run.exit_code}')
  if run.end_reason == 'silent-after-panic' and sc.name not in ('tight', 'tightstock'):
    errors.append(f'no console output for {kSilenceAfterPanicS:.0f} s after '
                  'the panic: hung; QEMU killed, log kept')
  if run.end_reason == 'timeout':
    errors.append(f'overall timeout ({run.t_end - run.t_start:.0f} s): the '
                  'guest hung; QEMU killed, log kept')
  return list(checks.values())
