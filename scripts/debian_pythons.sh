#!/usr/bin/env bash
# CPython 3.14 and 3.15 for the test suite, from Debian's unstable archive, in a chroot.
#
#   scripts/debian_pythons.sh ensure        # build the chroot if it is missing (about a minute)
#   scripts/debian_pythons.sh mount         # ... and mount what the tests need inside it
#   scripts/debian_pythons.sh run CMD...    # CMD inside it, in this checkout, as here
#   scripts/debian_pythons.sh umount        # undo mount
#   scripts/debian_pythons.sh path          # print the chroot's folder
#
# Why a chroot: no other source this machine reaches ships these interpreters (pyenv builds
# from python.org, which is closed here), and Debian's builds need Debian unstable's C library.
# The chroot is cached in $ASYNCORE_NG_DEBIAN_ROOT (default ~/.cache/asyncore-ng/debian-sid)
# and built again when the package list below changes. Needs root (chroot, mount) and
# debootstrap, installed with apt-get when missing.
#
# Inside, the checkout is mounted at its own path, and pyenv's folder (read-only) at its own:
# the tests find CPython 3.11's test_asyncore/test_asynchat and the 3.11 oracle of the
# differential harness exactly where they look on the host, and venvs made inside the checkout
# (.ci/venvs/3.14) hold paths that are valid in the chroot. Processes inside share the host's
# network (loopback) and /dev, /proc.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
target=${ASYNCORE_NG_DEBIAN_ROOT:-$HOME/.cache/asyncore-ng/debian-sid}
packages="python3.14,python3.14-venv,python3.15,python3.15-venv,ca-certificates"
mirror=${ASYNCORE_NG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}

mounted_under() {  # the mount points at or below $1, deepest first
    awk -v p="$1" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

ensure() {
    if [ -e "$target/.asyncore-ng-packages" ] && [ "$(cat "$target/.asyncore-ng-packages")" = "$packages" ]; then
        return 0
    fi
    if [ -n "$(mounted_under "$target")" ]; then
        echo "debian_pythons: $target is out of date but has mounts inside: run '$0 umount' first" >&2
        return 1
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        echo "debian_pythons: installing debootstrap (apt-get)" >&2
        apt-get install -y -q debootstrap >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; }
    fi
    local fresh="$target.new.$$"
    echo "debian_pythons: debootstrap sid into $target ($packages)" >&2
    mkdir -p "$(dirname "$target")"
    if ! debootstrap --variant=minbase --include="$packages" sid "$fresh" "$mirror" >"$fresh.log" 2>&1; then
        tail -n 20 "$fresh.log" >&2
        echo "debian_pythons: debootstrap failed (log: $fresh.log)" >&2
        return 1
    fi
    rm -f "$fresh.log"
    echo "$packages" >"$fresh/.asyncore-ng-packages"
    if [ -e "$target" ]; then  # (no mounts inside: checked above)
        mv "$target" "$target.old.$$" && rm -rf --one-file-system "$target.old.$$"
    fi
    mv "$fresh" "$target"
}

bind() {  # bind SOURCE [ro]: SOURCE mounted at the same path inside
    local inside="$target$1"
    mountpoint -q "$inside" && return 0
    mkdir -p "$inside"
    mount --bind "$1" "$inside"
    if [ "${2:-}" = ro ]; then mount -o remount,bind,ro "$inside"; fi
}

do_mount() {
    ensure
    mountpoint -q "$target/proc" || mount -t proc proc "$target/proc"
    mountpoint -q "$target/dev" || { mount --rbind /dev "$target/dev" && mount --make-rslave "$target/dev"; }
    bind "$checkout"
    [ -d "$pyenv_root" ] && bind "$pyenv_root" ro
    # pip reaches PyPI as it does here: the host's resolver, and the certificates the host
    # trusts (a proxy's own authority among them, where there is one).
    cp -L /etc/resolv.conf "$target/etc/resolv.conf" 2>/dev/null || true
    [ -f /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt "$target/etc/ssl/certs/"
}

do_umount() {
    local point
    for point in $(mounted_under "$target"); do
        umount "$point" 2>/dev/null || umount -l "$point"
    done
}

case "${1:-}" in
    ensure) ensure ;;
    mount) do_mount ;;
    umount) do_umount ;;
    path) echo "$target" ;;
    run)
        shift
        mountpoint -q "$target$checkout" || { echo "debian_pythons: not mounted (run '$0 mount')" >&2; exit 1; }
        # PATH as Debian's; everything else of the environment goes in as it is.
        exec chroot "$target" /usr/bin/env PATH=/usr/local/bin:/usr/bin:/bin \
            /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$PWD" "$@"
        ;;
    *)
        echo "usage: $0 ensure|mount|run CMD...|umount|path" >&2
        exit 2
        ;;
esac
