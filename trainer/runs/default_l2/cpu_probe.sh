#!/bin/bash
# Issue #18: the squared error (pixel_loss = "l2", whose minimiser is the posterior mean, what
# PSNR rewards) instead of version 4's L1 loss, side by side on 2 CPU cores (1 thread each) for
# MIN minutes, with the seed, data and validation set of the control of
# trainer/runs/default_expert_motion (version 4 trained on with the L1 loss, every weight, lr 2e-4):
#   finetune/  version 4 trained on with every weight, as that control but with the L2 loss
#              (trainer/configs/default_expert_motion.toml on all three families);
#   refiner/   version 4 frozen and a fresh dilated flat refiner, as trainer/runs/default_refiner/flat
#              (which collapsed to no correction with the L1 loss) but with the L2 loss.
# Then each is exported and scored on the card.
# Usage (repository root, ../shared/data/bsds500 present):
#   PATH=$PWD/.venv/bin:$PATH nohup bash trainer/runs/default_l2/cpu_probe.sh > /tmp/l2.out 2>&1 &
set -uo pipefail
MIN=${MIN:-40}
D=${OUT:-trainer/runs/default_l2}
E=trainer/configs/default_expert_motion.toml
R=trainer/configs/default_refiner.toml
mkdir -p "$D/finetune" "$D/refiner"
glra-train fit --config $E --set "out=\"$D/finetune\"" --set threads=1 --set max_minutes="$MIN" \
  --set 'families=["gaussian", "disk", "motion"]' --set 'family_weights=[0.3, 0.35, 0.35]' \
  --set 'pixel_loss="l2"' > "$D/finetune/train.out" 2>&1 &
glra-train fit --config $R --set "out=\"$D/refiner\"" --set threads=1 --set max_minutes="$MIN" \
  --set 'network.refiner={scale=2, width=48, depth=8, first_kernel=3, mid_kernel=3, last_kernel=3, dilations=[1,2,3,4,4,3,2,1]}' \
  --set 'pixel_loss="l2"' > "$D/refiner/train.out" 2>&1 &
wait
for n in finetune refiner; do
  C=$E; [ $n = refiner ] && C=$R
  glra-train export --config $C --set "run=\"$D/$n\"" --set "out=\"$D/$n/export\"" > "$D/$n/export.out" 2>&1
  glra-train evaluate --config $C --set "model=\"$D/$n/export\"" --set "out=\"$D/$n/eval\"" \
    --set 'tuned="trainer/runs/default/eval_classical/summary.json"' > "$D/$n/eval.out" 2>&1
  echo "$n done"
done
