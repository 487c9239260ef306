#!/bin/bash
# Issue #18, deconvolution in feature space, second fine-tune probe: as finetune/ of cpu_probe.sh
# (version 4 continued with 8 feature maps, trainer/configs/default_featmaps.toml, 40 min on 1 CPU
# core), but the new inputs' weights start at 0.1 (grow0.1/) and 0.3 (grow0.3/) times a fresh
# initialisation instead of zero (init_grow_scale), the two side by side; then exported and scored
# on the card beside trainer/runs/default_expert_motion/control.
# Usage (repository root, ../shared/data/bsds500 present):
#   PATH=$PWD/.venv/bin:$PATH nohup bash trainer/runs/default_featmaps/cpu_probe_grow.sh > /tmp/grow.out 2>&1 &
set -uo pipefail
D=trainer/runs/default_featmaps
C=trainer/configs/default_featmaps.toml
for g in 0.1 0.3; do
  mkdir -p "$D/grow$g"
  glra-train fit --config $C --set "out=\"$D/grow$g\"" --set threads=1 --set max_minutes=40 \
    --set init_grow_scale=$g > "$D/grow$g/train.out" 2>&1 &
done
wait
for g in 0.1 0.3; do
  glra-train export --config $C --set "run=\"$D/grow$g\"" --set "out=\"$D/grow$g/export\"" > "$D/grow$g/export.out" 2>&1
  glra-train evaluate --config $C --set "model=\"$D/grow$g/export\"" --set "out=\"$D/grow$g/eval\"" \
    --set 'tuned="trainer/runs/default/eval_classical/summary.json"' > "$D/grow$g/eval.out" 2>&1
  echo "grow$g done"
done
