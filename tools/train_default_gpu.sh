#!/usr/bin/env bash
# The shipped `default` model's recipe (docs/model_card_default.md, "How to reproduce it") in one
# script, for a machine with a GPU: both training corpora, the VAE and the EDM (warm-started from
# the shipped weights), the VAE decoder polished on the frozen encoder's latents, the export. Nothing is downloaded; the shipped model never depends on this
# script (the CPU commands of the model card make the same model, only slower).
#
#   bash tools/train_default_gpu.sh                      # GPU, full recipe, into runs/gpu-default
#   ACCEL=cpu EVENTS=6 STATIONS=4 VAE_STEPS=2 EDM_STEPS=2 DEC_STEPS=2 bash tools/train_default_gpu.sh   # smoke test
#
# Settings (environment variables, with their defaults):
#   PY=python3            the Python that has torch (on the lent GPU machine: its own python3)
#   ACCEL=gpu             gpu | cpu (--accelerator of `quakesynth train`)
#   WORK=runs/gpu-default working folder (corpora and runs; resumed where a run is already there)
#   OUT=$WORK/export      where the exported model goes (on the device tool: $OUT, which comes back)
#   EVENTS=2000 STATIONS=10  corpus size per preset (the shipped model: 2,000 x 10)
#   SEED=0                the corpora's seed (another seed draws independent events: a larger corpus
#                         with SEED != 0 never shares a record with the seed-0 test split the benchmarks use)
#   WORKERS=$(nproc)      simulator worker processes (the corpus does not depend on it)
#   VAE_STEPS=450 EDM_STEPS=4500 BATCH=32 LR=1e-4 WARMUP=50   the shipped recipe's last stage
#   VAE_MODEL=""          a trained VAE (model folder) to use as it is: no VAE corpus, no VAE run
#   EDM_MINUTES=0 DEC_MINUTES=0   wall-clock budgets of the EDM and decoder runs (train.max_minutes;
#                         0: none): a run stops at its steps or its minutes, whichever comes first,
#                         and its cosine schedule follows whichever is further along
#   EDM_SETS=""           extra KEY=VALUE overrides of the EDM run, space-separated
#   INIT=src/quakesynth/weights/default   warm start of the VAE and the EDM
#   COORDS=true           the U-Net's coordinate channels (unet.coords; the shipped model has them)
#   ARRIVAL=false         the U-Net's expected-S-arrival channel (latent.s_arrival; measured in session 12, not in the shipped model)
#   DEC_STEPS=2400 DEC_LR=4e-4   decoder-only fine-tune after the EDM (vae_train.part=decoder; 0 skips it)
#   DEC_SETS=""           extra KEY=VALUE overrides of the decoder run only, e.g. the adversarial
#                         decoder of session 14: DEC_SETS="vae_train.adv_weight=0.5 vae_train.fm_weight=1"
#   VAE_SETS=""           extra KEY=VALUE config overrides of both VAE runs, space-separated, e.g.
#                         VAE_SETS="vae.latent_channels=16" for the wider latent that issue 18's
#                         classifier gap calls for (RESULTS, issue 18, session 11). --init copies the
#                         weights whose name and shape match, so the VAE and the EDM keep everything
#                         of the shipped model but the layers at the latent; give VAE_STEPS and
#                         EDM_STEPS of a fresh training then (the EDM learns a new latent space).
#
# Python packages the GPU machine lacks (obspy, seisbench, pyrvt, platformdirs) travel as wheels
# in .whl/ (see /work/.library/device/README.md); this script installs them first when .whl/ exists.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
ACCEL=${ACCEL:-gpu}
WORK=${WORK:-runs/gpu-default}
OUT=${OUT:-$WORK/export}
EVENTS=${EVENTS:-2000}
SEED=${SEED:-0}
VAE_MODEL=${VAE_MODEL:-}
EDM_MINUTES=${EDM_MINUTES:-0}
DEC_MINUTES=${DEC_MINUTES:-0}
WARMUP=${WARMUP:-50}
STATIONS=${STATIONS:-10}
WORKERS=${WORKERS:-$(nproc)}
VAE_STEPS=${VAE_STEPS:-450}
EDM_STEPS=${EDM_STEPS:-4500}
BATCH=${BATCH:-32}
LR=${LR:-1e-4}
INIT=${INIT:-src/quakesynth/weights/default}
COORDS=${COORDS:-true}
ARRIVAL=${ARRIVAL:-false}
DEC_STEPS=${DEC_STEPS:-2400}
DEC_LR=${DEC_LR:-4e-4}
vae_sets=()
for kv in ${VAE_SETS:-}; do vae_sets+=(--set "$kv"); done
edm_sets=()
for kv in ${EDM_SETS:-}; do edm_sets+=(--set "$kv"); done
dec_sets=()
for kv in ${DEC_SETS:-}; do dec_sets+=(--set "$kv"); done

