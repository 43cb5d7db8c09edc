#!/bin/sh
# Debian's PostgreSQL 15 for the tests of the `postgres` target (cli/tests/test_postgres_target.py):
# installs the server's programs with apt-get when they are missing (root only), without creating or
# starting a cluster of its own (the test starts one as an unprivileged user), and prints the folder
# of the programs.
set -eu
BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$BIN/initdb" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: PostgreSQL 15 is not installed and only root can install it: sudo $0" >&2
        exit 1
    fi
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/tally.conf
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >&2
fi
"$BIN/postgres" --version >&2
echo "$BIN"
