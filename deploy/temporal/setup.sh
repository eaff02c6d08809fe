#!/bin/sh
# One-shot setup of the Temporal namespace used by the complaint orchestrator.
#
# Run by the `temporal-admin-tools` service of docker-compose.yml (image
# temporalio/admin-tools, which ships the `temporal` CLI); works against any Temporal
# server the CLI can reach (TEMPORAL_ADDRESS, plus the CLI's own TLS / API-key variables).
#
#   1. waits until the server answers SERVING;
#   2. waits for the namespace (auto-setup creates `default`), creating it if it never
#      appears;
#   3. sets the namespace retention to 3650 days: closed complaints stay in Temporal's
#      history for ten years, the audit trail;
#   4. registers the custom search attributes the workflow keeps current
#      (workflows/search_attributes.py, CLI_TYPES; tests/test_compose.py checks that
#      every one of them is listed below).
#
# Idempotent: every step first looks at what exists, so running it on each
# `docker compose up` is harmless. POSIX sh on purpose (the image's /bin/sh).
set -eu

: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${TEMPORAL_RETENTION:=3650d}"
: "${SETUP_TIMEOUT_SECONDS:=300}"
: "${NAMESPACE_GRACE_SECONDS:=60}"
export TEMPORAL_ADDRESS

# name=type, as `temporal operator search-attribute create` expects them.
SEARCH_ATTRIBUTES="
ComplaintStatus=Keyword
ComplaintCategory=Keyword
ComplaintDepartment=Keyword
ComplaintChannel=Keyword
ComplaintDeadline=Datetime
ComplaintOverdue=Bool
ComplaintEscalationLevel=Int
"

NS="$TEMPORAL_NAMESPACE"

log() {
    printf '%s temporal-setup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
}

now() {
    date +%s
}

deadline=$(( $(now) + SETUP_TIMEOUT_SECONDS ))

# wait_for DESCRIPTION COMMAND...: retry COMMAND until it succeeds or the deadline passes.
wait_for() {
    description=$1
    shift
    until "$@"; do
        if [ "$(now)" -ge "$deadline" ]; then
            log "gave up waiting for $description after ${SETUP_TIMEOUT_SECONDS}s"
            exit 1
        fi
        log "waiting for $description ..."
        sleep 2
    done
}

server_serving() {
    # -w: NOT_SERVING must not count as SERVING.
    temporal operator cluster health 2>/dev/null | grep -qw SERVING
}

namespace_exists() {
    temporal operator namespace describe --namespace "$NS" >/dev/null 2>&1
}

# Prints the custom search attributes of the namespace, one "Name Type" per line.
list_search_attributes() {
    temporal operator search-attribute list --namespace "$NS" 2>/dev/null
}

# has_search_attribute NAME TYPE: true when NAME is registered with TYPE.
has_search_attribute() {
    list_search_attributes | awk -v n="$1" -v t="$2" '$1 == n && $2 == t { found = 1 } END { exit !found }'
}

# name_taken NAME: true when NAME is registered with any type.
name_taken() {
    list_search_attributes | awk -v n="$1" '$1 == n { found = 1 } END { exit !found }'
}

log "Temporal at $TEMPORAL_ADDRESS, namespace $NS"
wait_for "the Temporal server at $TEMPORAL_ADDRESS" server_serving
log "server is SERVING"

# auto-setup registers the default namespace right after the server starts; give it a
# moment before creating the namespace ourselves.
grace_until=$(( $(now) + NAMESPACE_GRACE_SECONDS ))
until namespace_exists; do
    if [ "$(now)" -ge "$grace_until" ]; then
        log "namespace $NS not found: creating it"
        if ! temporal operator namespace create --namespace "$NS" --retention "$TEMPORAL_RETENTION" \
            --description "Complaint handling (created by deploy/temporal/setup.sh)"; then
            # Lost a race with auto-setup? Then it exists now; anything else is fatal.
            namespace_exists || { log "could not create namespace $NS"; exit 1; }
        fi
        break
    fi
    log "waiting for namespace $NS ..."
    sleep 2
done
log "namespace $NS exists"

set_retention() {
    temporal operator namespace update --namespace "$NS" --retention "$TEMPORAL_RETENTION"
}
# A namespace created a moment ago may not be in the server's namespace cache yet
# ("not found" for about ten seconds): retry until the deadline.
log "setting retention of $NS to $TEMPORAL_RETENTION (audit trail)"
wait_for "the retention update of $NS" set_retention

# create_search_attribute NAME TYPE; "already exists" from a concurrent run is fine as
# long as the type matches.
create_search_attribute() {
    temporal operator search-attribute create --namespace "$NS" --name "$1" --type "$2" \
        || has_search_attribute "$1" "$2"
}

failed=0
for entry in $SEARCH_ATTRIBUTES; do
    name=${entry%%=*}
    type=${entry#*=}
    if has_search_attribute "$name" "$type"; then
        log "search attribute $name ($type) already registered"
        continue
    fi
    if name_taken "$name"; then
        log "ERROR: search attribute $name exists with another type than $type; fix it by hand"
        failed=1
        continue
    fi
    log "creating search attribute $name ($type)"
    wait_for "search attribute $name" create_search_attribute "$name" "$type"
done

# Creation is asynchronous on some visibility stores: wait until all are listed.
all_registered() {
    for entry in $SEARCH_ATTRIBUTES; do
        has_search_attribute "${entry%%=*}" "${entry#*=}" || return 1
    done
}
if [ "$failed" -eq 0 ]; then
    wait_for "the search attributes to be listed" all_registered
fi

temporal operator namespace describe --namespace "$NS" || true
if [ "$failed" -ne 0 ]; then
    log "setup finished with errors"
    exit 1
fi
log "setup complete"
