#!/usr/bin/env python3
"""Dashboard start-up and idle cost, measured on the real binary in a pseudo-terminal.

- first frame: time from spawning `az-os` until the screen shows the input pane
  (target: 50 ms);
- idle: with nothing happening for 10 s, how many times the screen is written to
  and how much CPU the process uses (targets: zero draws, ~0% CPU). Run twice:
  with the default 1 Hz health sampler (it redraws only when a shown value changes)
  and with sampling slowed to once a minute.

Usage: scripts/bench-tui.py [path/to/az-os]
"""
import os
import pty
import select
import signal
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/az-os/target")), "release", "az-os")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def run(config, idle_s=10.0):
    home = tempfile.mkdtemp(prefix="az-os-bench-")
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write(config)
    env = dict(os.environ, AZ_OS_HOME=home, TERM="xterm-256color", COLUMNS="120", LINES="40")
    env.pop("NO_COLOR", None)
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(BIN, [BIN], env)
    import fcntl, struct, termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    seen = b""
    first = None
    while first is None and time.perf_counter() - start < 5:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            chunk = os.read(fd, 65536)
            seen += chunk
            if b"New task" in seen:
                first = (time.perf_counter() - start) * 1000
    # Let start-up work (loading, first health sample) settle.
    settle_end = time.perf_counter() + 2.5
    while time.perf_counter() < settle_end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            os.read(fd, 65536)
    cpu0 = cpu_seconds(pid)
    writes = 0
    bytes_ = 0
    end = time.perf_counter() + idle_s
    while time.perf_counter() < end:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.perf_counter()))
        if r:
            chunk = os.read(fd, 65536)
            writes += 1
            bytes_ += len(chunk)
    cpu = cpu_seconds(pid) - cpu0
    os.write(fd, b"\x03")
    time.sleep(0.1)
    os.write(fd, b"\x03")
    deadline = time.time() + 5
    status = None
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        try:
            while select.select([fd], [], [], 0.05)[0]:
                os.read(fd, 65536)
        except OSError:
            pass
    else:
        os.kill(pid, signal.SIGKILL)
    return first, writes, bytes_, cpu / idle_s * 100


def main():
    for label, config in [
        ("health sampler at 1 Hz", ""),
        ("health sampler at 1/min", "[health]\nsample_interval_ms = 60000\n"),
    ]:
        first, writes, nbytes, cpu = run(config)
        print(f"{label}: first frame {first:.1f} ms; idle 10 s: {writes} screen writes "
              f"({nbytes} bytes), CPU {cpu:.2f}% of one core")


if __name__ == "__main__":
    main()
