#!/bin/bash
# Issue #18, first lever on a CPU proxy: the multi-scale (U-Net) artifact block of
# trainer/configs/default_unet.toml against version 4's flat half-resolution block, both trained
# afresh on version 4's deconvolution block, side by side on 2 CPU cores (1 thread each) for MIN
# minutes: same data stream (seed), crops of 256 px with 64 px of context, batch 2, lr 5e-4,
# bfloat16 artifact blocks.  Compare the validation columns of the two log.csv at equal time:
#   unet/log.csv  flat/log.csv   (in trainer/runs/default_unet/cpu_probe/)
# Usage (from the repository root, ../shared/data/bsds500 present):
#   PATH=$PWD/.venv/bin:$PATH nohup bash trainer/runs/default_unet/cpu_probe.sh > /tmp/probe.out 2>&1 &
set -uo pipefail
MIN=${MIN:-35}
OUT=${OUT:-trainer/runs/default_unet/cpu_probe}
COMMON=(--set crop=256 --set batch=2 --set context=64 --set lr=5e-4 --set workers=0 --set echo=1
        --set threads=1 --set max_minutes="$MIN" --set val_every=250 --set checkpoint_every=250)
mkdir -p "$OUT/unet" "$OUT/flat"
glra-train fit --config trainer/configs/default_unet.toml --set "out=\"$OUT/unet\"" "${COMMON[@]}" \
  > "$OUT/unet/train.out" 2>&1 &
glra-train fit --config trainer/configs/default_v4.toml --set "out=\"$OUT/flat\"" \
  --set 'init_from="src/napari_glra/models/default"' "${COMMON[@]}" > "$OUT/flat/train.out" 2>&1 &
wait
for n in unet flat; do echo "== $n"; cat "$OUT/$n/log.csv"; done
