"""Deprecated alias: ``python -m quakesynth.physics.run KIND ...`` is ``quakesynth train KIND ...``
(kinds ``surrogate``, ``refiner``, ``broadband``; the options are the same, ``--corpus`` is
``--data``). Kept so that existing scripts and run folders keep working; it prints a notice and
forwards to :mod:`quakesynth.cli.train`, with one torch thread unless ``--threads`` is given, as
before.
"""

from __future__ import annotations

import sys

KINDS = ("surrogate", "refiner", "broadband")


def main(argv: list[str] | None = None) -> int:
    """Forward to ``quakesynth train``; returns its exit status (0 ok, 2 bad input)."""
    from quakesynth.cli.main import main as cli_main

    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in KINDS:
        print(f"note: `python -m quakesynth.physics.run {args[0]}` is deprecated; use `quakesynth train {args[0]}`",
              file=sys.stderr)
        if not any(a == "--threads" or a.startswith("--threads=") for a in args):
            args += ["--threads", "1"]
    elif args and not args[0].startswith("-"):
        print(f"error: unknown physics model {args[0]!r}; one of {', '.join(KINDS)}", file=sys.stderr)
        return 2
    return cli_main(["train", *args])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
