#!/usr/bin/env bash
# scripts/launch.sh (path in $1): every rank gets its variables, and a failed rank stops the rest.
set -u
launch="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$(MASTER_PORT=29777 "$launch" -n 3 -- bash -c \
  'echo "$RANK $WORLD_SIZE $LOCAL_RANK $MASTER_ADDR $MASTER_PORT $NCCL_NVLS_ENABLE"' | sort)
want=$'0 3 0 127.0.0.1 29777 0\n1 3 1 127.0.0.1 29777 0\n2 3 2 127.0.0.1 29777 0'
[ "$out" = "$want" ] || fail "variables: got '$out', want '$want'"

# Rank 1 fails at once; the others would sleep a minute (a child of theirs too).
start=$(date +%s)
"$launch" -n 3 -- bash -c '[ "$RANK" = 1 ] && exit 7; sleep 67 & wait' 2>/dev/null
rc=$?
took=$(($(date +%s) - start))
[ $rc = 7 ] || fail "exit status $rc, want 7"
[ $took -lt 20 ] || fail "the other ranks ran on for ${took} s"
pgrep -f "sleep 67" >/dev/null && fail "a rank's child outlived the launch"

"$launch" -n 0 -- true 2>/dev/null && fail "-n 0 accepted"
"$launch" -n 2 -- true || fail "two ranks that succeed"
echo "launch.sh: ok"
