#!/usr/bin/env bash
# The training campaign behind params/compact128 (issue 11), resumable across working periods.
# What each recipe measured so far: docs/campaign.md.
#
#   UNTIL=04:50 bash tools/train_campaign.sh start      # a new run in $RUN
#   UNTIL=04:50 bash tools/train_campaign.sh continue   # stage 2 on until UNTIL (UTC)
#   DECAY=2000 bash tools/train_campaign.sh continue    # the final phase: lr → 0 over 2000 steps
#   FM=1 UNTIL=04:50 bash tools/train_campaign.sh continue   # another feature-matching weight
#   LOCAL=100 UNTIL=04:50 bash tools/train_campaign.sh continue   # with the locality loss
#   LOCAL=30 LOCAL_PARTS=nose,remainder ...               # the locality loss on some parts only
#   LOCAL=50 LOCAL_WEIGHTS=eye1=0.3,eye2=0.3 ...          # ... or weaker on some parts
#   LR=5e-5 ...                                           # another learning rate
#   LR_D=1e-5 ...                                         # a slower discriminator (default: LR)
#   D_NOISE=0.1 ...                                       # instance noise on D's images
#   ID=1 ...                                              # with the identity loss
#   ID_GRADIENT=neutral ...                               # its gradient equal in R, G, B (--id-gradient)
#   ID_TEMPERATURE=0.05 ...                               # its softmax temperature (--id-temperature)
#   ID_REGION=face ...                                    # it compares the face's centre only (--id-region)
#   ID_SIGNATURE=edges ...                                # it compares contours, not shading (--id-signature)
#   SSIM=200 ...                                          # with the structure (1 − SSIM) loss
#   REFINE=0.5 ...                                        # half the latents refined (--refine-share)
#   LATENT_NOISE=0.2 ...                                  # noisy training latents (--latent-noise)
#   AUGMENT=0.5 ...                                       # half the faces from augmented sketches (--augment-share)
#   MIRROR=0.5 ...                                        # half the faces mirrored, sketch and photo (--mirror-share)
#   PENCIL=0.5 ...                                        # half the sketches pencil-drawn from the photo (--pencil-share)
#   EMA=0.999 ...                                         # keep (and export) a weight average (--ema-decay)
#   STEPS=3348 ...                                        # stop after this many steps of this call (--max-steps)
#   SEED=1 ...                                            # a new run's seed (a resumed run keeps its own)
#   SOUPS="0.3 0.25" bash tools/train_campaign.sh finish  # the end of a run (below)
#
# start:    stage 1 from the shipped auto-encoders (ink-weighted L1, sources balanced ∝ √size)
#           for STAGE1_MIN minutes, the bank, then stage 2 (fresh feature decoders and
#           generator; every source equally often) until UNTIL.
# continue: on the machine that holds $RUN, stage 2 resumes from its checkpoint with its
#           recipe, changed only where a variable above is set. On a fresh machine (no $RUN),
#           the bank is rebuilt with the shipped encoders and stage 2 fine-tunes the shipped
#           feature decoders, generator and discriminator (--init): a new run, so state the
#           whole recipe (the model card's reproduce command does).
# finish:   once the run has its steps: the final phase (DECAY, default 250 steps), the export to
#           runs/export_NAME with INIT's banks (tools/keep_banks.py), its soups with INIT at each
#           weight in SOUPS (runs/export_NAME_soupW), and a light screen of each (runs/light_...:
#           L1, SSIM, chroma, identity on every test sketch, ~5 min). A candidate that passes the
#           light gates then gets the full `python -m dsf evaluate` (docs/campaign.md, the rule).
set -euo pipefail
# One block, read whole before it runs: a campaign runs for hours, and bash reads a script as it
# goes, so an edit under a running chain once made it run text from the new version.
{
cd "$(dirname "$0")/.."
MODE=${1:?usage: train_campaign.sh start|continue|finish}
RUN=${RUN:-runs/c128_local}
DATA=${DATA:-data/prepared_128}
INIT=${INIT:-params/compact128}
export OMP_NUM_THREADS=1   # two single-thread processes beat one two-thread process here
[ "$MODE" = start ] && FM=${FM:-5}   # a new run's feature matching; pix2pixHD's 10 otherwise
[ "$MODE" = finish ] && DECAY=${DECAY:-250}
# Only the variables that are set reach stage 2: a resumed run keeps the rest of its recipe.
STAGE2=(--data "$DATA" --out "$RUN" --balance 0)
option() { [ -z "${!1:-}" ] || STAGE2+=("$2" "${!1}"); }
option FM --lambda-fm; option L1 --lambda-l1; option LOCAL --lambda-local; option LOCAL_PARTS --local-parts
option LOCAL_WEIGHTS --local-weights; option ID --lambda-id; option ID_GRADIENT --id-gradient
option ID_TEMPERATURE --id-temperature; option ID_REGION --id-region; option ID_SIGNATURE --id-signature
option SSIM --lambda-ssim
option REFINE --refine-share; option LATENT_NOISE --latent-noise; option AUGMENT --augment-share; option MIRROR --mirror-share; option PENCIL --pencil-share
option LR --lr; option LR_D --lr-d; option D_NOISE --d-noise
option EMA --ema-decay; option SEED --seed; option DECAY --lr-decay-steps; option UNTIL --until; option STEPS --max-steps

light() {   # a light screen: no locality / refine / robustness / face detector
  python -m dsf evaluate --params "$1" --data "$DATA" --split test --threads 1 --no-effects --no-faces \
      --robust-limit 1 --quiet --out "$2"
}

[ -f "$DATA/pack_train.npz" ] || python -m dsf.data prepare --source ../shared/data --out "$DATA" --size 128
case "$MODE" in
  start)
    python -m dsf.train stage1 --data "$DATA" --preset compact128 --out "$RUN" --init "$INIT" --balance 0.5 \
        --ink-weight 4 --minutes "${STAGE1_MIN:-25}" --epochs 100
    python -m dsf.train bank --data "$DATA" --out "$RUN"
    python -m dsf.train stage2 "${STAGE2[@]}" ;;
  continue)
    if [ ! -f "$RUN/stage2/checkpoint.npz" ]; then   # builds the bank with the shipped encoders
      python -m dsf.train stage2 "${STAGE2[@]}" --init "$INIT"
    else
      python -m dsf.train stage2 "${STAGE2[@]}" --extend
    fi ;;
  finish)
    name=$(basename "$RUN")
    python -m dsf.train stage2 "${STAGE2[@]}" --extend
    python -m dsf.train export --out "$RUN" --params "runs/export_$name"
    python tools/keep_banks.py "runs/export_$name" --from "$INIT"
    light "runs/export_$name" "runs/light_$name"
    for w in ${SOUPS:-}; do
      python tools/average_params.py "$INIT" "runs/export_$name" --out "runs/export_${name}_soup$w" --weight "$w"
      light "runs/export_${name}_soup$w" "runs/light_${name}_soup$w"
    done ;;
  *) echo "unknown mode $MODE (start|continue|finish)" >&2; exit 2 ;;
esac
exit
}
