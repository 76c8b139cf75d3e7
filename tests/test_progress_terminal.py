"""On a terminal the progress bar survives the JVM's output: a JVM line is printed on its own line
above the bar, which is redrawn below it (a child process on a pseudo-terminal, real Spark)."""
from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JVM_LINE = "JVM-SAYS-HELLO"

# Starts the JVM before the bar, as `mq backfill` does; the JVM prints while the bar is drawn, then
# the child waits for a line on stdin (sent once the JVM's line has reached the terminal).
CHILD = textwrap.dedent(f"""
    import sys
    from mq.progress import progress
    from mq.spark import get_spark
    spark = get_spark(master="local[1]")
    with progress(2, "backfill") as bar:
        bar.update(1, "2026-08-01")
        spark.sparkContext._jvm.java.lang.System.err.println("{JVM_LINE}")
        sys.stdin.readline()
        bar.update(1, "2026-08-02")
""")


def _read_until(fd: int, needle: bytes, out: bytearray, deadline_s: float = 600) -> bool:
    """Read the terminal into `out` until `needle` appears (True) or the child closes it (False)."""
    while needle not in out:
        ready, _, _ = select.select([fd], [], [], deadline_s)
        if not ready:
            return False
        try:
            chunk = os.read(fd, 4096)
        except OSError:        # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        out += chunk
    return True


def test_jvm_output_does_not_break_the_progress_bar(tmp_path):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))   # a 100-column terminal
    env = {**os.environ, "PYTHONPATH": str(REPO), "MQ_SPARK_DRIVER_MEMORY": "512m"}
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=slave, stdout=slave, stderr=slave,
                             cwd=tmp_path, env=env, close_fds=True)
    os.close(slave)
    out = bytearray()
    try:
        saw_line = _read_until(master, JVM_LINE.encode(), out)
        # The line is relayed to the terminal and the bar redrawn below it by another thread: wait for
        # the redrawn bar (still at 1/2) before letting the child go on, or the next update can win.
        if saw_line:
            below = bytearray(out[out.index(JVM_LINE.encode()):])
            _read_until(master, b"1/2", below, deadline_s=60)
            out += below[len(out) - out.index(JVM_LINE.encode()):]
        os.write(master, b"\n")
        _read_until(master, b"2/2", out)
        _read_until(master, b"\x00", out, deadline_s=30)   # the rest, until the child exits
    finally:
        child.wait(timeout=120)
        os.close(master)
    text = out.decode(errors="replace")
    assert saw_line, text[-3000:]
    assert child.returncode == 0, text[-3000:]
    # A terminal line is what sits between carriage returns / newlines: the JVM's line stands alone,
    # not glued to the bar it interrupted.
    segments = [s.strip() for s in re.split(r"[\r\n]", text)]
    assert JVM_LINE in segments, [s for s in segments if JVM_LINE in s]
    # ...and the bar goes on below it.
    after = text[text.index(JVM_LINE):]
    assert re.search(r"backfill:\s+50%.*1/2", after) and re.search(r"backfill:\s+100%.*2/2", after), after
