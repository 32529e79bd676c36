#!/usr/bin/env bash
# One process per GPU on this node, with torchrun-style variables (RANK, WORLD_SIZE,
# LOCAL_RANK, MASTER_ADDR, MASTER_PORT); rank 0 hands NCCL's unique id to the others.
#
#   scripts/launch.sh -n 8 -- build/bin/vpmoe-host --config X.toml
#
# -n defaults to the GPUs nvidia-smi lists; --port (default $MASTER_PORT or 29500). Waits for
# every rank; when one fails, stops the others and exits with its status.
#
# Several nodes under Slurm: one task per GPU, srun sets SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID
# and vpmoe reads them. An sbatch script:
#
#   #!/usr/bin/env bash
#   #SBATCH --nodes=2 --ntasks-per-node=8 --gpus-per-node=8
#   export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
#   export MASTER_PORT=29500 NCCL_NVLS_ENABLE=0
#   srun build/bin/vpmoe-host --config X.toml
set -uo pipefail

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

n="" port="${MASTER_PORT:-29500}"
while [ $# -gt 0 ]; do
  case "$1" in
    -n | --nproc) n="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    -h | --help) usage 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || usage
[ -n "$n" ] || n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU') || true
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "launch.sh: -n wants a process count, found '$n'" >&2; exit 2; }

export WORLD_SIZE="$n" MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}" MASTER_PORT="$port"
# NVLink multicast stays off (it can take a shared machine's GPUs out of service); a value
# set by hand wins.
export NCCL_NVLS_ENABLE="${NCCL_NVLS_ENABLE:-0}"
export TORCH_SYMM_MEM_DISABLE_MULTICAST="${TORCH_SYMM_MEM_DISABLE_MULTICAST:-1}"
export NVSHMEM_DISABLE_NVLS="${NVSHMEM_DISABLE_NVLS:-1}"

# Each rank in its own process group, so stopping a rank stops what it started too.
set -m
pids=()
for ((r = 0; r < n; r++)); do
  RANK=$r LOCAL_RANK=$r "$@" &
  pids+=($!)
done
set +m  # no job notices

stop_all() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
}
trap 'stop_all; exit 130' INT TERM

for _ in "${pids[@]}"; do
  wait -n
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "launch.sh: a rank exited with status $rc; stopping the others" >&2
    stop_all
    wait
    exit $rc
  fi
done
