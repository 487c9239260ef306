#!/bin/bash
# Prepared for the next lent GPU machine (one device call, ~10 of its 15 minutes): issue #18's
# capacity and receptive-field levers on `default`, three runs side by side, MIN minutes each, all
# on version 4's deconvolution block (init_linear_only from the shipped model):
#   default_unet (#18, first lever): the multi-scale encoder-decoder block of
#                trainer/configs/default_unet.toml (levels 3, receptive field ~185 px, 2.3 M
#                parameters, 40 k MAC/px), crops of 256 px, batch 8, the batches made on the GPU
#                (data_on_device: the block reads 92 px of features around each crop, so the CPU
#                workers could not keep up);
#   default_dil  (#18): version 4's half-resolution flat block with dilations 1,2,3,4,4,3,2,1
#                (receptive field ~105 px instead of ~41), batch 32, 7 CPU data workers;
#   default_fm   (#18, deconvolution in feature space): version 4's flat block with 8 learned
#                feature maps deconvolved beside the image (network.feature_maps; CPU probe in
#                trainer/runs/default_featmaps/), batch 32, the batches made on the GPU.
# The repository travels with the BSDS500 images in .devdata/ (git-ignored; linked as
# ../shared/data/bsds500 there).  Checkpoints and logs go to $OUT; export and evaluate them here:
#   glra-train export   --config <config> --set 'run="<OUT>/<name>"' --set 'out="<dir>"'
#   glra-train evaluate --config <config> --set 'model="<dir>"' \
#       --set 'tuned="trainer/runs/default/eval_classical/summary.json"'
# then score the paper's set: python benchmarks/paper_table2.py --model unet=<dir> --methods ...
# A CPU dry run (what was checked before committing):
#   PATH=$PWD/.venv/bin:$PATH LINK=0 MIN=0.3 W=0 OUT=/tmp/o bash trainer/runs/gpu_next/gpu_train.sh
set -uo pipefail
MIN=${MIN:-7.0}
W=${W:-7}
export PYTHONPATH=$PWD/src:$PWD/trainer/src PYTHONUNBUFFERED=1
if [ "${LINK:-1}" = 1 ]; then mkdir -p ../shared/data && ln -sfn "$PWD/.devdata" ../shared/data/bsds500; fi
nvidia-smi -L || true; nproc
python3 -c "import torch;print(torch.__version__, torch.cuda.is_available())"
fit() {
  local name=$1 config=$2; shift 2
  mkdir -p "$OUT/$name"
  python3 -m glra_trainer.cli fit --config "$config" --set "out=\"$OUT/$name\"" \
    --set max_minutes=$MIN --set 'init_from="src/napari_glra/models/default"' "$@" > "$OUT/$name/train.out" 2>&1
  echo "$name exit $?"
}
fit default_unet trainer/configs/default_unet.toml --set crop=256 --set batch=8 --set workers=0 \
  --set echo=1 --set data_on_device=true &
fit default_dil trainer/configs/default_v4.toml --set workers=$W \
  --set 'network.dilations=[1, 2, 3, 4, 4, 3, 2, 1]' &
fit default_fm trainer/configs/default_v4.toml --set workers=0 --set echo=1 --set data_on_device=true \
  --set network.feature_maps=8 &
wait
for n in default_unet default_dil default_fm; do echo "== $n"; tail -3 "$OUT/$n/train.out"; cat "$OUT/$n/log.csv"; rm -f "$OUT/$n"/*.tmp; done
