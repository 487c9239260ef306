#!/bin/bash
# Issue #18, deconvolution in feature space on a CPU probe, two runs side by side on 2 CPU cores
# (1 thread each):
#  fresh/    a fresh artifact block on version 4's deconvolution block with 8 feature maps,
#            exactly as trainer/runs/default_unet/cpu_probe.sh trained its flat control
#            (crops 256, batch 2, lr 5e-4, 35 min): compare the validation columns of
#            fresh/log.csv with trainer/runs/default_unet/cpu_probe/flat/log.csv at equal steps
#            (samples) and at equal time;
#  finetune/ version 4 continued with 8 feature maps added at zero weights
#            (trainer/configs/default_featmaps.toml), as trainer/runs/default_expert_motion/control
#            continued it without them (same data, seed, schedule, 40 min); then exported and
#            scored on the card beside that control's card.
# Usage (repository root, ../shared/data/bsds500 present):
#   PATH=$PWD/.venv/bin:$PATH nohup bash trainer/runs/default_featmaps/cpu_probe.sh > /tmp/featmaps.out 2>&1 &
set -uo pipefail
D=trainer/runs/default_featmaps
C=trainer/configs/default_featmaps.toml
mkdir -p "$D/fresh" "$D/finetune"
glra-train fit --config trainer/configs/default_v4.toml --set "out=\"$D/fresh\"" \
  --set 'init_from="src/napari_glra/models/default"' --set network.feature_maps=8 \
  --set crop=256 --set batch=2 --set context=64 --set lr=5e-4 --set workers=0 --set echo=1 \
  --set threads=1 --set max_minutes=35 --set val_every=250 --set checkpoint_every=250 \
  > "$D/fresh/train.out" 2>&1 &
glra-train fit --config $C --set "out=\"$D/finetune\"" --set threads=1 --set max_minutes=40 \
  > "$D/finetune/train.out" 2>&1 &
wait
glra-train export --config $C --set "run=\"$D/finetune\"" --set "out=\"$D/finetune/export\"" \
  > "$D/finetune/export.out" 2>&1
glra-train evaluate --config $C --set "model=\"$D/finetune/export\"" --set "out=\"$D/finetune/eval\"" \
  --set 'tuned="trainer/runs/default/eval_classical/summary.json"' > "$D/finetune/eval.out" 2>&1
echo "probe done"
