# SPDX-License-Identifier: GPL-2.0-only
"""Reading a run's console: the milestones (panic, purgatory, capture
kernel, capture init), Limbo's report, the capture kernel's command line,
the host-clock timings, and the device-state lines that the capture init
prints before any driver binds."""

import dataclasses
import re

from harness.console import kPanicMarkers


kStockPurgatoryLine = "I'm in purgatory"  # kexec-tools purgatory/purgatory.c


kKernelBanner = 'Linux version '


kLimboPrefix = 'limbo:'


kLimboReport = re.compile(r'(?:^|\s)limbo=(\S+)')


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


kNvmeState = re.compile(r'^CAPTURE: nvme (\S+) .*bus_master=(\d) cc\.en=(\d) '
                        r'csts\.rdy=(\d)')


kE1000eState = re.compile(r'^CAPTURE: e1000e (\S+) .*bus_master=(\d) '
                          r'rctl\.en=(\d)')


kCaptureBars = re.compile(r'^CAPTURE: bars (\S+) ?(.*)$')


kVirtioState = re.compile(r'^CAPTURE: virtio (\S+) .*status=(\S+) bus_master=(\d) '
                          r'status\.zero=(\d)')


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
