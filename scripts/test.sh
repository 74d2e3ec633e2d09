#!/usr/bin/env bash
# The whole test suite: pytest on every CPython 3.8-3.15, each in its own venv under .ci/venvs/
# with the package installed from this checkout (a wheel built from it once, not editable, as
# users get it), then ruff and mypy --strict on the 3.13 venv; beside the tests, the wheel check
# (scripts/wheel_check.py: the sdist and the wheel built once, the wheel and the sdist installed
# into fresh venvs on CPython 3.8, 3.13, 3.14 and 3.15 and a legacy script run through plain
# `import asyncore`; WHEEL_CHECK=0 skips it) and the docs site (scripts/docs.sh: mkdocs build
# --strict into site/ and a check of its links, in its own venv on CPython 3.13; DOCS=0 skips
# it); after them, on a machine otherwise quiet, the instruction-count check
# (benchmarks/instructions.py --check: callgrind counts against the 3.11 modules on 3.13, failing
# when a ratio passes its target; INSTR=0 skips it).
#
# Where the interpreters come from: pyenv (or pythonX.Y on PATH) for 3.8-3.13; 3.14 and 3.15,
# when the machine has neither, from Debian's unstable archive in a cached chroot
# (scripts/debian_pythons.sh: built on first use in about a minute, mounted for the run and
# unmounted at its end; their venvs and tests run inside it, on this checkout).
#
# On 3.13, 3.14 and 3.15 the venv also gets uvloop (the optional extra; a skip saying why where it
# does not install); on 3.13 CPython's asyncore/asynchat suites run again with
# ASYNCORE_NG_BACKEND=asyncio and =uvloop. 3.11, 3.13, 3.14 and 3.15 are required: the run fails
# without them. PYTHONS="3.13 3.11" narrows the set for a quick local run; extra arguments go to
# pytest. On 3.9, 3.10 and 3.12 the tests run over every backend narrow to the default poller
# and asyncio (ASYNCORE_NG_TEST_BACKENDS, tests/conftest.py): the poll and select pollers are the
# same code on every Python and run on the others. The interpreters run in two lanes at once
# (LANES=1 for one after the other; three lanes were measured slower: the tests are CPU-bound
# enough that each took twice as long), each interpreter's output kept in .ci/logs/ and printed
# whole when its lane is done, and CI must stay under 20 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venvs=$root/.ci/venvs
required="3.11 3.13 3.14 3.15"
pythons=${PYTHONS:-"3.8 3.9 3.10 3.11 3.12 3.13 3.14 3.15"}
debian_pythons="3.14 3.15"  # taken from the Debian chroot when the machine has none of its own
in_chroot=" "  # the versions that run there, found by locate_version

find_python() {  # newest pyenv CPython X.Y.Z for X.Y, else pythonX.Y on PATH
    local want=$1 dir
    if command -v pyenv >/dev/null 2>&1; then
        dir=$(ls -d "$(pyenv root)"/versions/"$want".* 2>/dev/null | grep -E "/$want\.[0-9]+$" | sort -V | tail -n 1)
        if [ -n "$dir" ] && [ -x "$dir/bin/python3" ]; then echo "$dir/bin/python3"; return; fi
    fi
    command -v "python$want" 2>/dev/null || true
}

logs=$root/.ci/logs
rm -rf "$logs" && mkdir -p "$logs"

chroot_mounted=
debian_python=
find_debian_python() {  # sets debian_python to the chroot's pythonX.Y (mounting the chroot once), or ""
    debian_python=
    case " $debian_pythons " in *" $1 "*) ;; *) return ;; esac
    if [ -z "$chroot_mounted" ]; then
        chroot_mounted=failed
        echo "=== the Debian chroot for CPython $debian_pythons: scripts/debian_pythons.sh mount"
        if scripts/debian_pythons.sh mount; then
            chroot_mounted=yes
            trap 'scripts/debian_pythons.sh umount' EXIT
        fi
    fi
    if [ "$chroot_mounted" = yes ] && [ -x "$(scripts/debian_pythons.sh path)/usr/bin/python$1" ]; then
        debian_python=/usr/bin/python$1
    fi
}

