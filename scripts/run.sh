#!/bin/sh
# `make run`: start helmdeckd in the foreground on the embedded defaults and
# say how to get a token.
set -eu
cd "$(dirname "$0")/.."
: "${HELMDECK_STATE_DIR:=$PWD/var}"
export HELMDECK_STATE_DIR
mkdir -p "$HELMDECK_STATE_DIR"
addr=${HELMDECK_ADDR:-127.0.0.1:3000}
cat >&2 <<MSG
helmdeck: starting on http://$addr (state in $HELMDECK_STATE_DIR)
helmdeck: in another shell, get a token and call a pack:
    export HELMDECK_STATE_DIR=$HELMDECK_STATE_DIR
    TOKEN=\$(bin/helmdeck token mint --sub me --scopes admin --ttl 12h)
    curl -s -H "Authorization: Bearer \$TOKEN" http://$addr/api/v1/packs
    curl -s -H "Authorization: Bearer \$TOKEN" -d '{"name":"hello.txt","content":"hi"}' http://$addr/api/v1/packs/artifact.put
    bin/helmdeck audit verify
helmdeck: or set HELMDECK_ADMIN_PASSWORD and POST /api/v1/auth/login. Ctrl-C stops.
MSG
exec bin/helmdeckd
