#!/bin/sh
# Record a Valgrind lackey trace of a command: ./record.sh OUT.lackey [COMMAND [ARGS...]]
# Without a command, traces `ls /` (about 770,000 references, 11 MB).
set -eu
if [ $# -lt 1 ]; then
    echo "usage: $0 OUT.lackey [COMMAND [ARGS...]]" >&2
    exit 2
fi
out=$1
shift
[ $# -gt 0 ] || set -- ls /
# --log-file keeps the program's own output out of the trace; lackey writes one line per
# reference plus ==PID== banners, which the reader skips.
valgrind --tool=lackey --trace-mem=yes --log-file="$out" "$@" > /dev/null
echo "recorded $(grep -c '^[ I]' "$out") references of '$*' in $out"
