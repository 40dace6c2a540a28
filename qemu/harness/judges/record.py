# SPDX-License-Identifier: GPL-2.0-only
"""The judge of Limbo's log node: the capture kernel reads it from
setup_data and `limbo-kexec --report` reproduces the console line for
line."""

import json
import re

from harness.reading import capture_cmdline, parse_limbo_report


kLogNodeType = '0x6f626d4c'  # purgatory/abi/limbo_abi.h kSetupDataLimboLog


kConsoleFunction = re.compile(r'^limbo: pcie (?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) '
                              r'(?P<id>[0-9a-f]{4}:[0-9a-f]{4}) class (?P<cls>[0-9a-f]{6}) (?P<decision>.*)$')


def record_report(texts):
  """The capture init's `limbo-kexec --report --json`: its exit
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
  """The capture kernel's `limbo-kexec --report --json` against
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
