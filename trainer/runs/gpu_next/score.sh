#!/bin/bash
# After gpu_train.sh (run here, on the CPU, with the device call's $OUT fetched): export each run,
# score it on the card (trainer/configs/default_v4.toml's [evaluate]: 16 BSDS500 test crops, valid
# blur, 1 % and 3 % noise, classical methods tuned as for the shipped card) and print its margins
# beside the shipped version 4's; with PAPER=1 also score the paper's Table 2 set (central region,
# noise estimated; needs the NBD-GLRA mirror, see benchmarks/paper_table2.py).  About 2 min a run.
# Usage (repository root):
#   PATH=$PWD/.venv/bin:$PATH bash trainer/runs/gpu_next/score.sh <OUT> [run ...]
# (runs default: default_unet default_dil default_fm; results in <OUT>/<run>/export and eval).
set -uo pipefail
OUT=${1:?usage: score.sh OUT [run ...]}
shift
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(default_unet default_dil default_fm)
C=trainer/configs/default_v4.toml
MODELS=()
for n in "${RUNS[@]}"; do
  R="$OUT/$n"
  [ -f "$R/checkpoint.pt" ] || { echo "$n: no checkpoint in $R, skipped"; continue; }
  glra-train export --config $C --set "run=\"$R\"" --set "out=\"$R/export\"" \
    --set "version=\"gen2-candidate-$n\"" > "$R/export.out" 2>&1 || { echo "$n: export failed ($R/export.out)"; continue; }
  glra-train evaluate --config $C --set "model=\"$R/export\"" --set "out=\"$R/eval\"" \
    --set 'tuned="trainer/runs/default/eval_classical/summary.json"' > "$R/eval.out" 2>&1 \
    || { echo "$n: evaluate failed ($R/eval.out)"; continue; }
  echo "== $n (margins over the best tuned classical method at 1 % and 3 %)"
  grep -E "^\| \*margin" "$R/eval/table.md"
  MODELS+=(--model "${n//-/_}=$R/export")
done
echo "== shipped version 4"
grep -E "^\| \*margin" trainer/runs/default_v4/eval/table.md
if [ "${PAPER:-0}" = 1 ] && [ ${#MODELS[@]} -gt 0 ]; then
  methods=()
  for n in "${RUNS[@]}"; do [ -d "$OUT/$n/export" ] && methods+=("glra_${n//-/_}_est"); done
  python benchmarks/paper_table2.py "${MODELS[@]}" --methods "${methods[@]}" --docs "$OUT/paper"
fi
