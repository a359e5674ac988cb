#!/usr/bin/env bash
# The training campaign behind params/compact128 (issue 11), one resumable command per step.
# Every step resumes where the previous run stopped; on a fresh machine the run starts from the
# shipped parameters (--init), which carry the encoders, decoders, generator and discriminator.
#   RUN=runs/c128_local STAGE1_MIN=25 UNTIL=04:50 bash tools/train_campaign.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/c128_local}
DATA=${DATA:-data/prepared_128}
INIT=${INIT:-params/compact128}
export OMP_NUM_THREADS=1   # two single-thread processes beat one two-thread process here
[ -f "$DATA/pack_train.npz" ] || python -m dsf.data prepare --source ../shared/data --out "$DATA" --size 128
python -m dsf.train stage1 --data "$DATA" --preset compact128 --out "$RUN" --init "$INIT" --balance 0.5 \
    --minutes "${STAGE1_MIN:-25}" --epochs 100
python -m dsf.train bank --data "$DATA" --out "$RUN"
python -m dsf.train stage2 --data "$DATA" --out "$RUN" --init "$INIT" --balance 0 \
    --lambda-fm 5 --lambda-l1 100 --until "${UNTIL:-04:50}"
