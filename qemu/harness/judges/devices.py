# SPDX-License-Identifier: GPL-2.0-only
"""Judges of device state: what the first kernel left running (NVMe, e1000e,
virtio), what Limbo reset, stopped or skipped on the fabric and flat
topologies, the overlapped order, and what the capture kernel found."""

import re

from harness.judges.faults import kPcieFaultScenarios, kPcieStateUntimed
from harness.machine import disk_pattern_md5, kFlatRoles
from harness.reading import (
    capture_cmdline, kCaptureBars, kE1000eState, kNvmeState, kVirtioState,
    parse_limbo_report)


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
  """overlap-fabric: the order on the plan and the console, the
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
  """overlapdamage-fabric: under overlap a damaged image finds
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


kFabricRoles = ('nvme', 'e1000e', 'display', 'conventional')


# The roles Limbo resets (an endpoint alone below its root port) and the ones
# its policy leaves alone (a display device; a conventional PCI function).
kFabricReset = ('nvme', 'e1000e')


# Each role Limbo does not reset and the start of what it prints for it
# (purgatory/lib/pcie/quiesce.h print_decision): the display is skipped; the
# conventional PCI function, which no reset reaches, is stopped.
kFabricSkipped = {'display': 'skip display',
                  'conventional': 'stop by bus master off (conventional pci)'}


def pcie_line(limbo_msgs, bdf):
  """Limbo's console line for one function: `limbo: pcie BDF ...`."""
  for m in limbo_msgs:
    if m.startswith(f'limbo: pcie {bdf} '):
      return m
  return None


def judge_fabric(run, texts, limbo_msgs):
  """The fabric topology: what the first kernel drove and named, what the
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

  # excludeid-fabric excludes the e1000e by its ID: Limbo must not
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
      # The abandoned phase restored nothing: the capture kernel
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
  """The flat topology: the first kernel drove all four functions;
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
