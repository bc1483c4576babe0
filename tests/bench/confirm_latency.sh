#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# confirm_latency.sh: publish-to-confirm latency of persistent 1 KiB messages on
# a durable queue, RabbitMQ against Leveret in one run (a benchmark, not a test;
# not part of make test). Starts a private RabbitMQ (with its own epmd) the way
# ../shared/bench/compare.sh does, and Leveret on a fresh data dir, then runs
# tests/bench/confirm_latency.c against each, interleaved (R L R L ...), in two
# modes: "rate" (--rate msg/s, open loop) and "flat" (flat out, at most
# --window unconfirmed: compare.sh's confirm-persistent). Each run has a
# consumer draining the queue. Prints a table of medians and Leveret/RabbitMQ
# ratios; raw JSON lines are kept in the output directory.
#
#   tests/bench/confirm_latency.sh [--runs 3] [--duration 10] [--rate 1000]
#       [--window 256] [--size 1024] [--modes rate,flat] [--no-consumer]
#       [--with-write] [--leveret PATH] [--out DIR]
#
# --no-consumer runs without the consumer: RabbitMQ confirms a persistent
# message as soon as a consumer has acked it, without waiting for its disk;
# without a consumer every confirm waits for the store on both brokers.
# --with-write adds a third broker: Leveret with durability.sync "write"
# (confirms once written to the kernel, no fdatasync): shows what the fdatasync costs.
# Ports (environment): RABBIT_PORT=5684 RABBIT_DIST_PORT=25684
# RABBIT_EPMD_PORT=24379 LEVERET_PORT=5691 LEVERET_WRITE_PORT=5692.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RABBIT_PORT=${RABBIT_PORT:-5684}
RABBIT_DIST_PORT=${RABBIT_DIST_PORT:-25684}
RABBIT_EPMD_PORT=${RABBIT_EPMD_PORT:-24379}
RABBIT_NODENAME=${RABBIT_NODENAME:-rabbit-confirm@localhost}
LEVERET_PORT=${LEVERET_PORT:-5691}
LEVERET_WRITE_PORT=${LEVERET_WRITE_PORT:-5692}
RUNS=3 DURATION=10 RATE=1000 WINDOW=256 SIZE=1024 WITH_WRITE=0 OUT="" MODES="rate flat"
CONSUMER=""
LEVERET=$ROOT/build/plain/leveret
TOOL=$ROOT/build/plain/bench/confirm_latency

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --with-write) WITH_WRITE=1; shift ;;
    --modes) MODES=${2//,/ }; shift 2 ;;
    --no-consumer) CONSUMER=--no-consumer; shift ;;
    --leveret) LEVERET=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs: a positive integer"

SETUP=$ROOT/../shared/bench/setup.sh
[ -x "$SETUP" ] && { "$SETUP" >&2 || die "$SETUP failed"; }
make -s -C "$ROOT" leveret bench-confirm >&2 || die "cannot build leveret and the client"
[ -x "$LEVERET" ] || die "no broker binary $LEVERET"
command -v ss >/dev/null || die "ss (iproute2) is required"

WORK=$(mktemp -d /tmp/confirm-latency.XXXXXX) || die "mktemp failed"
[ -n "$OUT" ] || OUT=/tmp/confirm-latency-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" || die "cannot create $OUT"
: > "$OUT/runs.jsonl"

