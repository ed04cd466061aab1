#!/usr/bin/env bash
# Packs what infra/gpu/bench.sh needs on a GPU machine without a .NET SDK or NuGet into .gpu/ (git-ignored): a
# self-contained build of the CLI without libtorch's CPU libraries (the machine's PyTorch supplies libtorch with CUDA),
# the authors' U-ViT modules and the authors'-step bench (bench_reference.py, einops.py, sdpa_shim.py from the folder
# REFERENCE_BENCH names). Then, on the GPU machine, `bash infra/gpu/bench.sh` (docs/benchmarks.md, "GPU").
# Usage: infra/gpu/prepare.sh GIT_DIR   (a clone or mirror of github.com/zizhao-hu/U-ViT)
set -euo pipefail
cd "$(dirname "$0")/../.."
ref_git=${1:?usage: infra/gpu/prepare.sh GIT_DIR_OF_zizhao-hu/U-ViT}
bench=${REFERENCE_BENCH:?set REFERENCE_BENCH to the folder with the authors-step bench (bench_reference.py, einops.py, sdpa_shim.py)}
out=.gpu
rm -rf "$out"
mkdir -p "$out/ref/libs" "$out/stage"
# The kit is copied to the GPU machine with the repository, so it is kept small: the .NET libraries are trimmed (ours
# and the packages' are kept whole, with reflection-based JSON on), which halves it to ≈ 18 MB. A fresh intermediate
# folder, or the trimmer reuses an earlier run's output and ignores changed switches.
# Trimming adds Microsoft.NET.ILLink.Tasks at the SDK's own version, which the committed packages.lock.json files do not
# hold: this build keeps its lock files in obj/, so it never rewrites them.
rm -rf src/Fusion.Cli/obj/Release/net10.0/linux-x64 src/Fusion.Cli/bin/Release/net10.0/linux-x64
dotnet publish src/Fusion.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:TrimMode=partial \
  -p:NuGetLockFilePath=obj/packages.trimmed.lock.json \
  -p:SuppressTrimAnalysisWarnings=true -p:JsonSerializerIsReflectionEnabledByDefault=true -p:UseSystemResourceKeys=false \
  -o "$out/stage/fusion" -v quiet -nologo
# libtorch and its OpenMP come from the device machine's PyTorch (LD_LIBRARY_PATH); TorchSharp's own glue stays.
(cd "$out/stage/fusion" && rm -f libtorch.so libtorch_cpu.so libtorch_global_deps.so libtorch_python.so libc10.so libshm.so \
  libgomp-*.so* libaoti_custom_ops.so libbackend_with_compiler.so libjitbackend_test.so libnnapi_backend.so libtorchbind_test.so \
  libmscordaccore.so libmscordbi.so createdump ./*.pdb)
tar -C "$out/stage" -cf - fusion | xz -6 -T0 > "$out/fusion.tar.xz"
rm -rf "$out/stage"
for f in __init__.py timm.py uvit_t2i.py uvit_t2i_cross.py uvit_t2i_old.py; do
  git --git-dir="$ref_git" show "HEAD:libs/$f" > "$out/ref/libs/$f"
done
cp "$bench/bench_reference.py" "$bench/einops.py" "$bench/sdpa_shim.py" "$out/ref/"
du -sh "$out" "$out/fusion.tar.xz"
