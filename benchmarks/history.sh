#!/usr/bin/env bash
# Benchmark a range of commits into the asv results (then `asv publish`), without building an
# environment per commit: each commit is checked out in a temporary git worktree and put first
# on the benchmarks' sys.path (ASV_PYTHONPATH: asv drops PYTHONPATH), and the benchmarks of the current tree run against it in this venv
# (asv environment "existing").  Commits that lack an API a benchmark needs show it as failed.
#
#   benchmarks/history.sh HEAD~10..HEAD [asv run options, e.g. -b GeneratorStreams]
set -euo pipefail
range=${1:?usage: benchmarks/history.sh REV_RANGE [asv run options]}
shift
root=$(git rev-parse --show-toplevel)
asv=${ASV:-$root/.venv/bin/asv}
cd "$root"
"$asv" machine --yes >/dev/null
for c in $(git rev-list --reverse "$range"); do
    wt=$(mktemp -d)
    git worktree add --detach --quiet "$wt" "$c"
    echo "== $c $(git log -1 --format=%s "$c")"
    ASV_PYTHONPATH="$wt" "$asv" run --python=same --set-commit-hash "$c" --quick "$@" || true
    git worktree remove --force "$wt"
done
"$asv" publish
