#!/usr/bin/env bash
# S3 servers for the storage tests: moto (fast tier) and a one-node Ceph RGW
# (real tier), both on 127.0.0.1.
#
#   scripts/s3-servers.sh start    install what is missing, start both, write the env file
#   scripts/s3-servers.sh stop     stop both, remove their data and the env file
#   scripts/s3-servers.sh status   say what runs
#
# The env file ($S3_ENV_FILE, default .s3-servers.env at the repo root) holds
# S3_MOTO_* and S3_RGW_* endpoint/key lines that tests/nodes/s3_fixtures.py reads.
# A tier that cannot be installed or started is left out of the file with a
# warning, so its tests skip locally; with CI set, that is an error instead.
#
# This script never touches anything outside its state folder ($S3_STATE_DIR),
# the env file and the moto virtualenv ($MOTO_VENV), and `stop` ends only the
# processes whose pid files it wrote. moto lives in its own virtualenv because
# its dependencies (botocore pins python-dateutil<3) conflict with the
# project's kubernetes client.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_FILE=${S3_ENV_FILE:-$ROOT/.s3-servers.env}
VENV=${VENV:-$ROOT/.venv}
TIMEOUT=${S3_SERVERS_TIMEOUT:-60}
MOTO_VERSION=5.2.5
MOTO_VENV=${MOTO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/shotfarm/moto-$MOTO_VERSION}
STATE=${S3_STATE_DIR:-${TMPDIR:-/tmp}/shotfarm-s3-$(id -u)-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)}
RGW_ACCESS_KEY=SHOTFARMRGWTEST0001
RGW_SECRET_KEY=shotfarm-rgw-test-secret-0001
CEPH_PACKAGES=(radosgw ceph-mon ceph-osd)

# The project's interpreter, which `make` created venvs with, also makes moto's.
PY="$VENV/bin/python"
[[ -x "$PY" ]] || PY=$(command -v python3)

say() { echo "s3-servers: $*" >&2; }
in_ci() { [[ -n "${CI:-}" && "${CI,,}" != "false" && "${CI}" != "0" ]]; }

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Any HTTP answer, even an error status, means the server is listening.
http_up() {
    "$PY" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
EOF
}

# wait_until DEADLINE WHAT CMD...: poll CMD until it succeeds or the deadline passes.
wait_until() {
    local deadline=$1 what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            say "$what did not come up within ${TIMEOUT}s"
            return 1
        fi
        sleep 0.2
    done
}

pid_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {
    local file=$1 pid i
    [[ -s "$file" ]] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            say "pid $pid ($file) ignored SIGTERM for 20 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$file"
}

# -- moto ---------------------------------------------------------------------

moto_running() {
    [[ -s "$STATE/moto.env" ]] && pid_alive "$STATE/moto/pid" &&
        http_up "$(sed -n 's/^S3_MOTO_ENDPOINT=//p' "$STATE/moto.env")/moto-api/"
}

moto_stop() {
    stop_pid "$STATE/moto/pid"
    rm -rf "$STATE/moto" "$STATE/moto.env"
}

