#!/usr/bin/env bash
# The whole test suite: pytest on every CPython 3.8-3.13 that pyenv (or PATH) provides, each in its
# own venv under .ci/venvs/ with the package installed from this checkout (not editable, as users
# get it), then ruff and mypy --strict on the 3.13 venv.  3.11 and 3.13 are required: the run fails
# without them.  PYTHONS="3.13 3.11" narrows the set for a quick local run; extra arguments go to
# pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venvs=$root/.ci/venvs
required="3.11 3.13"
pythons=${PYTHONS:-"3.8 3.9 3.10 3.11 3.12 3.13"}

find_python() {  # newest pyenv CPython X.Y.Z for X.Y, else pythonX.Y on PATH
    local want=$1 dir
    if command -v pyenv >/dev/null 2>&1; then
        dir=$(ls -d "$(pyenv root)"/versions/"$want".* 2>/dev/null | grep -E "/$want\.[0-9]+$" | sort -V | tail -n 1)
        if [ -n "$dir" ] && [ -x "$dir/bin/python3" ]; then echo "$dir/bin/python3"; return; fi
    fi
    command -v "python$want" 2>/dev/null || true
}

failed=()
for v in $pythons; do
    py=$(find_python "$v")
    if [ -z "$py" ]; then
        case " $required " in
            *" $v "*) echo "FAIL: CPython $v is required and was not found"; failed+=("$v:missing"); continue ;;
            *) echo "skip: CPython $v not found on this machine"; continue ;;
        esac
    fi
    echo "=== CPython $v ($py)"
    venv=$venvs/$v
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv" || { failed+=("$v:venv"); continue; }
    extras=test
    [ "$v" = 3.13 ] && extras=test,lint
    if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check ".[$extras]"; then
        failed+=("$v:install"); continue
    fi
    "$venv/bin/python" -m pytest -p no:cacheprovider "$@" || failed+=("$v:pytest")
    if [ "$v" = 3.13 ]; then
        echo "=== ruff and mypy --strict (CPython $v)"
        "$venv/bin/ruff" check . || failed+=("ruff")  # every tracked Python file (.gitignore is respected)
        "$venv/bin/mypy" || failed+=("mypy")
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all test runs passed"
