#!/usr/bin/env bash
# Maintainers' tooling: scripts/gpu_speed_check.py's GPU job as three calls to a borrowed GPU machine, made back
# to back (the machine keeps /tmp only while warm): each carries a third of the packed CIFAR-10 batches
# (.pack/record1..3, under the 64 MiB upload limit beside the project) and runs a part of gpu_speed_check.py
# while the data gather in /tmp/stage.
#
#   bash part2-pytorch/scripts/gpu_job.sh pack ARCHIVE   here, once: pack and split the batches into .pack/
#   bash part2-pytorch/scripts/gpu_job.sh 1 $OUT         device call 1 (carry .pack/record1): the GPU-path tests
#   bash part2-pytorch/scripts/gpu_job.sh 2 $OUT         device call 2 (carry .pack/record2): the bench
#   bash part2-pytorch/scripts/gpu_job.sh 3 $OUT         device call 3 (carry .pack/record3): record, torchrun
#
# (from the repository's root). Each call writes OUT/table.md; call 3 also OUT/record_MODEL/record.csv and
# record.md for each model timed. The budgets (150 + 200 + 360 s, a machine's start and the uploads beside them)
# fit a 15-minute lease: make each call with timeout_s 60 s above its budget, back to back. Arguments after OUT
# go to gpu_speed_check.py: a rehearsal on a CPU adds --device cpu --bench-seconds 2 --record MyModel-GPU:1
# --record-seeds 1 (and, for call 3, --data-dir with a small synthetic folder).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
stage=/tmp/stage
python=${PYTHON:-python3}  # another: PYTHON=/absolute/path/to/python bash ...
if [ $# -lt 2 ]; then
    set -- usage  # one line, below
fi
case "$1" in
pack)
    packed=$(mktemp -d)
    "$python" "$root/../shared/tools/cifar_pack.py" pack "$2" "$packed" || exit 2
    rm -rf "$root/.pack/record1" "$root/.pack/record2" "$root/.pack/record3"
    mkdir -p "$root/.pack/record1" "$root/.pack/record2" "$root/.pack/record3"
    cp "$root/../shared/tools/cifar_pack.py" "$root/.pack/record1/"
    mv "$packed"/data_batch_1.* "$packed"/data_batch_2.* "$root/.pack/record1/"
    mv "$packed"/data_batch_3.* "$packed"/data_batch_4.* "$root/.pack/record2/"
    mv "$packed"/* "$root/.pack/record3/"
    du -sh "$root"/.pack/record*
    ;;
1|2|3)
    part=$1 out=$2
    shift 2
    mkdir -p "$stage" && cp "$root/.pack/record$part"/* "$stage/" || exit 2
    cd "$root/part2-pytorch" || exit 2
    case $part in
    1) "$python" scripts/gpu_speed_check.py "$out" --steps tests --seconds 150 "$@" ;;
    2) "$python" scripts/gpu_speed_check.py "$out" --steps bench --seconds 200 "$@" ;;
    3) "$python" "$stage/cifar_pack.py" unpack "$stage" data || exit 2
       "$python" scripts/gpu_speed_check.py "$out" --steps record torchrun --seconds 360 "$@" ;;
    esac
    ;;
*)
    echo "usage: gpu_job.sh pack ARCHIVE | gpu_job.sh 1|2|3 OUT" >&2
    exit 2
    ;;
esac
