"""``quakesynth bench``: time HighFEM generation stage by stage on this hardware."""

from __future__ import annotations

import json

import click


def format_table(r: dict) -> str:
    """The benchmark result as a small text table."""
    lines = [f"HighFEM {r['preset']} preset, random weights, batch {r['batch_size']}, device {r['device']} "
             f"({r['threads']} threads), {r['precision']}{', channels_last' if r['channels_last'] else ''}",
             f"U-Net {r['unet_params_M']:.4g} M parameters, {r['unet_gflop']:.4g} GFLOP per evaluation, "
             f"{r['evaluations']} evaluations ({r['num_steps']} {r.get('solver', 'heun')} steps); decoder {r['decoder_gflop']:.4g} GFLOP; "
             f"Griffin-Lim {r['gl_iters']} iterations ({r['gl_method']})",
             f"{'stage':<18}{'s / waveform':>14}"]
    for k in ("sampling", "decoding", "phase_retrieval", "end_to_end"):
        lines.append(f"{k.replace('_', ' '):<18}{r[k]:>14.3f}")
    lines.append(f"{'GFLOP/s achieved':<18}{r['gflops']:>14.1f}  ({r['gflop_per_waveform']:.4g} GFLOP per waveform)")
    return "\n".join(lines)


@click.command()
@click.option("--preset", type=click.Choice(["tiny", "small", "paper"]), default="paper", show_default=True,
              help="Architecture (training presets of the VAE and the U-Net).")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=25, show_default=True,
              help="Sampler steps (Heun: 2 x steps - 1 denoiser evaluations; dpmpp2m: steps).")
@click.option("--solver", type=click.Choice(["heun", "dpmpp2m"]), default="heun", show_default=True,
              help="ODE solver: Heun (the paper's) or DPM-Solver++(2M).")
@click.option("--device", default="cpu", show_default=True, help="torch device (cpu, cuda, cuda:1...).")
@click.option("--gl-iters", type=click.IntRange(min=0), default=128, show_default=True,
              help="Griffin-Lim iterations.")
@click.option("--gl-method", type=click.Choice(["fgla", "gla"]), default="fgla", show_default=True)
@click.option("--precision", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32",
              show_default=True, help="Network precision (autocast).")
@click.option("--channels-last", is_flag=True, help="Channels-last memory format for the convolutions.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the denoiser and the decoder.")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Timed repetitions (best is reported).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(preset: str, batch_size: int, steps: int, solver: str, device: str, gl_iters: int, gl_method: str,
            precision: str, channels_last: bool, compile_: bool, repeats: int, threads: int | None,
            as_json: bool) -> None:
    """Benchmark HighFEM generation with random weights: seconds per waveform for sampling,
    decoding, phase retrieval and end to end, and the GFLOP/s achieved (FLOPs counted with
    torch.utils.flop_counter for one denoiser and one decoder evaluation).

    \b
    Example:
      quakesynth bench --preset paper --batch-size 32
      quakesynth bench --preset paper --batch-size 32 --solver dpmpp2m --steps 10
      quakesynth bench --preset paper --batch-size 1 --steps 5 --gl-iters 32 --device cuda
    """
    from quakesynth.generate.toy import benchmark

    r = benchmark(preset, batch_size=batch_size, num_steps=steps, device=device, gl_iters=gl_iters,
                  repeats=repeats, threads=threads, gl_method=gl_method, precision=precision,
                  channels_last=channels_last, compile=compile_, solver=solver)
    click.echo(json.dumps(r, indent=1) if as_json else format_table(r))
