#!/usr/bin/env bash
# Entry point of a federation member in deploy/compose.yaml: create the node home on first start, share
# our identity bundle, pin every expected peer's bundle, then serve. The same commands an operator runs.
#
# Environment:
#   CASEBRIDGE_AGENCY      this agency's code (required)
#   CASEBRIDGE_FEDERATION  federation name (default eu-tht)
#   CASEBRIDGE_PEERS       space-separated codes of the peers to pin, e.g. "DE-BKA RO-DIICOT"
#   CASEBRIDGE_FIRST       1 for the one member that creates the federation secret
#   CASEBRIDGE_LISTEN      listen address (default 0.0.0.0:7443)
#   CASEBRIDGE_ADVERTISE   address peers dial (default: this container's host name, port 7443)
#   CASEBRIDGE_SHARED      directory holding the shared federation secret (default /var/lib/casebridge/federation)
#   CASEBRIDGE_BUNDLES     directory where members drop their bundles (default /var/lib/casebridge/bundles)
#   CASEBRIDGE_WAIT        seconds to wait for the secret and the peers' bundles (default 120)
set -euo pipefail

: "${CASEBRIDGE_AGENCY:?set CASEBRIDGE_AGENCY to the code of this agency}"
: "${CASEBRIDGE_HOME:?set CASEBRIDGE_HOME}"
FEDERATION=${CASEBRIDGE_FEDERATION:-eu-tht}
LISTEN=${CASEBRIDGE_LISTEN:-0.0.0.0:7443}
HOST=$(hostname)
ADVERTISE=${CASEBRIDGE_ADVERTISE:-$HOST:7443}
SHARED=${CASEBRIDGE_SHARED:-/var/lib/casebridge/federation}
BUNDLES=${CASEBRIDGE_BUNDLES:-/var/lib/casebridge/bundles}
WAIT=${CASEBRIDGE_WAIT:-120}
read -r -a PEERS <<<"${CASEBRIDGE_PEERS:-}"

say() { printf 'container-init %s: %s\n' "$CASEBRIDGE_AGENCY" "$*"; }

# Wait until FILE exists, for up to WAIT seconds.
await_file() {
    local file=$1 waited=0
    until [[ -s $file ]]; do
        if ((waited >= WAIT)); then
            say "gave up waiting for $file after $WAIT s" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

if [[ -f $CASEBRIDGE_HOME/casebridge.toml ]]; then
    say "node home exists; keeping it"
elif [[ ${CASEBRIDGE_FIRST:-0} == 1 ]]; then
    casebridge init --agency "$CASEBRIDGE_AGENCY" --federation "$FEDERATION" --listen "$LISTEN" --san "$HOST"
    # Written under a temporary name and renamed, so the others never read half a secret.
    cp "$CASEBRIDGE_HOME/federation.secret" "$SHARED/.federation.secret.tmp"
    mv "$SHARED/.federation.secret.tmp" "$SHARED/federation.secret"
else
    say "waiting for the federation secret in $SHARED"
    await_file "$SHARED/federation.secret"
    casebridge init --agency "$CASEBRIDGE_AGENCY" --federation "$FEDERATION" --listen "$LISTEN" --san "$HOST" \
        --federation-secret "$SHARED/federation.secret"
fi

casebridge identity --bundle "$BUNDLES/.$CASEBRIDGE_AGENCY.bundle.tmp" --advertise "$ADVERTISE" >/dev/null
mv "$BUNDLES/.$CASEBRIDGE_AGENCY.bundle.tmp" "$BUNDLES/$CASEBRIDGE_AGENCY.bundle"

for peer in "${PEERS[@]}"; do
    say "waiting for the bundle of $peer"
    await_file "$BUNDLES/$peer.bundle"
    casebridge peers add --bundle "$BUNDLES/$peer.bundle" --skip-existing
done

exec casebridge serve
