# SPDX-License-Identifier: GPL-2.0-only
"""One scenario end to end (image, boot, judgement), and a run read back
from its serial log for re-judging."""

import os
import re
import sys

from harness.console import Line, Run, kOverallTimeoutS
from harness.judges import judge_checks
from harness.machine import boot
from harness.scenarios import ensure_image, kScenarios


def run_scenario_checks(name, build, echo=sys.stdout, log_name=None, scenario=None):
  """Builds the image, boots, judges. Returns (run, named checks), or (None,
  why) when the image could not be built. `scenario`: kScenarios[name]
  changed (limbo-panic-test's --accel), else kScenarios[name]."""
  scenario = scenario or kScenarios[name]
  print(f'harness: scenario {name}: {scenario.description}', file=echo or
        sys.stdout, flush=True)
  paths = ensure_image(build, scenario, out=echo or sys.stdout)
  if paths is None:
    return None, (f'could not build the guest image {scenario.image} '
                  '(see the make output above)')
  kernel, initrd = paths[:2]
  disk = paths[2] if len(paths) > 2 else None
  log_path = os.path.join(os.path.abspath(build), 'qemu', 'logs',
                          (log_name or name) + '.log')
  run = boot(scenario, kernel, initrd, log_path, echo=echo, disk=disk,
             overall_timeout=scenario.timeout_s or kOverallTimeoutS)
  return run, judge_checks(run)


def run_scenario(name, build, echo=sys.stdout, log_name=None):
  """Builds the image, boots, judges. Returns (run or None, errors)."""
  run, checks = run_scenario_checks(name, build, echo, log_name)
  if run is None:
    return None, [checks]
  return run, [f for c in checks for f in c.failures]


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