on() {  # on X.Y CMD...: run CMD where CPython X.Y lives (here, or inside the Debian chroot)
    local v=$1
    shift
    case "$in_chroot" in
        *" $v "*) scripts/debian_pythons.sh run "$@" ;;
        *) "$@" ;;
    esac
}

locate_version() {  # locate_version X.Y: sets py_of[X.Y] (here or in the chroot), or says why not
    local v=$1 py
    py=$(find_python "$v")
    if [ -z "$py" ]; then
        find_debian_python "$v"
        py=$debian_python
        [ -n "$py" ] && in_chroot="$in_chroot$v "
    fi
    if [ -z "$py" ]; then
        case " $required " in
            *" $v "*) echo "FAIL: CPython $v is required and was not found"; echo "$v:missing" >"$logs/$v.failed" ;;
            *) echo "skip: CPython $v not found on this machine" ;;
        esac
        return 1
    fi
    py_of[$v]=$py
}

setup_version() {  # setup_version X.Y WHEEL: its venv with the package (the wheel built from this checkout) installed
    local v=$1 wheel=$2 py=${py_of[$1]} venv extras
    echo "=== CPython $v ($py): venv and install"
    venv=$venvs/$v
    if [ -e "$venv/bin/python" ] && ! on "$v" "$venv/bin/python" -c "" 2>/dev/null; then
        rm -rf "$venv"  # (made for another interpreter: here, or in the chroot)
    fi
    [ -x "$venv/bin/python" ] || on "$v" "$py" -m venv "$venv" || { echo "$v:venv" >"$logs/$v.failed"; return 1; }
    case "$v" in  # uvloop: the bridge's tests on it (optional for users)
        3.13) extras=test,lint,uvloop ;;
        3.14|3.15) extras=test,uvloop ;;
        *) extras=test ;;
    esac
    # (--force-reinstall --no-deps first: a venv kept from an earlier run gets this build.)
    on "$v" "$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel" \
        || { echo "$v:install" >"$logs/$v.failed"; return 1; }
    if ! on "$v" "$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel[$extras]"; then
        if [ "${extras%,uvloop}" != "$extras" ] && on "$v" "$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel[${extras%,uvloop}]"; then
            echo "skip: uvloop does not install on CPython $v here (the pip error is above): its tests skip, saying so"
        else
            echo "$v:install" >"$logs/$v.failed"; return 1
        fi
    fi
    touch "$logs/$v.ready"
}

