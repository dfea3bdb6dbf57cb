#!/usr/bin/env bash
# Re-locks toolchain.lock after a bot (Renovate) changed `version = "..."` lines: runs
# `op toolchain lock update TOOL@VERSION` for each tool whose version differs from the base
# revision, so URLs, digests and DEPENDENCIES.md follow the new version; then commits both files.
# On a schedule (no base), `op toolchain lock update --all` pins every tool's newest release.
# The `lock-refresh` mode of action.yml runs this; it is a file so that it can be tested.
#
# Environment:
#   LOCK            the lock file (default: toolchain.lock)
#   BASE_REF        git revision to compare with (a PR's base, e.g. origin/main); empty: --all
#   MIN_AGE         --min-age for --all (default: op's, 24h)
#   COMMIT          commit the changed files (default: true)
#   PUSH_BRANCH     after committing, push HEAD to this branch of `origin` (default: none;
#                   forced without a base, as that branch is the schedule's own)
#   OP              the op command (default: op)
set -euo pipefail

lock=${LOCK:-toolchain.lock}
op=${OP:-op}
base=${BASE_REF:-}

if [ ! -f "$lock" ]; then
  echo "::error::lock-refresh: $lock does not exist" >&2
  exit 2
fi

# `TOOL VERSION` for each `[tools.TOOL]` table: its `version = "..."` line.
pins() {
  awk '
    /^[[:space:]]*\[/ {
      tool = ""
      if (match($0, /^[[:space:]]*\[tools\.[A-Za-z0-9_-]+\][[:space:]]*(#.*)?$/)) {
        tool = $0
        sub(/^[[:space:]]*\[tools\./, "", tool)
        sub(/\].*$/, "", tool)
      }
      next
    }
    tool != "" && /^[[:space:]]*version[[:space:]]*=/ {
      value = $0
      sub(/^[^"]*"/, "", value)
      sub(/".*$/, "", value)
      print tool, value
      tool = ""
    }
  '
}

specs=()
if [ -z "$base" ]; then
  echo "lock-refresh: no base revision: pinning every tool's newest release"
  args=(toolchain lock update --all --lock "$lock")
  if [ -n "${MIN_AGE:-}" ]; then args+=(--min-age "$MIN_AGE"); fi
  "$op" "${args[@]}"
else
  if ! git rev-parse --verify --quiet "$base^{commit}" > /dev/null; then
    echo "::error::lock-refresh: base revision $base is not in this clone (fetch it, e.g. actions/checkout with fetch-depth: 0)" >&2
    exit 2
  fi
  # Against where the branch left the base, so that later changes on the base are not taken
  # for the bot's.
  from=$(git merge-base HEAD "$base" 2> /dev/null || git rev-parse "$base")
  before=$(git show "$from:./$lock" 2> /dev/null | pins || true)
  while read -r tool version; do
    [ -n "$tool" ] || continue
    old=$(printf '%s\n' "$before" | awk -v tool="$tool" '$1 == tool { print $2; exit }')
    if [ "$old" != "$version" ]; then
      echo "lock-refresh: $tool ${old:-(new)} -> $version"
      specs+=("$tool@$version")
    fi
  done < <(pins < "$lock")
  if [ ${#specs[@]} -eq 0 ]; then
    echo "lock-refresh: no version changed in $lock since $base; nothing to re-lock"
    exit 0
  fi
  "$op" toolchain lock update --lock "$lock" "${specs[@]}"
fi

dependencies="$(dirname "$lock")/DEPENDENCIES.md"
files=("$lock")
if [ -f "$dependencies" ]; then files+=("$dependencies"); fi
if git diff --quiet -- "${files[@]}"; then
  echo "lock-refresh: $lock is already consistent; nothing to commit"
  exit 0
fi
if [ "${COMMIT:-true}" != true ]; then
  echo "lock-refresh: $lock changed (not committed: COMMIT=${COMMIT})"
  exit 0
fi
if [ ${#specs[@]} -gt 0 ]; then
  subject="toolchain.lock: re-lock ${specs[*]}"
else
  subject="toolchain.lock: pin the newest releases"
fi
git add -- "${files[@]}"
git -c user.name="${GIT_AUTHOR_NAME:-github-actions[bot]}" \
  -c user.email="${GIT_AUTHOR_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}" \
  commit -q -m "$subject" -m "URLs and SHA-256 digests recomputed by \`op toolchain lock update\`." -- "${files[@]}"
echo "lock-refresh: committed: $subject"
if [ -n "${PUSH_BRANCH:-}" ]; then
  # A pull request's branch only moves forward; the schedule's branch is rewritten each time.
  force=()
  if [ -z "$base" ]; then force=(--force); fi
  git push -q "${force[@]}" origin "HEAD:refs/heads/$PUSH_BRANCH"
  echo "lock-refresh: pushed to $PUSH_BRANCH"
fi
