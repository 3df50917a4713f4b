"""Assemble benchmarks/RESULTS.md from the per-area sections in benchmarks/results/.

Each area keeps its measured figures in ``benchmarks/results/<area>.md`` (written by the
person who ran the benchmark); this script puts them into one file, in issue order, with
headings shifted one level down. Run: ``python benchmarks/merge_results.py``.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
ORDER = [  # (file, issue)
    ("data.md", "issue 2, foundation"),
    ("metrics.md", "issue 3, metrics"),
    ("gmm.md", "issue 3, GMMs and ims"),
    ("simulate.md", "issue 4, stochastic method"),
    ("highfem_core.md", "issue 5, HighFEM core"),
    ("highfem_train.md", "issue 5, HighFEM speed and training"),
    ("generate.md", "issue 6, generation"),
    ("evaluate.md", "issue 7, evaluate"),
    ("physics.md", "issue 8, physics-guided"),
    ("sitegen.md", "issue 9, site-specific"),
    ("calibration.md", "issue 13, simulator calibration"),
    ("reliability.md", "issue 14, reliability"),
    ("restructure.md", "issue 15, restructuring"),
    ("hub.md", "issue 16, published-model pull"),
    ("physics_training.md", "issue 17, physics-guided training"),
    ("default_model.md", "issue 18, default model"),
    ("site_archives.md", "issue 19, site-specific on real archives"),
    ("archives.md", "issue 20, evaluation on real archives"),
]

INTRO = """# Benchmark results

Every section names its machine, command and date. Unless a section says otherwise the machine
is the development machine: 2 CPU cores (x86-64, AVX2, no AVX-512), 24 GiB RAM, no GPU,
Python 3.11.7, torch 2.13.0+cpu. **On 2026-11-21 every measurement was taken while several
jobs shared those 2 cores (load average 4-14)**, so wall-clock rates are pessimistic, often
by 3-4x; the CPU-time columns and the ratios measured side by side in one run (ours against
the reference library) are the reliable figures. No GPU was lent to this task, so no GPU
figure appears yet.

Sections are assembled by `python benchmarks/merge_results.py` from `benchmarks/results/`.
"""


def main() -> None:
    parts = [INTRO]
    for name, issue in ORDER:
        p = HERE / "results" / name
        if not p.exists():
            continue
        lines = p.read_text().rstrip().splitlines()
        out = []
        fenced = False
        for line in lines:
            if line.startswith("```"):
                fenced = not fenced
            if line.startswith("#") and not fenced:  # a heading, not a comment in a code block
                line = "#" + line
                if not out:
                    line = f"{line} ({issue})"
            out.append(line)
        parts.append("\n".join(out))
    (HERE / "RESULTS.md").write_text("\n\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
