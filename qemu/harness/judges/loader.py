# SPDX-License-Identifier: GPL-2.0-only
"""Judges of the loader's safety: bad loads keep the loaded crash kernel,
the load loop, the tight reservation, lockdown and the stock fallback."""

import re

from harness.reading import capture_cmdline


# Safety: each bad load the guest tries, a pattern its one line
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


def capture_kernel_cmdlines(run, ms, errors):
  """The capture kernel's "Command line:" lines (its own printk, for runs
  whose capture init cannot run); what is missing goes to errors."""
  if ms.capture_kernel is None:
    errors.append('the capture kernel did not start (no "Linux version" after the panic)')
  after = [l.message for l in run.lines[(ms.panic or 0):]]
  cmdlines = [m for m in after if m.startswith('Command line: ')]
  if not cmdlines:
    errors.append('no capture kernel "Command line:" line')
  return cmdlines


def judge_tight(run, texts, limbo_msgs, ms):
  """The first capture kernel is the one started: verified, jumped to, its
  banner and command line (limbo.first=1, the limbo= report) on the console."""
  errors = []
  if 'GUEST: status after-none rc=0: loaded through Limbo' not in texts:
    errors.append('--status after the refused load (fallback none) does not say "loaded through Limbo" (exit 0)')
  for needed in ('limbo: sha256: ok', 'limbo: jumping to 0x'):
    if not any(m.startswith(needed) for m in limbo_msgs):
      errors.append(f'no "{needed}" line')
  cmdlines = capture_kernel_cmdlines(run, ms, errors)
  if cmdlines and ('limbo.first=1' not in cmdlines[0] or 'limbo.second' in cmdlines[0]
                   or 'limbo=v3,verify:ok' not in cmdlines[0]):
    errors.append(f'the capture kernel is not the first one loaded, verified: {cmdlines[0]!r}')
  if run.end_reason == 'timeout':
    errors.append('overall timeout')
  return errors


# The refusal both fallback runs start from, as the plugin words it.
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
  cmdlines = capture_kernel_cmdlines(run, ms, errors)
  if cmdlines and ('limbo.second=1' not in cmdlines[0] or 'limbo=' in cmdlines[0]):
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
