"""``quakesynth models``: the available models and their conditioning ranges."""

from __future__ import annotations

import json
import math

import click


def model_infos() -> list[dict]:
    """``Generator.info()`` of every registered model; models that cannot be loaded here get
    ``{"name", "summary", "error"}`` instead."""
    from quakesynth.generate import available_models, load_model

    out = []
    for name, summary in available_models().items():
        try:
            info = load_model(name).info()
        except Exception as e:  # noqa: BLE001 -- report, do not fail the listing
            out.append({"name": name, "summary": summary, "error": f"{type(e).__name__}: {e}".splitlines()[0]})
            continue
        out.append({**info, "name": name, "summary": summary})
    return out


def _range(r) -> str:
    lo, hi = r
    if not math.isfinite(lo) and not math.isfinite(hi):
        return "any"
    return f"{lo:g} .. {hi:g}"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def command(as_json: bool) -> None:
    """List available models and their conditioning ranges.

    Any path to a saved model works with `quakesynth generate --model PATH` too.

    \b
    Example:
      quakesynth models
      quakesynth models --json
    """
    infos = model_infos()
    if as_json:
        click.echo(json.dumps(infos, indent=1, default=str))
        return
    for info in infos:
        click.echo(f"{info['name']}: {info.get('summary') or info.get('description', '')}")
        if "error" in info:
            click.echo(f"  unavailable here ({info['error']})")
            continue
        click.echo(f"  output: {info['components']} components, {info['fs']:g} Hz, {info['n_samples']} samples "
                   f"({info['n_samples'] / info['fs']:g} s), acceleration in m/s^2")
        for var, v in info["variables"].items():
            unit = f" {v['unit']}" if v["unit"] else ""
            click.echo(f"  {var:<10} {_range(v['range'])}{unit}")
