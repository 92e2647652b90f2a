"""Run a command and write its wall time, CPU time and peak RSS as JSON: `measure_child.py OUT CMD...`.

Why a process of its own: Linux counts, in a child's peak RSS, the memory it had before its
exec, which is its parent's (a fork is a copy). Measured straight from benchmarks/run.py, which
by then holds plans of its own, a plan's "peak RSS" was the benchmark's: 1,400 MiB for a plan
whose own peak was 1,000. This script is small when it forks, so the figure is the command's.
Standard library only, and nothing imported that it does not need.
"""

import json
import os
import sys
import time


def main() -> int:
    out, command = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)  # exec failed
    _pid, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({"wall": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                   "peak_rss_mib": usage.ru_maxrss / 1024}, handle)  # ru_maxrss is in KiB on Linux
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