if [ -d .whl ] && ! "$PY" -c "import obspy, seisbench, pyrvt, platformdirs" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
QS() { "$PY" -m quakesynth "$@"; }
say() { echo "$(date +%T) $*"; }
mkdir -p "$WORK"

design=(--set corpus.magnitude_distribution=uniform --set corpus.distance_distribution=log-uniform
        --set corpus.offshore_margin_km=50)
presets=(bssa14)
[ -n "$VAE_MODEL" ] || presets=(japan bssa14)
for preset in "${presets[@]}"; do
    corpus=$WORK/corpus-even-$preset
    if [ ! -d "$corpus" ]; then
        say "corpus $preset"
        QS simulate --events "$EVENTS" --stations-per-event "$STATIONS" -o "$corpus" --seed "$SEED" \
            --preset "$preset" --workers "$WORKERS" "${design[@]}"
    fi
done

run() {  # run KIND RUN_DIR ARGS...: a new run, or the resumed one when its checkpoint is there
    local kind=$1 dir=$2; shift 2
    if [ -f "$dir/model/config.json" ]; then say "$kind done: $dir"; return; fi
    if [ -f "$dir/checkpoints/last.ckpt" ]; then
        say "$kind resumed: $dir"; QS train "$kind" --resume -o "$dir" --accelerator "$ACCEL" --quiet
    else
        say "$kind: $dir"; QS train "$kind" -o "$dir" --accelerator "$ACCEL" --quiet "$@"
    fi
}
vae=$VAE_MODEL
if [ -z "$vae" ]; then
    run vae "$WORK/vae" --data "$WORK/corpus-even-japan" --preset default --init "$INIT" \
        --set train.max_steps="$VAE_STEPS" "${vae_sets[@]}"
    vae=$WORK/vae/model
fi
run edm "$WORK/edm" --data "$WORK/corpus-even-bssa14" --preset default --vae "$vae" \
    --init "$INIT" --set unet.coords="$COORDS" --set latent.s_arrival="$ARRIVAL" --set train.max_steps="$EDM_STEPS" \
    --set train.batch_size="$BATCH" --set train.lr="$LR" --set train.warmup_steps="$WARMUP" \
    --set train.max_minutes="$EDM_MINUTES" "${edm_sets[@]}"
decoder=()
if [ "$DEC_STEPS" -gt 0 ]; then  # the encoder stays frozen: the EDM's latent space does not move
    run vae "$WORK/vae-dec" --data "$WORK/corpus-even-bssa14" --preset default --init "$vae" \
        --set vae_train.part=decoder --set train.max_steps="$DEC_STEPS" --set train.lr="$DEC_LR" \
        --set train.warmup_steps=50 --set train.max_minutes="$DEC_MINUTES" "${vae_sets[@]}" "${dec_sets[@]}"
    decoder=(--decoder "$WORK/vae-dec/model")
fi
"$PY" tools/make_default_model.py "$WORK/edm/model" "$OUT" --solver dpmpp2m --steps 10 "${decoder[@]}" \
    --phase donor --donor-simulator "$WORK/corpus-even-bssa14/simulator.yaml"  # envelope transfer (session 15)
say "model written to $OUT"
