#!/bin/bash
# Checks the stand-ins with plain `docker run` on a private network (names, volumes and network
# made here and removed at the end; host ports are random, on 127.0.0.1):
#   mysql   *_FILE init, the compose healthcheck, the user connects from another container and has
#           ALL on its database only, a wrong password is refused, a restart keeps data, no re-init
#   minio   root password from a file, `mc ready local`, storage-init's exact command (twice: the
#           second run takes the `||` path), the minio client with the service account
#           (verify/s3-check.mjs), a restart keeps objects and the account
#   proxy   deploy/proxy/nginx.conf (if present) in front of two containers with the alias webapp
#   adminer the login page shows ADMINER_DEFAULT_SERVER, a login as the user lists its tables
#   docker-proxy  deploy/docker-proxy/haproxy.cfg run as compose runs it (root, no capabilities,
#           read-only, the socket mounted): /_ping passes to the engine, /volumes and a
#           privileged create are refused with 403
# Usage: verify-standins.sh        (after build-standins.sh; needs curl on the host)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
P="mlpl-verify-$$"
NET="$P-net"
TMP=$(mktemp -d /tmp/mlpl-verify.XXXXXX)
FAILED=0
pass() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; FAILED=1; }
check() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi; }
cleanup() {
  docker rm -f $(docker ps -aq --filter "name=^$P-") >/dev/null 2>&1
  docker volume rm "$P-db" "$P-s3" >/dev/null 2>&1
  docker network rm "$NET" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
hostport() { docker port "$1" "$2" | head -n1 | sed 's/.*://'; }
wait_for() { local n=$1; shift; for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }

docker network create "$NET" >/dev/null
mkdir -p "$TMP/secrets"
printf 'us3r pa$$ "x'"'"'y\n' > "$TMP/secrets/mysql_password"      # quotes, $ and a space
printf 'r00t-pw\n' > "$TMP/secrets/mysql_root_password"
printf 'root-secret-123\n' > "$TMP/secrets/minio_root_password"
printf 'svc-secret-4567' > "$TMP/secrets/storage_secret_key"
chmod 644 "$TMP"/secrets/*
MP="$(cat "$TMP/secrets/mysql_password")"

# ---- mysql ---------------------------------------------------------------------------------
t0=$(date +%s.%N)
docker run -d --name "$P-db" --network "$NET" --network-alias database \
  -e MYSQL_DATABASE=mlpl -e MYSQL_USER=mlpl \
  -e MYSQL_PASSWORD_FILE=/run/secrets/mysql_password -e MYSQL_ROOT_PASSWORD_FILE=/run/secrets/mysql_root_password \
  -v "$P-db:/var/lib/mysql" -v "$TMP/secrets:/run/secrets:ro" mlpl-test/mysql >/dev/null
health='mysqladmin ping -h 127.0.0.1 -u"$MYSQL_USER" -p"$(cat "$MYSQL_PASSWORD_FILE")" --silent'
if wait_for 120 docker exec "$P-db" sh -c "$health"; then
  pass "mysql: initialised, compose healthcheck passes ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s)"
else
  fail "mysql: healthcheck"; docker logs "$P-db" 2>&1 | tail -20
fi
sql() { docker run --rm --network "$NET" mlpl-test/mysql mariadb -hdatabase "$@"; }
check "mysql: user connects from another container, creates a table" \
  sql -umlpl -p"$MP" mlpl -e "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t VALUES (1,'kept')"
grants=$(sql -umlpl -p"$MP" -N -e "SHOW GRANTS" 2>&1)
if grep -q 'ALL PRIVILEGES ON `mlpl`.\* TO `mlpl`@`%`' <<<"$grants" && ! grep -q 'ON \*\.\*.*ALL' <<<"$grants"; then
  pass "mysql: user has ALL on mlpl.* only"
else fail "mysql: grants: $grants"; fi
if sql -umlpl -pwrong mlpl -e 'SELECT 1' >/dev/null 2>&1; then fail "mysql: wrong password accepted"; else pass "mysql: wrong password refused"; fi
check "mysql: root@% with the root password" sql -uroot -pr00t-pw -e 'SELECT 1'
docker restart "$P-db" >/dev/null
wait_for 120 docker exec "$P-db" sh -c "$health" || fail "mysql: healthcheck after restart"
inits=$(docker logs "$P-db" 2>&1 | grep -c 'Initializing database files')
[ "$inits" = 1 ] && pass "mysql: restart on the existing datadir, no re-init" || fail "mysql: initialised $inits times"
[ "$(sql -umlpl -p"$MP" mlpl -N -e 'SELECT v FROM t WHERE id=1' 2>/dev/null)" = kept ] \
  && pass "mysql: data kept across the restart" || fail "mysql: data lost on restart"

# ---- minio ---------------------------------------------------------------------------------
docker run -d --name "$P-s3" --network "$NET" --network-alias storage \
  -e MINIO_ROOT_USER=minio-root -e MINIO_ROOT_PASSWORD_FILE=/run/secrets/minio_root_password \
  -v "$P-s3:/data" -v "$TMP/secrets:/run/secrets:ro" mlpl-test/minio server /data --console-address ":9001" >/dev/null
wait_for 40 docker exec "$P-s3" mc ready local && pass "minio: mc ready local" || { fail "minio: mc ready local"; docker logs "$P-s3"; }
INIT='mc alias set local http://storage:9000 "$MINIO_ROOT_USER" "$(cat /run/secrets/minio_root_password)" && mc admin user add local "$STORAGE_ACCESS_KEY" "$(cat /run/secrets/storage_secret_key)" && { mc admin policy attach local readwrite --user "$STORAGE_ACCESS_KEY" || mc admin user info local "$STORAGE_ACCESS_KEY" | grep -q readwrite; }'
for run in 1 2; do
  check "minio: storage-init command, run $run" docker run --rm --name "$P-init" --network "$NET" \
    -e MINIO_ROOT_USER=minio-root -e STORAGE_ACCESS_KEY=mlpl-service -v "$TMP/secrets:/run/secrets:ro" \
    --entrypoint /bin/sh mlpl-test/minio -c "$INIT"
done
if docker run --rm --network "$NET" --entrypoint mc mlpl-test/minio alias set x http://storage:9000 minio-root not-the-password >/dev/null 2>&1; then
  fail "minio: mc alias set accepted a wrong root password"; else pass "minio: mc alias set refuses a wrong root password"; fi
s3check() {
  docker run --rm --network "$NET" -e S3_HOST=storage -e MLPL_ROOT="$ROOT" -v "$ROOT:$ROOT:ro" \
    -e ROOT_USER=minio-root -e ROOT_SECRET=root-secret-123 -e SVC_KEY=mlpl-service -e SVC_SECRET=svc-secret-4567 \
    --entrypoint node mlpl-test/minio "$HERE/verify/s3-check.mjs" 9000 "$1" 2>&1 | grep -v ExperimentalWarning | sed 's/^/  minio client: /'
  return "${PIPESTATUS[0]}"
}
s3check write || FAILED=1
docker restart "$P-s3" >/dev/null
wait_for 40 docker exec "$P-s3" mc ready local || fail "minio: not ready after restart"
s3check read || FAILED=1

# ---- proxy ---------------------------------------------------------------------------------
cat > "$TMP/upstream.conf" <<'EOF'
events {}
http { server { listen 5050; location / { default_type application/json; return 200 '{"from":"$hostname"}'; } } }
EOF
CONF="$ROOT/deploy/proxy/nginx.conf"
if [ ! -f "$CONF" ]; then
  CONF="$TMP/proxy.conf"
  printf 'events {}\nhttp {\n  resolver 127.0.0.11 valid=1s ipv6=off;\n  server { listen 5050;\n    location / { set $u webapp; proxy_pass http://$u:5050; } }\n}\n' > "$CONF"
fi
for i in 1 2; do
  docker run -d --name "$P-web$i" --network "$NET" --network-alias webapp -v "$TMP/upstream.conf:/etc/nginx/nginx.conf:ro" mlpl-test/proxy >/dev/null
done
docker run -d --name "$P-px" --network "$NET" -p 127.0.0.1::5050 -v "$CONF:/etc/nginx/nginx.conf:ro" mlpl-test/proxy >/dev/null
PX=$(hostport "$P-px" 5050)
wait_for 20 curl -sf "http://127.0.0.1:$PX/" || fail "proxy: no answer on 5050"
froms=$(for _ in 1 2 3 4 5 6; do curl -s "http://127.0.0.1:$PX/"; echo; done | sort -u | grep -c from)
[ "$froms" = 2 ] && pass "proxy: $(basename "$CONF") reaches both containers with the alias webapp" || fail "proxy: reached $froms of 2 upstreams"
workers=$(docker exec "$P-px" sh -c 'for p in /proc/[0-9]*; do echo "$(stat -c %U "$p") $(tr "\0" " " < "$p/cmdline")"; done' | grep 'worker process')
grep -qv '^nobody ' <<<"$workers" && fail "proxy: workers not as nobody: $workers" || pass "proxy: workers run as nobody"

# ---- adminer -------------------------------------------------------------------------------
docker run -d --name "$P-ad" --network "$NET" -p 127.0.0.1::8080 -e ADMINER_DEFAULT_SERVER=database mlpl-test/adminer >/dev/null
AD=$(hostport "$P-ad" 8080)
wait_for 20 curl -sf "http://127.0.0.1:$AD/" || fail "adminer: no answer on 8080"
curl -s "http://127.0.0.1:$AD/" | grep -q 'name="auth\[server\]" value="database"' \
  && pass "adminer: login page shows the default server" || fail "adminer: default server missing"
page=$(curl -s -c "$TMP/cj" -b "$TMP/cj" -L --data-urlencode 'auth[driver]=server' --data-urlencode 'auth[server]=database' \
  --data-urlencode 'auth[username]=mlpl' --data-urlencode "auth[password]=$MP" --data-urlencode 'auth[db]=mlpl' "http://127.0.0.1:$AD/")
grep -q "Database: mlpl" <<<"$page" && grep -q "id='Table-t'" <<<"$page" \
  && pass "adminer: login as mlpl to the mysql stand-in lists table t" || fail "adminer: login failed"

# ---- docker-proxy --------------------------------------------------------------------------
docker run -d --name "$P-dp" --network "$NET" -p 127.0.0.1::2375 --user root --read-only --cap-drop ALL \
  --security-opt no-new-privileges:true -v /var/run/docker.sock:/var/run/docker.sock \
  -v "$ROOT/deploy/docker-proxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" mlpl-test/docker-proxy >/dev/null
DP=$(hostport "$P-dp" 2375)
if wait_for 20 curl -sf "http://127.0.0.1:$DP/_ping"; then pass "docker-proxy: /_ping reaches the engine"; else fail "docker-proxy: /_ping"; docker logs "$P-dp" 2>&1 | tail -10; fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DP/volumes")
[ "$code" = 403 ] && pass "docker-proxy: /volumes refused" || fail "docker-proxy: /volumes answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d '{"Image":"x","HostConfig":{"Privileged":true}}' "http://127.0.0.1:$DP/containers/create")
[ "$code" = 403 ] && pass "docker-proxy: a privileged create refused" || fail "docker-proxy: a privileged create answered $code"

echo
[ "$FAILED" = 0 ] && echo "all stand-in checks passed" || echo "SOME CHECKS FAILED"
exit "$FAILED"
