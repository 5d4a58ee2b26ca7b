"""ops/bench/cpu_profile.py OUT.pstats -m MODULE [ARGS...]: run a module under cProfile, timed by CPU, not wall.

``python -m cProfile`` times with the wall clock, so a stage's event loop
waiting in epoll counts as the loop's own time and the shares say where the
process waited, not where it spent CPU. This wrapper gives cProfile
``time.process_time`` instead and writes the statistics when the module
exits (a stage exits on SIGTERM after finishing its in-flight work).
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    out, module = sys.argv[1], sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    profile = cProfile.Profile(time.process_time)
    code = 0
    try:
        profile.runcall(runpy.run_module, module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        profile.dump_stats(out)
    return code


if __name__ == "__main__":
    sys.exit(main())
