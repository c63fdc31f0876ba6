"""Peak memory of this process, measured so that a child does not inherit its parent's.

``getrusage(...).ru_maxrss`` of a process started by ``subprocess`` (vfork + exec) starts at
its parent's peak: a child of a pytest process that priced 10 M lines in-process reports the
parent's gigabytes. ``VmHWM`` in ``/proc/self/status`` is the high-water mark of this process's
own memory since it started its program.

Run as a script, it runs ``pricer`` with the given arguments in this process and then prints
its peak (bytes) on the last line of stderr: ``python benchmarks/peak.py reprice IN -o OUT``.
"""
from __future__ import annotations

import sys


def peak_rss_bytes() -> int:
    """High-water mark of this process's resident memory (bytes)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


PREFIX = "peak_rss_bytes="


def peak_of_stderr(text: str) -> int:
    """The peak a ``peak.py`` child printed on stderr."""
    lines = [ln for ln in text.splitlines() if ln.startswith(PREFIX)]
    return int(lines[-1][len(PREFIX):])


if __name__ == "__main__":
    from pricer.cli import main
    code = main(sys.argv[1:])
    print(f"{PREFIX}{peak_rss_bytes()}", file=sys.stderr)
    sys.exit(code)
