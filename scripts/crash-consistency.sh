#!/usr/bin/env bash
# Crash consistency: kills `replay` and `sync` with SIGKILL at random moments, runs each again
# to the end on the same database, and checks what a user relies on:
#   - SQLite's integrity_check is ok;
#   - every imported archive is whole (its rows are exactly the ones its import recorded), no
#     archive-sourced row lacks its archive, and no imported archive is still listed as
#     downloaded or failed;
#   - no file is left in the archives directory, and no archive is left pending (half-written,
#     hidden) once the next run has ended;
#   - the final digest equals a clean, uninterrupted run's.
#
# Usage: scripts/crash-consistency.sh [TRIALS] [BINARY]
#   TRIALS  trials per command (default 5; CI runs 3; the issue's bar is 50:
#           `scripts/crash-consistency.sh 50 .build/release/community-history`)
#   BINARY  the community-history executable (default .build/debug/community-history)
# Needs sqlite3 (scripts/setup.sh installs it). Exits 1 on the first inconsistent database,
# leaving it in the printed directory.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-5}
bin=${2:-.build/debug/community-history}
fixture=Fixtures/demo-community
[ -x "$bin" ] || { echo "no executable at $bin (swift build first)"; exit 2; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed (scripts/setup.sh installs it)"; exit 2; }

work=$(mktemp -d)
network_pid=""
cleanup() {
  [ -n "$network_pid" ] && kill "$network_pid" 2>/dev/null && wait "$network_pid" 2>/dev/null
  [ "${keep:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

# The digest a run's JSON report gives (replay and sync print `"digest" : "<hex>"`).
digest() { sed -n 's/.*"digest" : "\([0-9a-f]*\)".*/\1/p' "$1" | tail -1; }
now_ms() { date +%s%3N; }

# Fails with a message when the database or the archives directory is inconsistent.
check() {
  local db=$1 archives=$2 what=$3
  local integrity incomplete orphans stale pending
  integrity=$(sqlite3 "$db" "PRAGMA integrity_check")
  incomplete=$(sqlite3 "$db" "SELECT COUNT(*) FROM imported_archive a WHERE
      (SELECT COUNT(*) FROM message m WHERE m.community_id = a.community_id AND m.archive_id = a.id)
      != a.stored_count + a.replaced_count + a.unchanged_count")
  orphans=$(sqlite3 "$db" "SELECT COUNT(*) FROM message WHERE source = 'archive'
      AND archive_id NOT IN (SELECT id FROM imported_archive)")
  # Also stale: an archive waiting for a key that is imported, or whose kept download is not
  # recorded; messages held for a key by an archive that is not imported.
  stale=$(sqlite3 "$db" "SELECT (SELECT COUNT(*) FROM downloaded_archive WHERE id IN (SELECT id FROM imported_archive))
      + (SELECT COUNT(*) FROM archive_failure WHERE id IN (SELECT id FROM imported_archive))
      + (SELECT COUNT(*) FROM key_wait WHERE kind = 'archive' AND (item IN (SELECT id FROM imported_archive)
           OR item NOT IN (SELECT id FROM downloaded_archive)))
      + (SELECT COUNT(*) FROM held_message WHERE archive_id NOT IN (SELECT id FROM imported_archive))")
  pending=$(sqlite3 "$db" "SELECT COUNT(*) FROM archive_ref WHERE pending_owner IS NOT NULL")
  local leftovers=0
  if [ -d "$archives" ]; then
    # An archive waiting for a group key keeps its download (imported from it once the key
    # comes): not a leftover. Every other file is.
    local kept
    kept=$(sqlite3 "$db" "SELECT d.path FROM downloaded_archive d JOIN key_wait k
        ON k.community_id = d.community_id AND k.kind = 'archive' AND k.item = d.id")
    leftovers=$(find "$archives" -type f | { grep -vxF -f <(printf '%s\n' "$kept") || true; } | wc -l)
  fi
  # A killed import's staging file is removed by the next run.
  [ -d "$db.staging" ] && leftovers=$((leftovers + $(find "$db.staging" -type f | wc -l)))
  if [ "$integrity" != ok ] || [ "$incomplete" != 0 ] || [ "$orphans" != 0 ] || [ "$stale" != 0 ] || [ "$pending" != 0 ] || [ "$leftovers" != 0 ]; then
    echo "FAIL $what: integrity=$integrity incomplete-archives=$incomplete orphan-rows=$orphans stale-records=$stale pending-archives=$pending leftover-files=$leftovers"
    echo "kept in $work"
    keep=1
    exit 1
  fi
}

# One command, killed after a random delay under its clean duration, then run again.
# $1 name, $2 clean digest, $3 clean duration (ms), $4 a function that sets `cmd` for DB and ARCHIVES.
trial_loop() {
  local name=$1 clean=$2 duration=$3 make=$4
  local killed=0
  for i in $(seq 1 "$trials"); do
    DB="$work/$name-$i.sqlite" ARCHIVES="$work/$name-$i.sqlite.archives"
    "$make"
    local delay=$(( (RANDOM * 32768 + RANDOM) % (duration > 1 ? duration : 1) ))
    # The executable itself in the background (not a subshell), so the kill reaches it.
    "${cmd[@]}" > "$work/$name-$i.first.json" 2>/dev/null &
    local pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Killed mid-run unless it had printed its whole report.
    [ -n "$(digest "$work/$name-$i.first.json")" ] || killed=$((killed + 1))
    "${cmd[@]}" > "$work/$name-$i.json" 2>"$work/$name-$i.err" || {
      local status=$?
      # sync exits 0 when everything importable is in; replay exits 0 too.
      echo "FAIL $name trial $i: the run after the kill exited $status"; cat "$work/$name-$i.err"; keep=1; exit 1
    }
    check "$DB" "$ARCHIVES" "$name trial $i (killed after ${delay} ms)"
    local got; got=$(digest "$work/$name-$i.json")
    if [ "$got" != "$clean" ]; then
      echo "FAIL $name trial $i (killed after ${delay} ms): digest $got, clean run $clean"; echo "kept in $work"; keep=1; exit 1
    fi
  done
  echo "$name: $trials trials ($killed killed mid-run, the others had finished): all consistent, digest $clean"
}

replay_cmd() { cmd=("$bin" replay "$fixture" --db "$DB" --json); }
sync_cmd() {
  cmd=("$bin" sync --community "$community" --codex-url "$codex_url" --waku-url "$waku_url" --db "$DB"
       --archives-dir "$ARCHIVES" --settle 0 --retries 0 --json --digest)
}

# replay: a clean run, then the trials.
DB="$work/replay-clean.sqlite" ARCHIVES="$work/none"
replay_cmd
start=$(now_ms); "${cmd[@]}" > "$work/replay-clean.json" 2>> "$work/clean.log"; replay_ms=$(( $(now_ms) - start ))
check "$DB" "$ARCHIVES" "replay clean run"
trial_loop replay "$(digest "$work/replay-clean.json")" "$replay_ms" replay_cmd

# sync: the fixture published on loopback demo nodes.
"$bin" demo-network --fixture "$fixture" --agent-config "$work/agent.json" --agent-db "$work/unused.sqlite" > "$work/network.log" 2>&1 &
network_pid=$!
for _ in $(seq 1 600); do [ -s "$work/agent.json" ] && break; sleep 0.1; done
sleep 0.3  # the file is written in one go; let it land
[ -s "$work/agent.json" ] || { echo "demo-network did not start"; cat "$work/network.log"; exit 2; }
codex_url=$(sed -n 's/.*"\(storageURL\|codexURL\)" *: *"\([^"]*\)".*/\2/p' "$work/agent.json")
waku_url=$(sed -n 's/.*"wakuURL" *: *"\([^"]*\)".*/\1/p' "$work/agent.json")
community=$(sed -n 's/.*"id" *: *"\(0x[0-9a-f]*\)".*/\1/p' "$work/agent.json" | head -1)
DB="$work/sync-clean.sqlite" ARCHIVES="$work/sync-clean.sqlite.archives"
sync_cmd
start=$(now_ms); "${cmd[@]}" > "$work/sync-clean.json" 2>> "$work/clean.log"; sync_ms=$(( $(now_ms) - start ))
check "$DB" "$ARCHIVES" "sync clean run"
trial_loop sync "$(digest "$work/sync-clean.json")" "$sync_ms" sync_cmd
