#!/bin/sh
# As the official MinIO image's entrypoint: a command that is not `minio` gets `minio` in front
# (so `server /data ...` runs `minio server /data ...`).
if [ "${1}" != "minio" ]; then
  if [ -n "${1}" ]; then
    set -- minio "$@"
  fi
fi
exec "$@"
