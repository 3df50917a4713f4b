#!/usr/bin/env bash
# Issue 17: train and judge the physics-guided models, ONE STEP AT A TIME (never two trainings at once on
# the 2-core box). Run a single step with `bash benchmarks/train_physics.sh STEP` from the repository root,
# e.g. `bash benchmarks/train_physics.sh surrogate`. Every training step is resumable: run it again with
# RESUME=1 after an interruption. Expected CPU times are one torch thread at load average ~7 (another
# training on the same 2 cores), measured 2026-12-03 (benchmarks/results/physics_training.md); a quiet
# machine is faster.
#
# steps (in order)        what                                                         expected time
#   corpus3d              1,000 3-D simulations (devito; pip install -e '.[operator]'),  ~4 min (2 threads)
#                         solver revision 2 (session 18: the sponge fixed; corpora and every model of
#                         sessions 4-17 were made on revision 1, with boundary reflections)
#   corpus                20,000-record stochastic corpus (quakesynth simulate)         ~2-5 min
#   surrogate             MIFNO fno_cpu, 2,000 steps x 1.40 s                            ~47 min
#   surrogate_long        the judged surrogate of session 9: warm restarts from          ~110 min
#                         `surrogate`, 3,000 + 8,000 steps, then 4,000 with the per-trace
#                         loss term (loss.w_trace=1), at 2.3 it/s (one thread)
#   surrogate_wide        the judged surrogate of sessions 17 and 18 (kept as              ~125 min
#                         benchmarks/models/surrogate_wide): the fno_cpu layout at width 16 /
#                         8 spatial modes, one cosine run from scratch (lr 5e-3, per-trace term,
#                         EMA 0.999; 15,000 steps or 100 minutes, whichever is first), then a warm
#                         restart (lr 1e-3; 3,000 steps or 23 minutes); 2 threads at 2.2 it/s
#   refiner_wide          the judged refiner of session 19 (kept as benchmarks/models/refiner_wide):    ~45 min
#                         one cosine run from scratch on SURROGATE (default the committed
#                         benchmarks/models/surrogate_wide), 40,000 steps or 70 minutes at lr 5e-4,
#                         2 threads at 23.5 it/s (28 min), then the spatial-noise calibration on 16
#                         dev wavefields (16 min; 2 wavefields chose too long a correlation, session 19)
#   bench3d_wide          the judge of sessions 18 and 19: surrogate + refiner_wide on all 100 test       ~15 min
#                         wavefields, with the residual oracles (no training; REFINER=benchmarks/models/
#                         refiner_wide judges the kept model without training one)
#   refiner               refiner on paper pairs, per sensor, 3,000 steps x 0.30 s,     ~15 min + 4 min pairs
#                         + spatial-noise calibration (22 x 2 wavefields x 18 s)        + ~14 min
#   refiner_long          the judged refiner of session 9 on `surrogate_long`: warm     ~50 min
#                         restarts from `refiner`, 6,000 + 12,000 + 8,000 + 8,000 + 8,000
#                         steps at 9-10 it/s; 3,000 steps leave the high band 2-4x too strong
#                         (session 9 itself began from 1,500 surrogate steps and ran the refiner's
#                         first stages on the surrogates of the time, and reused session 8's
#                         calibrated noise correlation: physics_training.md)
#   joint                 joint 2 x 2 refiner, 3,000 steps x 0.28 s, + noise calibration ~14 min + ~8 min
#   bench3d               test-split tables, coherence, timings (no training)           ~30 min
#   broadband             broadband refiner_broadband_cpu, 3,000 steps x 0.98 s          ~50 min + 3 min data
#   bench_broadband       real-record evaluation vs the hybrid baseline (no training)    ~5 min
set -euo pipefail
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 QUAKESYNTH_THREADS=1
RUNS=${RUNS:-scratch/physics_runs}
# the surrogate the refiner steps train on: benchmarks/models/surrogate_wide is the judged surrogate of
# session 18 (the fixed corpus; kept in the repository, 0.3 MB), the default of the *_wide steps; the
# session-9 steps use their own chain unless SURROGATE is set
SUR_SHORT=${SURROGATE:-$RUNS/surrogate/model}
SUR_LONG=${SURROGATE:-$RUNS/surrogate_long/model}
SUR_WIDE=${SURROGATE:-benchmarks/models/surrogate_wide}
REF_WIDE=${REFINER:-$RUNS/refiner_wide/model}  # bench3d_wide; REFINER=benchmarks/models/refiner_wide judges the kept one
CORPUS3D=${CORPUS3D:-scratch/wave3d}
CORPUS=${CORPUS:-scratch/sim_corpus}
RES=()
if [[ "${RESUME:-0}" == 1 ]]; then RES=(--resume); fi
RUN="nice -n 19 quakesynth train --threads 1"

