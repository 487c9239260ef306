#!/bin/bash
# Issue #18, a refiner after version 4 (trainer/configs/default_refiner.toml): version 4 frozen,
# a fresh second artifact block trained for MIN minutes, two designs side by side on 2 CPU cores
# (1 thread each), same seed and data as the control of trainer/runs/default_expert_motion
# (version 4 trained on with every weight, 40 min, 1 thread), whose validation set this shares:
#   unet/  two-level U-Net refiner (widths 32 / 64 / 128, 44 px margin), the config's;
#   flat/  flat refiner of version 4's design (width 48, 8 layers, half resolution) with
#          dilations 1 2 3 4 4 3 2 1 (44 px margin).
# Then each is exported and scored on the card.
# Usage (repository root, ../shared/data/bsds500 present):
#   PATH=$PWD/.venv/bin:$PATH nohup bash trainer/runs/default_refiner/cpu_probe.sh > /tmp/refiner.out 2>&1 &
set -uo pipefail
MIN=${MIN:-45}
D=${OUT:-trainer/runs/default_refiner}
C=trainer/configs/default_refiner.toml
mkdir -p "$D/unet" "$D/flat"
glra-train fit --config $C --set "out=\"$D/unet\"" --set threads=1 --set max_minutes="$MIN" \
  > "$D/unet/train.out" 2>&1 &
glra-train fit --config $C --set "out=\"$D/flat\"" --set threads=1 --set max_minutes="$MIN" \
  --set 'network.refiner={scale=2, width=48, depth=8, first_kernel=3, mid_kernel=3, last_kernel=3, dilations=[1,2,3,4,4,3,2,1]}' \
  > "$D/flat/train.out" 2>&1 &
wait
for n in unet flat; do
  glra-train export --config $C --set "run=\"$D/$n\"" --set "out=\"$D/$n/export\"" > "$D/$n/export.out" 2>&1
  glra-train evaluate --config $C --set "model=\"$D/$n/export\"" --set "out=\"$D/$n/eval\"" \
    --set 'tuned="trainer/runs/default/eval_classical/summary.json"' > "$D/$n/eval.out" 2>&1
  echo "$n done"
done
