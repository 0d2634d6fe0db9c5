#!/usr/bin/env bash
# Make PostgreSQL's server programs (initdb, pg_ctl, postgres) available for the tests.
# Idempotent: does nothing when they are already on PATH or in /usr/lib/postgresql/*/bin;
# otherwise installs Debian's PostgreSQL 15 server (root or sudo needed). Prints what it did.
set -euo pipefail

find_bin() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

if dir=$(find_bin); then
    echo "ensure_postgres: PostgreSQL server programs found in $dir ($("$dir/initdb" --version))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure_postgres: initdb/pg_ctl not found and not root: install postgresql-15 by hand" >&2
        exit 1
    fi
fi

echo "ensure_postgres: initdb/pg_ctl not found; installing Debian's postgresql-15 with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends postgresql-15 \
    || $SUDO apt-get install -y -q --no-install-recommends postgresql
# the package starts a system cluster on port 5432; the tests start their own clusters
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | while read -r version name _; do
        $SUDO pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
    done
fi

if dir=$(find_bin); then
    echo "ensure_postgres: installed; server programs in $dir ($("$dir/initdb" --version))"
    exit 0
fi
echo "ensure_postgres: installation finished but initdb/pg_ctl are still missing" >&2
exit 1