test_version() {  # test_version X.Y [pytest args]: one interpreter's tests; failures to $logs/X.Y.failed
    local v=$1 venv=$venvs/$1 b why
    shift
    local failed=()
    echo "=== CPython $v ($(on "$v" readlink -f "$venv/bin/python")$(case "$in_chroot" in *" $v "*) echo ", Debian chroot" ;; esac))"
    local narrowed=  # (3.9, 3.10, 3.12: the default poller and asyncio; the others: see tests/conftest.py)
    case "$v" in 3.9|3.10|3.12) narrowed="epoll,asyncio" ;; esac
    ASYNCORE_NG_TEST_BACKENDS=${ASYNCORE_NG_TEST_BACKENDS-$narrowed} \
        on "$v" "$venv/bin/python" -m pytest -p no:cacheprovider "$@" || failed+=("$v:pytest")
    if [ "$v" = 3.13 ]; then
        # CPython's own suites again, with asyncore.loop() running its passes on asyncio and on
        # uvloop (asyncore_ng.aio; the run above covers our suites on both backends).
        for b in asyncio uvloop; do
            echo "=== CPython's test_asyncore and test_asynchat with ASYNCORE_NG_BACKEND=$b (CPython $v)"
            if [ "$b" = uvloop ] && ! why=$("$venv/bin/python" -c "import uvloop" 2>&1); then
                echo "skip: uvloop is not importable in the CPython $v venv: ${why##*$'\n'}"
                continue
            fi
            ASYNCORE_NG_BACKEND=$b "$venv/bin/python" -m pytest -p no:cacheprovider \
                tests/test_cpython_asyncore.py tests/test_cpython_asynchat.py || failed+=("$v:cpython-suites-$b")
        done
        echo "=== ruff and mypy --strict (CPython $v)"
        "$venv/bin/ruff" check . || failed+=("ruff")  # every tracked Python file (.gitignore is respected)
        "$venv/bin/mypy" || failed+=("mypy")
    fi
    [ ${#failed[@]} -eq 0 ] || echo "${failed[*]}" >"$logs/$v.failed"
}

run_lane() {  # the interpreters of one lane, one after the other: set up, then tested; each log printed when it ends
    local v
    for v in $1; do
        setup_version "$v" "$wheel" >"$logs/$v.setup" 2>&1
        cat "$logs/$v.setup"
        [ -e "$logs/$v.ready" ] || { echo "--- CPython $v: FAILED ($(cat "$logs/$v.failed"))"; continue; }
        test_version "$v" "${@:2}" >"$logs/$v.log" 2>&1
        echo "--- CPython $v: $([ -e "$logs/$v.failed" ] && echo "FAILED ($(cat "$logs/$v.failed"))" || echo "passed") ($SECONDS s into the run)"
    done
}

declare -A py_of
for v in $pythons; do
    locate_version "$v" || true
done
located=
for v in $pythons; do [ -n "${py_of[$v]:-}" ] && located="$located $v"; done

# The package, built once from this checkout (as users get it: not editable); each lane installs
# this wheel into its venvs as it reaches them (installs from the tree would each build in it, and
# two lanes' builds would collide).
wheel=
if [ -n "$located" ]; then
    builder=${py_of[3.13]:-}
    [ -z "$builder" ] || case "$in_chroot" in *" 3.13 "*) builder= ;; esac
    [ -n "$builder" ] || builder=$(command -v python3)
    echo "=== the wheel of this checkout ($builder -m pip wheel)"
    rm -rf .ci/wheelhouse
    if "$builder" -m pip wheel -q --disable-pip-version-check --no-deps -w .ci/wheelhouse .; then
        wheel=$(ls "$root"/.ci/wheelhouse/*.whl)
    else
        echo "FAIL: the wheel of this checkout did not build"
        for v in $located; do echo "$v:build" >"$logs/$v.failed"; done
    fi
fi
venv313_python=
[ -n "${py_of[3.13]:-}" ] && case "$in_chroot" in *" 3.13 "*) ;; *) venv313_python=$venvs/3.13/bin/python ;; esac

extras_job() {  # the wheel check and the docs site: beside the test lanes (little CPU, mostly pip and I/O)
    local failed=() here= there= v py
    # (The wheel check runs from the 3.13 venv: the second lane sets it up first.)
    while [ -n "$venv313_python" ] && [ ! -e "$logs/3.13.ready" ] && [ ! -e "$logs/3.13.failed" ]; do sleep 1; done
    [ -e "$logs/3.13.ready" ] || venv313_python=
    if [ "${WHEEL_CHECK:-1}" = 0 ]; then
        echo "skip: wheel check (WHEEL_CHECK=0)"
    elif [ -n "$venv313_python" ]; then
        echo "=== wheel check: sdist and wheel built once, both installed on CPython 3.8 and 3.13"
        rm -rf .ci/dist
        "$venv313_python" scripts/wheel_check.py --python "3.13=$(find_python 3.13)" --python "3.8=$(find_python 3.8)" \
            --keep-dist .ci/dist || failed+=("wheel")
        for v in $debian_pythons; do
            case "$in_chroot" in
                *" $v "*) there="$there --python $v=/usr/bin/python$v" ;;
                *) py=$(find_python "$v"); [ -z "$py" ] || here="$here --python $v=$py" ;;
            esac
        done
        if [ -e .ci/dist ] && [ -n "$here$there" ]; then
            echo "=== wheel check: the same sdist and wheel installed on CPython $debian_pythons"
            # shellcheck disable=SC2086
            [ -z "$here" ] || "$venv313_python" scripts/wheel_check.py --from-dist .ci/dist $here || failed+=("wheel-new")
            # shellcheck disable=SC2086
            [ -z "$there" ] || scripts/debian_pythons.sh run /usr/bin/python3.15 scripts/wheel_check.py \
                --from-dist .ci/dist $there || failed+=("wheel-new")
        fi
    else
        echo "skip: wheel check (it runs from the CPython 3.13 venv, not set up in this run)"
    fi
    if [ "${DOCS:-1}" = 0 ]; then
        echo "skip: docs site (DOCS=0)"
    else
        echo "=== docs site: scripts/docs.sh (mkdocs build --strict into site/, every internal link checked)"
        scripts/docs.sh || failed+=("docs")
    fi
    [ ${#failed[@]} -eq 0 ] || echo "${failed[*]}" >"$logs/extras.failed"
    echo "--- wheel check and docs: done ($SECONDS s into the run)"
}

# Two lanes of about equal length (measured in CI: 3.8 and 3.13-3.15 take longest: differential
# scenarios, bridges), each setting up its interpreters' venvs as it comes to them (the other
# lane's tests run meanwhile), the wheel check and the docs beside them. 3.13 comes first in its
# lane: the wheel check runs from its venv.
lane1= lane2=
for v in 3.13 $located; do
    case " $lane1 $lane2 " in *" $v "*) continue ;; esac
    case " $located " in *" $v "*) ;; *) continue ;; esac
    case "${LANES:-2}:$v" in
        2:3.13|2:3.9|2:3.11|2:3.15) lane2="$lane2 $v" ;;
        *) lane1="$lane1 $v" ;;
    esac
done
if [ -n "$wheel" ]; then
    extras_job >"$logs/extras.log" 2>&1 &
    extras_pid=$!
    lane2_pid=
    [ -z "$lane2" ] || { run_lane "$lane2" "$@" & lane2_pid=$!; }
    [ -z "$lane1" ] || run_lane "$lane1" "$@"
    [ -z "$lane2_pid" ] || wait "$lane2_pid"
    wait "$extras_pid"
fi
ready=
for v in $located; do [ -e "$logs/$v.ready" ] && ready="$ready $v"; done
case " $ready " in *" 3.13 "*) ;; *) venv313_python= ;; esac
failed=()
for v in $pythons; do
    [ -e "$logs/$v.log" ] && cat "$logs/$v.log"
    [ -e "$logs/$v.failed" ] && failed+=($(cat "$logs/$v.failed"))
done
[ -e "$logs/extras.log" ] && cat "$logs/extras.log"
[ -e "$logs/extras.failed" ] && failed+=($(cat "$logs/extras.failed"))

if [ "${INSTR:-1}" = 0 ]; then
    echo "skip: instruction counts (INSTR=0)"
elif [ -z "$venv313_python" ]; then
    echo "skip: instruction counts (they run on the CPython 3.13 venv, not set up in this run)"
elif ! command -v valgrind >/dev/null 2>&1; then
    echo "FAIL: instruction counts need valgrind (callgrind)"
    failed+=("instructions")
else
    # The performance regression check: user-space instructions of the echo servers against the
    # stdlib modules of CPython 3.11 on the same 3.13, in this run (benchmarks/instructions.py;
    # deterministic, unlike timings on this machine). Fails when a ratio passes its target.
    echo "=== instruction counts: asyncore-ng against the 3.11 modules on CPython 3.13 (callgrind)"
    "$venv313_python" benchmarks/instructions.py --check || failed+=("instructions")
fi

if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all test runs passed"
