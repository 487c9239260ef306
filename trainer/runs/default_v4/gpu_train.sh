#!/bin/bash
# How the v4 candidates were trained on a lent GPU machine (one device call): the repository
# with the BSDS500 images carried in .devdata/ (git-ignored, linked as ../shared/data/bsds500
# there), two artifact-block architectures trained side by side from v3's deconvolution block,
# 7 data workers each, MIN minutes each; results (checkpoints, logs) written to $OUT.
#   LINK=0 MIN=0.3 OUT=/tmp/o bash trainer/runs/default_v4/gpu_train.sh     (a CPU dry run)
set -uo pipefail
MIN=${MIN:-7.0}
W=${W:-7}
EXTRA=${EXTRA:-}
export PYTHONPATH=$PWD/src:$PWD/trainer/src PYTHONUNBUFFERED=1
if [ "${LINK:-1}" = 1 ]; then mkdir -p ../shared/data && ln -sfn "$PWD/.devdata" ../shared/data/bsds500; fi
nvidia-smi -L || true; nproc
python3 -c "import torch,numpy,scipy,skimage;print(torch.__version__,numpy.__version__,scipy.__version__,skimage.__version__,torch.cuda.is_available())"
fit() {
  local name=$1; shift
  mkdir -p "$OUT/$name"
  python3 -m glra_trainer.cli fit --config trainer/configs/default_v4.toml --set "out=\"$OUT/$name\"" \
    --set max_minutes=$MIN --set workers=$W $EXTRA "$@" > "$OUT/$name/train.out" 2>&1
  echo "$name exit $?"
}
fit s2w48 &
fit s4w128 --set network.scale=4 --set network.width=128 --set network.depth=4 &
wait
for n in s2w48 s4w128; do echo "== $n"; tail -3 "$OUT/$n/train.out"; cat "$OUT/$n/log.csv"; rm -f "$OUT/$n"/*.tmp; done
