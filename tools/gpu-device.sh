#!/usr/bin/env bash
# The GPU measurement of issue 14 as one command, the same on the lent GPU machine and in the rehearsal here
# (`make gpu-rehearsal`): docs/gpu.md.
#
#   bash tools/gpu-device.sh [KIT]        KIT: what `make gpu-kit` wrote (default .gpu-kit): bundle/ (the converted
#                                          ONNX, the eval rows already preprocessed, the TF original's
#                                          probabilities) and wheels/ (this suite, installed without its
#                                          dependencies: the machine has numpy, onnx, onnxruntime, torch ...)
#   PYTHON  the interpreter holding torch (default python3); OUT  where results go (default out/gpu)
#
# Needs no TensorFlow, no pyfarmhash and no network. Each step writes its own files, so a step that crashes or
# runs out of time keeps what the steps before it (and, for the figures, every case before it) wrote:
#   device.txt             the kit's provenance (commit, wheel SHA-256), the interpreter, torch, CUDA and
#                          nvidia-smi's view of the device
#   run.log                everything the steps printed
#   gpu_throughput.json    compute-only and end-to-end figures per lever set x precision x batch (rewritten
#                          after each case; "complete": true once every case ran), .txt: the table
#   gpu-tests.xml          the GPU tests (pytest -m gpu tests/gpu), inputs from the same bundle
#   gpu_profile.json       where the time goes (torch.profiler), a run of its own
# Without a CUDA device (the rehearsal) the figures are the same code path on the CPU in FP32, marked
# "NOT A GPU FIGURE", and the GPU tests skip with that reason. Exit status: the first failing step's, else 0.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
KIT=$(cd "${1:-.gpu-kit}" && pwd) || { echo "gpu-device: no kit directory ${1:-.gpu-kit} (make gpu-kit)" >&2; exit 2; }
PYTHON=${PYTHON:-python3}
# A path to the interpreter (a venv's bin/python) made absolute, as the steps run from $OUT; not resolved
# through links, which would leave the venv for its base interpreter.
case $PYTHON in */*) PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON") || exit 2;; esac
OUT=${OUT:-out/gpu}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
for needed in "$KIT/bundle/manifest.json" "$KIT"/wheels/widedeep_bench-*.whl; do
    [ -e "$needed" ] || { echo "gpu-device: $needed is missing (make gpu-kit writes it)" >&2; exit 2; }
done

site=$(mktemp -d)
"$PYTHON" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --target "$site" \
    "$KIT"/wheels/*.whl || { echo "gpu-device: could not install $KIT/wheels" >&2; exit 2; }
export PYTHONPATH="$site" PYTHONUNBUFFERED=1
cd "$OUT"  # outside the checkout: the installed wheel runs, not the source tree

exec > >(tee run.log) 2>&1  # the whole output kept beside the results (a call returns only its tail)

status=0
step() {  # step NAME SECONDS COMMAND...: run it under a time limit, report, keep the first failure
    local name=$1 limit=$2; shift 2
    echo "--- $name ($(date -u +%H:%M:%S), at most ${limit} s)"
    timeout --kill-after=5 "$limit" "$@"
    local rc=$?
    echo "--- $name: exit $rc"
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
}

{
    date -u +%Y-%m-%dT%H:%M:%SZ
    cat "$KIT/provenance.txt" 2>/dev/null || echo "kit provenance: $KIT/provenance.txt missing (make gpu-kit writes it)"
    "$PYTHON" - <<'PY'
import platform, sys
import torch
print(f"python {platform.python_version()} ({sys.executable})")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuda available: {torch.cuda.is_available()}")
for index in range(torch.cuda.device_count()):
    print(f"device {index}: {torch.cuda.get_device_name(index)}, capability {torch.cuda.get_device_capability(index)}")
PY
    if command -v nvidia-smi > /dev/null; then nvidia-smi; else echo "nvidia-smi: not on PATH"; fi
} > device.txt 2>&1
cat device.txt

# On a GPU the whole run fits about 6 minutes of a 10-minute call (the figures: 36 cases of >= 1 s per figure,
# about 3 minutes on an H200, estimated), leaving the device budget a second call. Without CUDA it is the
# rehearsal: the same steps on the CPU in FP32 (--cpu), which is slower, so with longer limits.
cpu=() limits=(240 60 60)
if ! grep -q "cuda available: True" device.txt; then cpu=(--cpu) limits=(600 120 300); fi

step figures "${limits[0]}" "$PYTHON" -m widedeep_bench bench gpu --bundle "$KIT/bundle" "${cpu[@]}" \
    --json gpu_throughput.json
step tests "${limits[1]}" env WIDEDEEP_GPU_BUNDLE="$KIT/bundle" "$PYTHON" -m pytest -p no:cacheprovider -q -m gpu \
    --rootdir "$REPO" -c "$REPO/pytest.ini" "$REPO/tests/gpu" --junitxml gpu-tests.xml
step profile "${limits[2]}" "$PYTHON" -m widedeep_bench bench gpu --bundle "$KIT/bundle" "${cpu[@]}" --torch-profile \
    --levers none all --json gpu_profile.json
rm -rf "$site"
echo "gpu-device: results in $OUT; exit $status"
exit "$status"
