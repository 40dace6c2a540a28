# SPDX-License-Identifier: GPL-2.0-only
"""The serial console of one QEMU run: QEMU started with its serial port on
a pipe, each line timestamped on the host as its first printable byte
arrives, echoed and logged, the run ended by the guest (QEMU exits) or by a
limit (overall time, silence), HMP monitor commands sent when a given line
arrives.

Every QEMU run of the project goes through run_serial(): Limbo's scenarios
(harness.machine.boot), limbo-panic-test and the kdump-tools runner.
"""

import dataclasses
import os
import re
import select
import signal
import subprocess
import sys
import time


# Serial markers. Kernel lines carry a "[    4.286132] " printk time prefix.
kPrintkPrefix = re.compile(r'^\[\s*\d+\.\d+\]\s?')
kPanicMarkers = ('sysrq: Trigger a crash', 'Kernel panic - not syncing')


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
  scenario: object              # what was booted (harness.scenarios.Scenario)
  lines: list
  t_start: float
  t_end: float
  exit_code: int | None        # QEMU's, None when the harness killed it
  end_reason: str              # 'exited', 'silent-after-halt',
                               # 'silent-after-panic', 'silent', 'timeout'
  log_path: str
  command: list
  monitor_sent: list = dataclasses.field(default_factory=list)  # (t, prefix, command)


# Terminal control sequences (SeaBIOS clears the screen; OVMF sets modes with
# "ESC [=3h") and other controls: a CSI is ESC [, parameter bytes 0x30-0x3f,
# intermediate bytes 0x20-0x2f, one final byte 0x40-0x7e (ECMA-48 §5.4).
kAnsiEscape = re.compile(r'\x1b(?:\[[0-?]*[ -/]*[@-~]|[^\[])')


def printable(raw):
  text = kAnsiEscape.sub('', raw.decode('utf-8', errors='replace'))
  return ''.join(c for c in text if c == '\t' or c >= ' ')


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
        return sent, printable(reply).replace('(qemu)', '').strip()
    except OSError:
      time.sleep(0.02)
  return time.monotonic(), 'no monitor connection'



@dataclasses.dataclass(frozen=True)
class Limits:
  """What ends a run that QEMU does not end itself (None: not applied)."""
  overall_s: float = kOverallTimeoutS
  silence_after_halt_s: float | None = kSilenceAfterHaltS  # after 'limbo: halting'
  silence_after_panic_s: float | None = kSilenceAfterPanicS  # after a panic line
  silence_s: float | None = None                          # at any point


def run_serial(cmd, log_path, echo=sys.stdout, limits=Limits(), monitor=None,
               monitor_at=(), scenario=None):
  """Runs QEMU (`cmd`, its serial port on stdio), timestamps each serial line
  as it arrives, ends the run.

  Echoes every line as "[+seconds] text" to `echo` (None: silent) and the
  same to log_path, which is kept whatever the outcome. monitor_at: (console
  message prefix, HMP command) pairs, each sent once to the monitor socket
  `monitor` as soon as a line whose message starts with the prefix arrives.
  """
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  pending = list(monitor_at)
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
    line = Line(t, printable(raw))
    lines.append(line)
    out = f'[{t - t_start:8.3f}] {line.text}'
    log.write(out + '\n')
    log.flush()
    if echo is not None:
      print(out, file=echo, flush=True)
    return line

  def silent_for(limit):
    return limit is not None and now - last_output > limit

  try:
    while True:
      now = time.monotonic()
      if now - t_start > limits.overall_s:
        end_reason = 'timeout'
        break
      if halted_at is not None and silent_for(limits.silence_after_halt_s):
        end_reason = 'silent-after-halt'
        break
      if panicked and silent_for(limits.silence_after_panic_s):
        end_reason = 'silent-after-panic'
        break
      if silent_for(limits.silence_s):
        end_reason = 'silent'
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
        if partial_t is None or not printable(partial):
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
