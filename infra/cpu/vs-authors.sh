#!/usr/bin/env bash
# Ours against the authors' PyTorch training step on this machine's CPU, in one script run:
# ROUNDS interleaved rounds of (the authors' fp32 step, ours fp32, ours bf16-mixed), U-ViT-S/2, batch 8, THREADS threads,
# then a table of per-round seconds and the ratios (ours ÷ theirs: the ratio of medians, and the extremes over all
# pairings of rounds). Interleaving puts both sides under the same drift of a shared machine.
# Needs: Debian's python3-torch and libopenblas0-pthread (apt-get install python3-torch libopenblas0-pthread), and a
# clone or mirror of github.com/zizhao-hu/U-ViT for the authors' modules; REFERENCE_BENCH names the folder with the
# authors'-step bench (bench_reference.py, einops.py, sdpa_shim.py).
# Usage: infra/cpu/vs-authors.sh GIT_DIR [OUT_DIR]   (env: ROUNDS=3 THREADS=2 PYTHON=/usr/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/../.."
ref_git=${1:?usage: infra/cpu/vs-authors.sh GIT_DIR_OF_zizhao-hu/U-ViT [OUT_DIR]}
out=${2:-$(mktemp -d /tmp/vs-authors.XXXX)}
rounds=${ROUNDS:-3}; threads=${THREADS:-2}; python=${PYTHON:-/usr/bin/python3}
bench=${REFERENCE_BENCH:?set REFERENCE_BENCH to the folder with the authors-step bench (bench_reference.py, einops.py, sdpa_shim.py)}
mkdir -p "$out/ref/libs"
for f in __init__.py timm.py uvit_t2i.py uvit_t2i_cross.py uvit_t2i_old.py; do
  git --git-dir="$ref_git" show "HEAD:libs/$f" > "$out/ref/libs/$f"
done
./fusion plan > /dev/null   # builds when a source changed, so no round pays for it
fusion="dotnet src/Fusion.Cli/bin/Release/net10.0/fusion.dll"
export OMP_NUM_THREADS=$threads
for r in $(seq 1 "$rounds"); do
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread "$python" "$bench/bench_reference.py" "$out/ref" \
    batch=8 steps=3 threads="$threads" > "$out/$r-authors.log" 2>&1
  $fusion bench trainstep -s batch=8 -s warmup=2 -s steps=3 > "$out/$r-fp32.log" 2>&1
  $fusion bench trainstep -s batch=8 -s warmup=2 -s steps=3 -s precision=bf16 > "$out/$r-bf16.log" 2>&1
  echo "round $r of $rounds done $(date +%T)"
done
"$python" - "$out" "$rounds" <<'EOF'
import re, statistics as st, sys
out, rounds = sys.argv[1], int(sys.argv[2])
fams = ['early-concat', 'early-cross', 'intermediate-concat', 'intermediate-cross']
times = {who: {f: [] for f in fams} for who in ('authors', 'fp32', 'bf16')}
for r in range(1, rounds + 1):
    for line in open(f'{out}/{r}-authors.log'):
        m = re.match(r'(\S+)\s.*step ([\d.]+) s', line)
        if m: times['authors'][m.group(1)].append(float(m.group(2)))
    for who in ('fp32', 'bf16'):
        for line in open(f'{out}/{r}-{who}.log'):
            m = re.search(r'S/2 (\S+?)(\(c=\d+,v=\d+\))? train steps/s.*?│\s*([\d.]+)', line)
            if m: times[who][m.group(1)].append(1 / float(m.group(3)))
def ratio(ours, theirs):
    return f'{st.median(ours) / st.median(theirs):.2f} [{min(ours) / max(theirs):.2f}, {max(ours) / min(theirs):.2f}]'
print(f'| variant | authors fp32 (s) | ours fp32 (s) | ours bf16-mixed (s) | ratio fp32 | ratio bf16-mixed |')
print('|---|---:|---:|---:|---:|---:|')
for f in fams:
    a, o, b = (times[w][f] for w in ('authors', 'fp32', 'bf16'))
    if not (len(a) == len(o) == len(b) == rounds):
        sys.exit(f'{f}: a round is missing a result (logs in {out})')
    row = lambda xs: ' / '.join(f'{x:.2f}' for x in xs)
    print(f'| {f} | {row(a)} | {row(o)} | {row(b)} | {ratio(o, a)} | {ratio(b, a)} |')
print(f'logs: {out}')
EOF
