#!/bin/bash
# Issue #18, per-family experts: version 4 trained on for MIN minutes on motion kernels only
# (expert/) and, as the control, on all three families as version 4 was (control/), side by side
# on 2 CPU cores (1 thread each), same settings otherwise (trainer/configs/default_expert_motion.toml).
# Then both are exported and scored on the card (motion is the column that counts).
# Usage (repository root, ../shared/data/bsds500 present):
#   PATH=$PWD/.venv/bin:$PATH nohup bash trainer/runs/default_expert_motion/cpu_probe.sh > /tmp/expert.out 2>&1 &
set -uo pipefail
MIN=${MIN:-40}
D=trainer/runs/default_expert_motion
C=trainer/configs/default_expert_motion.toml
mkdir -p "$D/expert" "$D/control"
glra-train fit --config $C --set "out=\"$D/expert\"" --set threads=1 --set max_minutes="$MIN" \
  > "$D/expert/train.out" 2>&1 &
glra-train fit --config $C --set "out=\"$D/control\"" --set threads=1 --set max_minutes="$MIN" \
  --set 'families=["gaussian", "disk", "motion"]' --set 'family_weights=[0.3, 0.35, 0.35]' \
  > "$D/control/train.out" 2>&1 &
wait
for n in expert control; do
  glra-train export --config $C --set "run=\"$D/$n\"" --set "out=\"$D/$n/export\"" > "$D/$n/export.out" 2>&1
  glra-train evaluate --config $C --set "model=\"$D/$n/export\"" --set "out=\"$D/$n/eval\"" \
    --set 'tuned="trainer/runs/default/eval_classical/summary.json"' > "$D/$n/eval.out" 2>&1
  echo "$n done"
done
