#!/usr/bin/env bash
# scripts/launch.sh (path in $1): every rank gets its variables, and a failed rank stops the rest.
set -u
launch="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$(MASTER_PORT=29777 "$launch" -n 3 -- bash -c \
  'echo "$RANK $WORLD_SIZE $LOCAL_RANK $MASTER_ADDR $MASTER_PORT $NCCL_NVLS_ENABLE"' | sort)
want=$'0 3 0 127.0.0.1 29777 0\n1 3 1 127.0.0.1 29777 0\n2 3 2 127.0.0.1 29777 0'
[ "$out" = "$want" ] || fail "variables: got '$out', want '$want'"

# Rank 1 fails at once; the others would sleep a minute (in a child of theirs, whose pid they
# leave in $tmp).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
TMP="$tmp" "$launch" -n 3 -- bash -c \
  '[ "$RANK" = 1 ] && exit 7; sleep 60 & echo $! >"$TMP/$RANK"; wait' 2>/dev/null
rc=$?
took=$(($(date +%s) - start))
[ $rc = 7 ] || fail "exit status $rc, want 7"
[ $took -lt 20 ] || fail "the other ranks ran on for ${took} s"
for f in "$tmp"/*; do
  # Empty: the rank was stopped between opening the file and writing the pid (its child, if
  # any, was in the same process group).
  [ -s "$f" ] || continue
  # Dead, or a zombie that this machine's init does not reap, within 2 s.
  for _ in $(seq 20); do
    state=$(cut -d' ' -f3 "/proc/$(cat "$f")/stat" 2>/dev/null)
    [ -z "$state" ] || [ "$state" = Z ] && continue 2
    sleep 0.1
  done
  fail "a rank's child outlived the launch"
done

"$launch" -n 0 -- true 2>/dev/null && fail "-n 0 accepted"
"$launch" -n 2 -- true || fail "two ranks that succeed"
echo "launch.sh: ok"
