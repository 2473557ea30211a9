#!/usr/bin/env bash
# paper-digest against rss2email 3.14 on the five seeds (issue 7).
#
#     bench/vs_rss2email.sh [RUNS]          # default 5
#
# The seeds are served on loopback (python -m http.server): as RSS feeds to rss2email (digest
# mode, SMTP to a loopback server) and as dump pages to `paper-digest run` (five dump_url
# sources, 12 subscribers, email by SMTP to the same kind of server). Both start from fresh
# state every run: rss2email from a new feed database (its five feeds added untimed), and
# paper-digest from a new database (its schema created untimed, by worker.store.db's
# open_engine: `status` only reads, and makes none). Runs alternate, after a warm-up round;
# each tool's median wall time over RUNS runs is printed, with the ratio, its CPU time, and the
# mail each sent (bench/smtp_sink.py keeps it): rss2email sends a paper again for every feed
# that lists it, paper-digest once per subscriber. Then where paper-digest's time went (its
# log's stage times) and the floor under it (Python alone, `import sqlalchemy`), timed then.
#
# rss2email is installed with pip into bench/out/rss2email-venv on first use. Everything it
# writes goes to bench/out/vs_rss2email (gitignored); the seed text is never committed.
set -euo pipefail

RUNS=${1:-5}
BENCH=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$BENCH")
OUT=$BENCH/out/vs_rss2email
PY=$REPO/.venv/bin/python
PD=$REPO/.venv/bin/paper-digest
R2E_VENV=$BENCH/out/rss2email-venv
R2E=$R2E_VENV/bin/r2e

if [ ! -x "$R2E" ]; then
  python3 -m venv "$R2E_VENV"
  "$R2E_VENV/bin/pip" install --quiet rss2email==3.14
fi

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rm -rf "$OUT"
mkdir -p "$OUT/mail"
# Both tools run from compiled bytecode, as pip installs them: with PYTHONDONTWRITEBYTECODE
# set, the editable paper-digest of this checkout would be compiled anew on every run while
# the pip-installed rss2email is not. The untimed warm-up round fills the cache.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX=$OUT/pycache
HTTP_PORT=$(free_port)
SMTP_PORT=$(free_port)
BASE=http://127.0.0.1:$HTTP_PORT
"$PY" "$BENCH/vs_rss2email.py" inputs "$OUT" "$BASE" "$SMTP_PORT"

"$PY" -m http.server --bind 127.0.0.1 --directory "$OUT/www" "$HTTP_PORT" >/dev/null 2>&1 &
HTTP_PID=$!
SINK_PID=
cleanup() {
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
  kill "$HTTP_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do
  curl -fs "$BASE/feed-0.xml" >/dev/null 2>&1 && break
  sleep 0.1
done

start_sink() {  # $1: where this run's mail goes
  mkdir -p "$1"
  "$PY" "$BENCH/smtp_sink.py" --port "$SMTP_PORT" --save "$1" --count-file "$1/count.txt" \
    > "$1/ready" &
  SINK_PID=$!
  for _ in $(seq 100); do grep -q ready "$1/ready" 2>/dev/null && return; sleep 0.05; done
  echo "SMTP sink did not start" >&2; exit 1
}
stop_sink() { kill "$SINK_PID"; wait "$SINK_PID" || true; SINK_PID=; }

# One round: each tool once, from fresh state. Round 0 is not counted: it warms the bytecode
# cache of the modules only a real run imports (the untimed steps do not reach them).
one_round() {  # $1: the round's number
  local run=$1 state=$OUT/r2e-$1 n=0
  # rss2email: a new feed database, the five feeds added (untimed), then one timed run.
  mkdir -p "$state"
  cp "$OUT/r2e.cfg" "$state/config"
  while read -r url; do
    "$R2E" -c "$state/config" -d "$state/data.json" add "seed$n" "$url" reader@example.org
    n=$((n + 1))
  done < "$OUT/feeds.txt"
  start_sink "$OUT/mail/rss2email-$run"
  "$PY" "$BENCH/vs_rss2email.py" time "$OUT" rss2email "$run" "$OUT/rss2email.log" -- \
    "$R2E" -c "$state/config" -d "$state/data.json" run
  stop_sink

  # paper-digest: a new database (schema made untimed), then one timed run.
  rm -f "$OUT/pd/pd.db" "$OUT/pd/pd.db-wal" "$OUT/pd/pd.db-shm"
  rm -rf "$OUT/pd/out" "$OUT/pd/pd.db-runs"
  "$PY" -c 'import sys; from worker.store.opening import open_engine; open_engine(sys.argv[1])' \
    "sqlite:///$OUT/pd/pd.db"
  start_sink "$OUT/mail/paper-digest-$run"
  # -vv: its log (JSON lines) ends with the pass's stage times, which the report sums up.
  PAPER_DIGEST_LOG_FORMAT=json "$PY" "$BENCH/vs_rss2email.py" time "$OUT" paper-digest \
    "$run" "$OUT/paper-digest-$run.log" -- "$PD" -vv --config "$OUT/pd" run
  stop_sink
}

: > "$OUT/times.tsv"
for run in $(seq 0 "$RUNS"); do
  one_round "$run"
done

"$PY" "$BENCH/vs_rss2email.py" report "$OUT"