# ---- processes (all stopped by PID) ----
declare -A PID PORT BPID
EPMD_PID=""
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
port_busy() { [ -n "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]; }
listener_pid() { ss -Hltnp "( sport = :$1 )" 2>/dev/null | sed -n 's/.*pid=\([0-9]\+\).*/\1/p' | head -n1; }
stop_pid() { # PID TIMEOUT_S
  local p=$1 i
  alive "$p" || return 0
  kill -TERM "$p" 2>/dev/null
  for i in $(seq 1 $(($2 * 10))); do alive "$p" || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
}
cleanup() {
  local b
  for b in "${!PID[@]}"; do
    stop_pid "${PID[$b]}" 30
    [ -n "${BPID[$b]:-}" ] && stop_pid "${BPID[$b]}" 10
  done
  [ -n "$EPMD_PID" ] && stop_pid "$EPMD_PID" 5
  cp "$WORK"/*.log "$OUT/" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM HUP

wait_ready() { # NAME PORT
  local deadline=$((SECONDS + 60)) lp
  while [ $SECONDS -lt $deadline ]; do
    alive "${PID[$1]}" || die "$1 exited during start-up (log in $OUT)"
    lp=$(listener_pid "$2")
    if [ -n "$lp" ] && "$TOOL" --port "$2" --duration 0.2 --warmup 0 --no-consumer \
         --queue confirm-latency-ready >/dev/null 2>&1; then
      BPID[$1]=$lp
      return 0
    fi
    sleep 0.5
  done
  die "$1 not ready on port $2 within 60 s"
}

start_rabbit() {
  local server d=$WORK/rabbitmq p
  server=${RABBITMQ_SERVER_BIN:-$(readlink -f /usr/lib/rabbitmq/bin/rabbitmq-server 2>/dev/null)}
  [ -x "$server" ] || die "rabbitmq-server not found (../shared/bench/setup.sh installs it)"
  for p in "$RABBIT_PORT" "$RABBIT_DIST_PORT" "$RABBIT_EPMD_PORT"; do
    port_busy "$p" && die "port $p is in use; set RABBIT_PORT/RABBIT_DIST_PORT/RABBIT_EPMD_PORT"
  done
  ERL_EPMD_ADDRESS=127.0.0.1 setsid epmd -port "$RABBIT_EPMD_PORT" </dev/null >"$WORK/epmd.log" 2>&1 &
  EPMD_PID=$!
  sleep 0.3
  mkdir -p "$d/mnesia" "$d/log" "$d/home"
  echo '[].' > "$d/enabled_plugins"
  env HOME="$d/home" RABBITMQ_NODENAME="$RABBIT_NODENAME" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$RABBIT_PORT" RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" RABBITMQ_MNESIA_BASE="$d/mnesia" \
    RABBITMQ_LOG_BASE="$d/log" RABBITMQ_CONFIG_FILE="$d/rabbitmq" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    RABBITMQ_PID_FILE="$d/rabbit.pid" RABBITMQ_PLUGINS_EXPAND_DIR="$d/plugins-expand" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    ERL_EPMD_PORT="$RABBIT_EPMD_PORT" ERL_FLAGS="-start_epmd false" \
    setsid "$server" </dev/null >"$WORK/rabbitmq.log" 2>&1 &
  PID[rabbitmq]=$!
  PORT[rabbitmq]=$RABBIT_PORT
  log "started RabbitMQ $(basename "$(dirname "$(dirname "$server")")" | sed 's/rabbitmq_server-//') (pid ${PID[rabbitmq]}, port $RABBIT_PORT)"
  wait_ready rabbitmq "$RABBIT_PORT"
}

start_leveret() { # NAME PORT SYNC
  local d=$WORK/$1
  port_busy "$2" && die "port $2 is in use; set LEVERET_PORT/LEVERET_WRITE_PORT"
  mkdir -p "$d/data"
  printf '{"listeners": {"address": "127.0.0.1", "mgmt_port": 0, "prometheus_port": 0},\n "durability": {"sync": "%s"}}\n' "$3" > "$d/config.json"
  setsid "$LEVERET" --config "$d/config.json" --port "$2" --mgmt-port 0 --data-dir "$d/data" \
    </dev/null >"$WORK/$1.log" 2>&1 &
  PID[$1]=$!
  PORT[$1]=$2
  log "started $1 (pid ${PID[$1]}, port $2, durability.sync $3)"
  wait_ready "$1" "$2"
}

BROKERS="rabbitmq leveret"
start_rabbit
start_leveret leveret "$LEVERET_PORT" fsync
if [ $WITH_WRITE = 1 ]; then
  BROKERS="$BROKERS leveret-write"
  start_leveret leveret-write "$LEVERET_WRITE_PORT" write
fi

# ---- runs, interleaved ----
for b in $BROKERS; do # warm-up, not recorded
  "$TOOL" --port "${PORT[$b]}" --rate 0 --window "$WINDOW" --size "$SIZE" --duration 2 \
    --warmup 0 --label warmup >/dev/null 2>&1 || die "warm-up on $b failed"
done
for run in $(seq 1 "$RUNS"); do
  for mode in $MODES; do
    for b in $BROKERS; do
      r=0; [ $mode = rate ] && r=$RATE
      line=$("$TOOL" --port "${PORT[$b]}" --rate "$r" --window "$WINDOW" --size "$SIZE" \
               --duration "$DURATION" --warmup 1 $CONSUMER --label "$b.$mode.$run" \
               2>>"$OUT/summary.txt")
      rc=$?
      [ -n "$line" ] && echo "$line" >> "$OUT/runs.jsonl"
      [ $rc = 0 ] || log "run $run $mode on $b: exit $rc"
      log "run $run $mode $b: $(tail -n1 "$OUT/summary.txt")"
      sleep 1
    done
  done
done

# ---- report ----
/usr/bin/python3 - "$OUT/runs.jsonl" "$BROKERS" "$RATE" "$WINDOW" "$SIZE" "$DURATION" "$RUNS" \
  "$MODES" "${CONSUMER:-with}" <<'EOF' | tee "$OUT/report.md"
import json, statistics, sys
path, brokers, rate, window, size, duration, runs, modes, consumer = sys.argv[1:]
brokers = brokers.split()
rows = [json.loads(l) for l in open(path) if l.strip()]
def vals(b, mode, key):
    return [r[key] for r in rows if r["label"].startswith(b + "." + mode + ".") and r.get("status") == "ok"]
metrics = [("confirmed_per_s", "confirmed/s"), ("latency_p50_us", "p50 us"),
           ("latency_p90_us", "p90 us"), ("latency_p99_us", "p99 us"),
           ("latency_p999_us", "p99.9 us"), ("latency_max_us", "max us")]
print("## publish-to-confirm latency, persistent %s B messages, durable queue, %s"
      % (size, "no consumer" if consumer == "--no-consumer" else "one consumer"))
print()
print("- rate: %s msg/s open loop (window %s); flat: flat out, at most %s unconfirmed" % (rate, window, window))
print("- %s runs of %s s per broker and mode, interleaved; cells: median [min-max]" % (runs, duration))
print()
head = "| mode | metric | " + " | ".join(brokers) + " | " + " | ".join("%s/rabbitmq" % b for b in brokers[1:]) + " |"
print(head)
print("|" + "---|" * (2 + 2 * len(brokers) - 1))
for mode in modes.split():
    for key, name in metrics:
        cells, meds = [], []
        for b in brokers:
            v = vals(b, mode, key)
            if not v:
                cells.append("FAIL"); meds.append(None); continue
            m = statistics.median(v)
            meds.append(m)
            cells.append("%.0f [%.0f-%.0f]" % (m, min(v), max(v)))
        ratios = ["%.2f" % (m / meds[0]) if m is not None and meds[0] else "n/a" for m in meds[1:]]
        print("| %s | %s | %s | %s |" % (mode, name, " | ".join(cells), " | ".join(ratios)))
EOF
echo
echo "raw results: $OUT (runs.jsonl, summary.txt, report.md, broker logs)"
