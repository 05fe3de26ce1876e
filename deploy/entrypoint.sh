#!/bin/sh
# Container entrypoint: on the first start of an empty /data volume, create config.toml, the master
# key (0600) and the store; afterwards keep them. Then run the command (the daemon by default).
set -eu
: "${SYSALERT_DATA_DIR:=/data}"
export SYSALERT_DATA_DIR
config="${SYSALERT_CONFIG:-$SYSALERT_DATA_DIR/config.toml}"
if [ ! -f "$config" ]; then
    sysalert init
fi
exec "$@"
