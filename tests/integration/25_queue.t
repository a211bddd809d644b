#!/bin/bash
# More calls than workers: the rest wait in the queue, and a call's timeout
# counts from its arrival, so nobody waits forever for a worker.
. "$(dirname "$0")/lib.sh"
hd_start HELMDECK_WORKER_POOL=1

t0=$(date +%s%N)
for i in 1 2 3; do
	curl -s -o "$HD_TMP/q$i" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -d '{"ms":5000}' \
		"$HD_URL/api/v1/packs/test.sleep" >"$HD_TMP/s$i" &
	pids="${pids:-} $!"
done
wait $pids   # not a bare wait: the daemon is a background job too
t1=$(date +%s%N)
for i in 1 2 3; do
	is "$(cat "$HD_TMP/s$i") $(jq -r .error "$HD_TMP/q$i")" "504 timeout" "call $i of 3 on a one-worker pool ends in timeout"
done
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -lt 4500 ]; ok $? "all three ended within the 1 s pack timeout plus teardown (${ms} ms), not after 3 x 5 s"
like "$(cat "$HD_TMP"/q* | jq -r .message | sort -u | tr '\n' '|')" 'waited 1000 ms for a worker|exceeded its 1000 ms timeout' \
	"queued and running calls say which timeout hit them"
is "$(pack test.sleep/v1 '{"ms":10}' | jq -r .output.slept_ms)" 10 "the pool serves again afterwards"
done_testing