case "${1:-}" in
  corpus3d)
    nice -n 19 quakesynth simulate-3d --n 1000 -o "$CORPUS3D" --seed 0 "${RES[@]}" ;;
  corpus)
    # the corpus the shipped physics models were trained on: layers not centred (session 16 centred them
    # in the bssa14 preset; see benchmarks/results/default_model.md)
    nice -n 19 quakesynth simulate --events 2000 --stations-per-event 10 -o "$CORPUS" --seed 0 --workers 1 \
      --set simulator.stations.resonance_centred=false ;;
  surrogate)
    $RUN surrogate --corpus "$CORPUS3D" --preset fno_cpu --set train.max_steps=2000 --set train.checkpoint_every=100 \
      -o "$RUNS/surrogate" "${RES[@]}" ;;
  surrogate_wide)
    init=()
    for stage in "15000 100 0.005 200 surrogate_wide1" "3000 23 0.001 50 surrogate_wide"; do
      read -r steps minutes lr warmup out <<< "$stage"
      OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 nice -n 19 quakesynth train --threads 2 surrogate --corpus "$CORPUS3D" \
        --preset fno_cpu "${init[@]}" --set mifno.width=16 --set mifno.modes=8 --set train.max_steps="$steps" \
        --set train.max_minutes="$minutes" --set train.lr="$lr" --set train.warmup_steps="$warmup" \
        --set train.ema_decay=0.999 --set loss.w_trace=1 --set train.checkpoint_every=500 \
        --set train.val_every=1000 --set train.val_batches=25 -o "$RUNS/$out" "${RES[@]}"
      init=(--init "$RUNS/$out/model")
    done ;;
  refiner_wide)
    OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 nice -n 19 quakesynth train --threads 2 refiner --corpus "$CORPUS3D" \
      --surrogate "$SUR_WIDE" --preset refiner_cpu --patch 1 --set train.max_steps=40000 --set train.max_minutes=70 \
      --set train.lr=0.0005 --set train.warmup_steps=200 --set train.checkpoint_every=1000 \
      --calibrate --calibration-wavefields 16 -o "$RUNS/refiner_wide" "${RES[@]}" ;;
  bench3d_wide)
    mkdir -p "$RUNS/judge_wide/refiner_p1" && ln -sfn "$(realpath "$REF_WIDE")" "$RUNS/judge_wide/refiner_p1/model"
    nice -n 19 python benchmarks/bench_physics.py --corpus "$CORPUS3D" --out "$RUNS/judge_wide" \
      --surrogate "$SUR_WIDE" --fno-preset fno_cpu --refiner-preset refiner_cpu --patches 1 --sampler-steps 18 \
      --n-test 100 --threads 2 --oracles ;;
  refiner)
    $RUN refiner --corpus "$CORPUS3D" --surrogate "$SUR_SHORT" --preset refiner_cpu --patch 1 \
      --set train.max_steps=3000 --set train.lr=0.0005 --calibrate --calibration-wavefields 2 \
      -o "$RUNS/refiner_p1" "${RES[@]}" ;;
  surrogate_long)
    prev="$RUNS/surrogate/model"
    for stage in "3000 0.005 0 surrogate_long1" "8000 0.003 0 surrogate_long2" "4000 0.002 1 surrogate_long"; do
      read -r steps lr w_trace out <<< "$stage"
      $RUN surrogate --corpus "$CORPUS3D" --preset fno_cpu --init "$prev" --set train.max_steps="$steps" \
        --set train.lr="$lr" --set loss.w_trace="$w_trace" -o "$RUNS/$out" "${RES[@]}"
      prev="$RUNS/$out/model"
    done ;;
  refiner_long)
    prev="$RUNS/refiner_p1/model"
    for stage in "6000 0.0005 refiner_long1" "12000 0.0004 refiner_long2" "8000 0.0003 refiner_long3" \
                 "8000 0.0003 refiner_long4" "8000 0.0003 refiner_long"; do
      read -r steps lr out <<< "$stage"
      $RUN refiner --corpus "$CORPUS3D" --surrogate "$SUR_LONG" --preset refiner_cpu --patch 1 \
        --init "$prev" --set train.max_steps="$steps" --set train.lr="$lr" -o "$RUNS/$out" "${RES[@]}"
      prev="$RUNS/$out/model"
    done ;;
  joint)
    $RUN refiner --corpus "$CORPUS3D" --surrogate "$SUR_SHORT" --preset refiner_cpu --patch 2 \
      --set train.max_steps=3000 --set train.lr=0.0005 --calibrate --calibration-wavefields 4 \
      -o "$RUNS/refiner_p2" "${RES[@]}" ;;
  bench3d)
    nice -n 19 python benchmarks/bench_physics.py --corpus "$CORPUS3D" --out "$RUNS" --fno-preset fno_cpu \
      --refiner-preset refiner_cpu --sampler-steps 18 --n-test 12 ;;
  broadband)
    $RUN broadband --data "$CORPUS" --preset refiner_broadband_cpu --limit 8000 -o "$RUNS/broadband" "${RES[@]}" ;;
  bench_broadband)
    nice -n 19 python benchmarks/bench_broadband.py --model "$RUNS/broadband/model" --steps 18 \
      --out "$RUNS/broadband_eval" ;;
  *)
    sed -n '2,40p' "$0"; exit 2 ;;
esac
