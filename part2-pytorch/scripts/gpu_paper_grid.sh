#!/usr/bin/env bash
# One GPU job: the paper-schedule ResNet-32 runs at 100:1 (experiments.py --grid paper-resnet32: seed 0 of CE,
# CB softmax focal and CB sigmoid focal, then seeds 1 and 2 of CE and CB softmax focal), WORKERS at a time on
# the GPU, stopped after SECONDS; every finished run's row is in OUT/longtail_paper.csv at once. Then the tables
# and plots of what finished, and the seed-0 CB softmax focal run's final weights as OUT/resnet-32-paper.pth.
#
#   bash scripts/gpu_paper_grid.sh PACKED OUT SECONDS WORKERS [--set KEY=VALUE ...]    (from part2-pytorch/)
#
# PACKED holds cifar_pack.py and the files `cifar_pack.py pack --longtail 0.01` wrote (unpacked into data/ here):
# the maintainers' upload format (their tool, not part of the kit); give - when CIFAR-10 is already
# in data/cifar-10-batches-py (sh data/get_data.sh).
# Rehearse on a CPU with a short schedule: ... 300 2 --set epochs=1 --set compile=none (the rows and the weights
# come back; the tables and plots only show runs of the grid's own schedule, so a rehearsal has none)
set -uo pipefail
python=${PYTHON:-python3}  # another: PYTHON=/absolute/path/to/python bash ...
usage="usage: bash scripts/gpu_paper_grid.sh PACKED|- OUT SECONDS WORKERS [--set KEY=VALUE ...]"
if [ $# -lt 4 ] || ! [[ $3 =~ ^[0-9]+$ && $4 =~ ^[1-9][0-9]*$ ]]; then
    echo "gpu_paper_grid.sh: error: $usage (SECONDS and WORKERS whole numbers, WORKERS at least 1)" >&2
    exit 2
fi
packed=$1 out=$2 seconds=$3 workers=$4
shift 4
cd "$(dirname "$0")/.." || exit 2
timeout=$(command -v timeout || command -v gtimeout) || {  # GNU coreutils': macOS has it as gtimeout (brew)
    echo "gpu_paper_grid.sh: error: needs GNU timeout (macOS: brew install coreutils)" >&2
    exit 2
}
mkdir -p "$out"
if [ "$packed" != - ]; then
    "$python" "$packed/cifar_pack.py" unpack "$packed" data || exit 2
fi
"$python" - <<'EOF'
import platform, torch
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
print(f"python {platform.python_version()}, torch {torch.__version__}, {gpu}", flush=True)
EOF
started=$(date +%s)
# SIGINT at the limit: experiments.py ends its workers and keeps every finished row
"$timeout" --signal=INT "$seconds" "$python" experiments.py --grid paper-resnet32 --workers "$workers" \
    --results "$out/longtail_paper.csv" --set compile=reduce-overhead "$@"
echo "grid: exit status $?, $(( $(date +%s) - started )) s"
"$python" experiments.py --plot --results "$out/longtail_paper.csv" || echo "no tables or plots (see the line above)"
"$python" - "$out" "$started" <<'EOF'
import glob, os, sys
import checkpointing
out, started = sys.argv[1], int(sys.argv[2])
drawn = [os.path.join(folder, "learning_curves.png")  # drawn after a run's last epoch: the run finished
         for folder in glob.glob("runs/longtail/paper-resnet32_0.01_Focal_rwTrue_b0.9999_g1.0_s0_*")]
finished = sorted((os.path.getmtime(png), os.path.dirname(png)) for png in drawn if os.path.exists(png))
if finished and finished[-1][0] >= started:  # this job's run, not a rehearsal's or an earlier job's
    folder = finished[-1][1]
    checkpointing.save_atomically(checkpointing.read_weights(os.path.join(folder, "last.pth")),
                                  os.path.join(out, "resnet-32-paper.pth"))
    print(f"weights of {folder} -> {out}/resnet-32-paper.pth")
EOF
cat "$out"/longtail_*tables.md 2>/dev/null || true