moto_start() {
    if [[ ! -x "$MOTO_VENV/bin/moto_server" ]]; then
        say "installing moto[server]==$MOTO_VERSION into $MOTO_VENV"
        rm -rf "$MOTO_VENV"
        if ! { "$PY" -m venv "$MOTO_VENV" &&
            "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"; } >"$STATE/pip.log" 2>&1; then
            tail -n 20 "$STATE/pip.log" >&2
            rm -rf "$MOTO_VENV"
            return 1
        fi
    fi
    local port endpoint deadline=$((SECONDS + TIMEOUT))
    port=$(free_port)
    endpoint="http://127.0.0.1:$port"
    mkdir -p "$STATE/moto"
    setsid "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$STATE/moto/log" 2>&1 </dev/null &
    echo $! >"$STATE/moto/pid"
    wait_until "$deadline" "moto on $endpoint" http_up "$endpoint/moto-api/" || return 1
    # moto accepts any key until told otherwise: create an IAM user with an
    # s3:* policy while auth is still off, then switch auth on for every
    # later request, so a wrong secret is refused as on a real server.
    if ! timeout "$((deadline - SECONDS + 1))" "$MOTO_VENV/bin/python" - "$endpoint" >"$STATE/moto.env.tmp" <<'EOF'; then
import json, sys, urllib.request
import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1")
iam = boto3.client("iam", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap", **kw)
iam.create_user(UserName="shotfarm")
iam.put_user_policy(UserName="shotfarm", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="shotfarm")["AccessKey"]
# The body is the new INITIAL_NO_AUTH_ACTION_COUNT; without a content type
# Flask parses it as a form and moto sees an empty body.
req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", method="POST", data=b"0",
                             headers={"Content-Type": "text/plain"})
urllib.request.urlopen(req, timeout=5).read()
boto3.client("s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], **kw).list_buckets()
try:
    boto3.client("s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key="wrong", **kw).list_buckets()
    sys.exit("moto still accepts a wrong secret after reset-auth")
except ClientError:
    pass
print(f"S3_MOTO_ENDPOINT={endpoint}")
print(f"S3_MOTO_ACCESS_KEY={key['AccessKeyId']}")
print(f"S3_MOTO_SECRET_KEY={key['SecretAccessKey']}")
EOF
        say "could not create moto's IAM test user within the time left"
        return 1
    fi
    mv "$STATE/moto.env.tmp" "$STATE/moto.env"
}

# -- Ceph RGW -------------------------------------------------------------------

ceph_installed() { command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null; }

ceph_install() {
    local sudo=()
    if ((EUID != 0)); then
        sudo -n true 2>/dev/null || { say "Ceph is not installed and installing it needs root"; return 1; }
        sudo=(sudo -n)
    fi
    say "installing ${CEPH_PACKAGES[*]} (about 25 s)"
    if ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null; then
        timeout 300 "${sudo[@]}" apt-get update -qq || return 1
    fi
    timeout 600 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${CEPH_PACKAGES[@]}" >/dev/null
}

rgw_running() {
    local d="$STATE/ceph/run"
    [[ -s "$STATE/rgw.env" ]] && pid_alive "$d/mon.a.pid" && pid_alive "$d/osd.0.pid" &&
        pid_alive "$d/client.rgw.a.pid" && http_up "$(sed -n 's/^S3_RGW_ENDPOINT=//p' "$STATE/rgw.env")"
}

rgw_stop() {
    local d="$STATE/ceph/run" f
    # The gateway first, the monitor last: each needs the ones after it to exit cleanly.
    stop_pid "$d/client.rgw.a.pid"
    for f in "$d"/osd.*.pid; do [[ -e "$f" ]] && stop_pid "$f"; done
    stop_pid "$d/mon.a.pid"
    rm -rf "$STATE/ceph" "$STATE/rgw.env"
}

rgw_start() {
    ceph_installed || ceph_install || return 1
    local D="$STATE/ceph" C="$STATE/ceph/ceph.conf" fsid mon_port rgw_port uuid id
    local deadline=$((SECONDS + TIMEOUT))
    mkdir -p "$D"/{run,log,rgw}
    fsid=$(cat /proc/sys/kernel/random/uuid)
    mon_port=$(free_port)
    rgw_port=$(free_port)
    # With auth off, the crc modes are required or radosgw loops on
    # "get_initial_auth_request returned -13"; msgr2 must stay on because
    # monmaptool writes a v2 address.
    cat >"$C" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
[mon]
mon data = $D/mon.\$id
[osd]
osd data = $D/osd.\$id
osd objectstore = memstore
memstore device bytes = 2147483648
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $D/rgw
CONF
    left() { echo $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)); }
    monmaptool --create --fsid "$fsid" --add a "127.0.0.1:$mon_port" "$D/monmap" >/dev/null || return 1
    ceph-mon -c "$C" --mkfs -i a --monmap "$D/monmap" 2>>"$D/log/mkfs.log" || return 1
    ceph-mon -c "$C" -i a || return 1
    uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(timeout "$(left)" ceph -c "$C" osd new "$uuid" 2>>"$D/log/ceph-cli.log") || { say "the Ceph monitor did not answer"; return 1; }
    mkdir -p "$D/osd.$id"
    ceph-osd -c "$C" -i "$id" --mkfs --osd-uuid "$uuid" >>"$D/log/mkfs.log" 2>&1 || return 1
    ceph-osd -c "$C" -i "$id" 2>>"$D/log/osd.stderr" || return 1
    osd_up() { timeout 5 ceph -c "$C" osd stat 2>/dev/null | grep -q "1 up"; }
    wait_until "$deadline" "the Ceph OSD" osd_up || return 1
    radosgw -c "$C" -n client.rgw.a || return 1
    wait_until "$deadline" "radosgw on 127.0.0.1:$rgw_port" http_up "http://127.0.0.1:$rgw_port" || return 1
    timeout "$(left)" radosgw-admin -c "$C" user create --uid=shotfarm --display-name=shotfarm \
        --access-key="$RGW_ACCESS_KEY" --secret-key="$RGW_SECRET_KEY" >/dev/null 2>>"$D/log/ceph-cli.log" || return 1
    printf 'S3_RGW_ENDPOINT=http://127.0.0.1:%s\nS3_RGW_ACCESS_KEY=%s\nS3_RGW_SECRET_KEY=%s\n' \
        "$rgw_port" "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY" >"$STATE/rgw.env"
}

