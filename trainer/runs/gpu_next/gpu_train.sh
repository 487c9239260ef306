#!/bin/bash
# Prepared for the next lent GPU machine (one device call, ~10 of its 15 minutes): the receptive-field
# lever `network.dilations` on both open quality issues, two runs side by side, MIN minutes each:
#   default_dil  (#18): default's deconvolution block (init_linear_only), its half-resolution block
#                with dilations 1,2,3,4,4,3,2,1 (receptive field ~105 px instead of ~57), BSDS500;
#   micro_dil    (#22): the shipped microscopy model's deconvolution block (version 3), the dilated full-resolution block
#                of trainer/configs/microscopy_ablation_dilated.toml (CPU: +0.13/+0.19 dB at 10 photons
#                over a flat block after 25 min, behind version 2 for lack of training), batch 32.
# The repository travels with the BSDS500 images in .devdata/ (git-ignored; linked as
# ../shared/data/bsds500 there).  Checkpoints and logs go to $OUT; export and evaluate them here:
#   glra-train export   --config <config> --set 'run="<OUT>/<name>"' --set 'out="<dir>"'
#   glra-train evaluate --config <config> --set 'model="<dir>"' --set 'tuned="<card's summary.json>"'
# A CPU dry run (what was checked before committing):
#   PATH=$PWD/.venv/bin:$PATH LINK=0 MIN=0.3 W=0 OUT=/tmp/o bash trainer/runs/gpu_next/gpu_train.sh
set -uo pipefail
MIN=${MIN:-7.0}
W=${W:-7}
export PYTHONPATH=$PWD/src:$PWD/trainer/src PYTHONUNBUFFERED=1
if [ "${LINK:-1}" = 1 ]; then mkdir -p ../shared/data && ln -sfn "$PWD/.devdata" ../shared/data/bsds500; fi
nvidia-smi -L || true; nproc
python3 -c "import torch;print(torch.__version__, torch.cuda.is_available())"
DIL='network.dilations=[1, 2, 3, 4, 4, 3, 2, 1]'
fit() {
  local name=$1 config=$2; shift 2
  mkdir -p "$OUT/$name"
  python3 -m glra_trainer.cli fit --config "$config" --set "out=\"$OUT/$name\"" \
    --set max_minutes=$MIN --set workers=$W --set "$DIL" "$@" > "$OUT/$name/train.out" 2>&1
  echo "$name exit $?"
}
fit default_dil trainer/configs/default_v4.toml \
  --set 'init_from="src/napari_glra/models/default"' &
fit micro_dil trainer/configs/microscopy_ablation_dilated.toml \
  --set batch=32 --set lr=1e-3 --set checkpoint_every=500 --set val_every=500 --set 'amp="bfloat16"' &
wait
for n in default_dil micro_dil; do echo "== $n"; tail -3 "$OUT/$n/train.out"; cat "$OUT/$n/log.csv"; rm -f "$OUT/$n"/*.tmp; done
