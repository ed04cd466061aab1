#!/usr/bin/env bash
# The GPU machine's measurements in one run (about 6 minutes), from the repository root with .gpu/ beside it
# (infra/gpu/prepare.sh). Writes logs to $OUT: the machine, ours vs the authors' training step on the GPU (bf16 at
# batch 256 and 64; ours with the finite-update guard on the host and on the device), a tiny pipeline on the GPU
# (the trainer's pinned, non-blocking path end to end), then the CPU path on that machine's CPU (the oneDNN
# convolution probe; ours vs the authors' step at batch 8).
set -uo pipefail
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
tar -C /tmp -xJf .gpu/fusion.tar.xz
# DEVICE, BATCHES and TORCH_LIB let the script's flow be tried on a CPU machine (TORCH_LIB: a libtorch 2.10 folder).
device=${DEVICE:-cuda}
batches=${BATCHES:-256 64}
torchlib=${TORCH_LIB:-$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')}
export LD_LIBRARY_PATH="$torchlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" DOTNET_CLI_TELEMETRY_OPTOUT=1
fusion=/tmp/fusion/fusion   # a variable, not a function: timeout runs programs
step() { echo "== $(date -u +%T) $*" | tee -a "$out/steps.txt"; }

step machine
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; lscpu; python3 -c 'import torch; print("torch", torch.__version__)'; } > "$out/machine.txt" 2>&1
"$fusion" env > "$out/env.txt" 2>&1

for batch in $batches; do
  for guard in host device; do
    step "ours batch $batch guard $guard"
    timeout 240 "$fusion" bench trainstep -s device=$device -s precision=bf16 -s batch=$batch -s warmup=5 -s steps=25 \
      -s guard=$guard -s peak_tflops=989 >> "$out/gpu-ours.txt" 2>&1
  done
  step "authors batch $batch"
  timeout 180 python3 .gpu/ref/bench_reference.py .gpu/ref batch=$batch steps=20 device=$device precision=bf16 >> "$out/gpu-authors.txt" 2>&1
done

step "tiny pipeline on the GPU"
timeout 150 "$fusion" run --profile tiny --device $device --store /tmp/store-gpu > "$out/gpu-tiny.txt" 2>&1

cores=$(nproc)
step "cpu conv probe"
timeout 120 "$fusion" bench conv > "$out/cpu-conv.txt" 2>&1
step "cpu ours batch 8 ($cores threads)"
timeout 200 "$fusion" bench trainstep -s batch=8 -s warmup=2 -s steps=3 > "$out/cpu-ours.txt" 2>&1
timeout 150 "$fusion" bench trainstep -s batch=8 -s warmup=2 -s steps=3 -s precision=bf16 >> "$out/cpu-ours.txt" 2>&1
step "cpu authors batch 8 ($cores threads)"
timeout 150 python3 .gpu/ref/bench_reference.py .gpu/ref batch=8 steps=3 threads=$cores > "$out/cpu-authors.txt" 2>&1
step done