# -- commands -------------------------------------------------------------------

write_env_file() {
    local tmp="$ENV_FILE.tmp.$$"
    {
        echo "# written by scripts/s3-servers.sh start; removed by stop"
        cat "$STATE"/moto.env "$STATE"/rgw.env 2>/dev/null || true
    } >"$tmp"
    mv "$tmp" "$ENV_FILE"
}

# start_tier NAME: keep a healthy running tier, otherwise restart it from scratch.
start_tier() {
    local name=$1 t0=$SECONDS
    if "${name}_running"; then
        say "$name already running"
        return 0
    fi
    "${name}_stop"
    if "${name}_start"; then
        say "$name up in $((SECONDS - t0)) s"
        return 0
    fi
    local log
    if [[ $name == moto ]]; then log="$STATE/moto/log"; else log=$(ls -t "$STATE"/ceph/log/* 2>/dev/null | head -n 1); fi
    say "$name failed to start${log:+; last lines of $log:}"
    [[ -n "$log" ]] && tail -n 5 "$log" >&2 2>/dev/null
    "${name}_stop"
    return 1
}

cmd_start() {
    mkdir -p "$STATE"
    local failed=() moto_pid
    # The two tiers share nothing, so they come up side by side (RGW takes longest).
    start_tier moto &
    moto_pid=$!
    start_tier rgw || failed+=(rgw)
    wait "$moto_pid" || failed+=(moto)
    write_env_file
    if ((${#failed[@]})); then
        if in_ci; then
            say "CI is set and ${failed[*]} did not start: failing"
            cmd_stop
            return 1
        fi
        say "WARNING: ${failed[*]} not running; their tests will be skipped"
    fi
    say "endpoints written to $ENV_FILE"
}

cmd_stop() {
    rgw_stop
    moto_stop
    rm -rf "$STATE"
    rm -f "$ENV_FILE"
}

cmd_status() {
    local name
    for name in moto rgw; do
        if [[ -d "$STATE" ]] && "${name}_running"; then echo "$name: running"; else echo "$name: stopped"; fi
    done
    [[ -f "$ENV_FILE" ]] && cat "$ENV_FILE"
    return 0
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
