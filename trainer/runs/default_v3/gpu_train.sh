#!/bin/bash
# How the v3 run was made on a lent GPU machine: the repository with the BSDS500 images carried
# in .devdata/ (git-ignored, linked as ../shared/data/bsds500 there), results written to $OUT.
# One device call: environment check, a 400-step probe of the v3 recipe (same code path), then
# the v3 run with as many steps as fit in TRAIN_S seconds at the probe's speed.
set -euo pipefail
TRAIN_S=${TRAIN_S:-450}
PROBE_STEPS=${PROBE_STEPS:-400}
EXTRA=${EXTRA:-}
export PYTHONPATH=$PWD/src:$PWD/trainer/src PYTHONUNBUFFERED=1
mkdir -p ../shared/data && ln -sfn "$PWD/.devdata" ../shared/data/bsds500
nvidia-smi -L || true; nproc
python3 -c "import torch,numpy,scipy,skimage;print(torch.__version__,numpy.__version__,scipy.__version__,skimage.__version__,torch.cuda.is_available())"
T0=$(date +%s)
python3 -m glra_trainer.cli fit --config trainer/configs/default_v3.toml --set out=\"/tmp/probe\" \
  --set steps=$PROBE_STEPS --set val_every=$((PROBE_STEPS / 4)) --set checkpoint_every=100000 --set val_per_family=2 $EXTRA > $OUT/probe.out 2>&1 || { tail -40 $OUT/probe.out; exit 1; }
cat /tmp/probe/log.csv
echo "probe wall $(( $(date +%s) - T0 )) s"
N=$(python3 - <<PY
import csv
r = list(csv.DictReader(open("/tmp/probe/log.csv")))
sps = (float(r[-1]["seconds"]) - float(r[0]["seconds"])) / (int(r[-1]["step"]) - int(r[0]["step"]))
print(max(${MIN_STEPS:-500}, int($TRAIN_S / sps) // 500 * 500))
PY
)
echo "steps $N"
mkdir -p $OUT/run
python3 -m glra_trainer.cli fit --config trainer/configs/default_v3.toml --set out=\"$OUT/run\" \
  --set steps=$N --set max_minutes=${CAP_MIN:-8} $EXTRA > $OUT/run/train.out 2>&1 || true
tail -5 $OUT/run/train.out; cat $OUT/run/log.csv
rm -f $OUT/run/*.tmp
