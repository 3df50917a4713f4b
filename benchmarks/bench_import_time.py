"""Import time of the inference entry points (issue 15 item 3).

Measures, for ``quakesynth generate --help`` and for ``quakesynth.load_model("default")``:

- the total import time reported by ``python -X importtime`` (the sum of every module's
  ``self`` time, which equals the sum of the top-level modules' ``cumulative`` times), in ms;
- the wall time and the CPU time (user + system) of the whole process (a run without
  ``-X importtime``), in ms; on a shared machine the CPU time is the steadier figure;
- the number of modules imported, and whether Lightning (``lightning`` or
  ``pytorch_lightning``) was among them.

Each figure is the median of ``--repeat`` runs. ``--src DIR`` measures another checkout
(``PYTHONPATH=DIR``), e.g. a ``git worktree`` of the commit before a change::

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/bench_import_time.py --src /tmp/qs-before/src
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

CASES = {
    "quakesynth generate --help": (
        "import sys; sys.argv = ['quakesynth', 'generate', '--help']\n"
        "from quakesynth.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"),
    'load_model("default")': "import quakesynth; quakesynth.load_model('default')\n",
}
_PROBE = ("\nimport sys as _s\n"
          "print('MODULES', len(_s.modules), any(m.split('.')[0] in ('lightning', 'pytorch_lightning') "
          "for m in _s.modules), file=_s.stderr)\n")


def _env(src: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_case(code: str, src: str | None, repeat: int) -> dict[str, float]:
    """Median import time (ms), wall time (ms), module count and Lightning flag of ``code``."""
    env = _env(src)
    imp, wall, cpu, mods, light = [], [], [], [], False
    for _ in range(repeat):
        p = subprocess.run([sys.executable, "-X", "importtime", "-c", code + _PROBE], env=env,
                           capture_output=True, text=True, check=True)
        total = 0
        for line in p.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "self" not in line:
                total += int(line.split(":", 1)[1].split("|")[0])
            elif line.startswith("MODULES"):
                _, n, flag = line.split()
                mods.append(int(n))
                light = light or flag == "True"
        imp.append(total / 1e3)
        r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1e3)
    return {"import_ms": statistics.median(imp), "wall_ms": statistics.median(wall), "cpu_ms": statistics.median(cpu),
            "modules": statistics.median(mods), "lightning": light}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", help="the src/ folder of the checkout to measure (default: the installed one)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("| command | import time (ms, -X importtime total) | wall (ms) | CPU (ms) | modules | lightning imported |")
    print("|---|---:|---:|---:|---:|---|")
    for name, code in CASES.items():
        r = run_case(code, args.src, args.repeat)
        print(f"| `{name}` | {r['import_ms']:.0f} | {r['wall_ms']:.0f} | {r['cpu_ms']:.0f} | {r['modules']:.0f} | "
              f"{'yes' if r['lightning'] else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
