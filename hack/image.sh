#!/usr/bin/env bash
# The operator's container image, built from the top-level Dockerfile without a Docker daemon
# and without pulling anything (FROM scratch), and run with podman.
#
#   hack/image.sh build          static release binary -> build context -> buildah bud
#                                -> OCI archive target/image/edas-operator-<version>.oci.tar;
#                                prints the archive's path on stdout, sizes on stderr
#   hack/image.sh podman ARGS    podman with this script's own image store (see below), e.g.
#                                hack/image.sh podman run --rm oci-archive:<archive> --help
#   hack/image.sh env            the settings the e2e test reads (IMAGE_ARCHIVE=..., ...)
#
# Needs buildah, podman and runc (Debian packages; installed with apt-get when missing, as
# root or through sudo) and the Rust toolchain. Images live in their own store,
# $EDAS_OPERATOR_CACHE/image/storage (vfs driver), never in the machine's /var/lib/containers;
# the static build's target directory is $EDAS_OPERATOR_CACHE/image/target so that rebuilds are
# incremental across clones. podman runs with $EDAS_OPERATOR_CACHE/image/containers.conf
# (written here), which fits the test machines:
#   runtime = runc           crun refuses this kernel's hybrid cgroup layout ("cgroups in hybrid
#                            mode not supported, drop all controllers from cgroupv2"); runc runs
#   cgroup_manager cgroupfs  no systemd
#   default_ulimits          podman's default nofile/nproc (1048576) exceed the hard limits of a
#                            process without CAP_SYS_RESOURCE ("setrlimit RLIMIT_NOFILE:
#                            Operation not permitted"); 4096 is plenty for the operator
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

CACHE_ROOT="${EDAS_OPERATOR_CACHE:-$HOME/.cache/edas-operator}"
IMG_CACHE="$CACHE_ROOT/image"
TARGET=x86_64-unknown-linux-gnu
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
NAME="localhost/edas-operator:$VERSION"
OUT_DIR="$PWD/target/image"
ARCHIVE="$OUT_DIR/edas-operator-$VERSION.oci.tar"
CONTEXT="$OUT_DIR/context"
STORE=(--root "$IMG_CACHE/storage" --runroot "${XDG_RUNTIME_DIR:-/tmp}/edas-operator-image-run-$(id -u)" --storage-driver vfs)

log() { printf '[image] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

ensure_tools() {
  local missing=()
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]} (Debian packages)"
  local sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}

write_containers_conf() {
  mkdir -p "$IMG_CACHE"
  printf '%s\n' '# written by hack/image.sh (see there why)' '[containers]' \
    'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]' '[engine]' 'runtime = "runc"' \
    'cgroup_manager = "cgroupfs"' 'events_logger = "file"' >"$IMG_CACHE/containers.conf.tmp"
  mv "$IMG_CACHE/containers.conf.tmp" "$IMG_CACHE/containers.conf"
}

podman_() {
  write_containers_conf
  CONTAINERS_CONF="$IMG_CACHE/containers.conf" exec podman "${STORE[@]}" "$@"
}

# 0 when the ELF file $1 has no program interpreter (statically linked).
is_static() {
  ! readelf -lW "$1" | grep -q 'Requesting program interpreter'
}

cmd_build() {
  ensure_tools
  local t0 bin
  t0=$(date +%s)
  # Built from a copy of the sources at one fixed path, so that every clone (CI clones anew)
  # reuses the same artifacts instead of adding its own to the cache.
  local src="$IMG_CACHE/src"
  rm -rf "$src.new"
  mkdir -p "$src.new"
  cp -a Cargo.toml Cargo.lock src "$src.new/"
  if [[ -f rust-toolchain.toml ]]; then cp -a rust-toolchain.toml "$src.new/"; fi
  rm -rf "$src"
  mv "$src.new" "$src"
  log "static release binary ($TARGET, +crt-static; sources copied to $src, target dir $IMG_CACHE/target)"
  (cd "$src" && RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$IMG_CACHE/target" \
    cargo build --release --locked --target "$TARGET" --bin edas-operator >&2)
  bin="$IMG_CACHE/target/$TARGET/release/edas-operator"
  is_static "$bin" || die "$bin is dynamically linked"

  rm -rf "$CONTEXT"
  mkdir -p "$CONTEXT"
  strip -o "$CONTEXT/edas-operator" "$bin"
  chmod 0755 "$CONTEXT/edas-operator"
  cp /etc/ssl/certs/ca-certificates.crt "$CONTEXT/ca-certificates.crt"
  chmod 0644 "$CONTEXT/ca-certificates.crt"
  printf 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >"$CONTEXT/passwd"
  printf 'nonroot:x:65532:\n' >"$CONTEXT/group"
  chmod 0644 "$CONTEXT/passwd" "$CONTEXT/group"
  # The binary runs on its own: no loader, no libc, no files but the CA bundle.
  "$CONTEXT/edas-operator" --version >&2

  log "buildah bud -f Dockerfile $CONTEXT (FROM scratch: nothing is pulled)"
  buildah "${STORE[@]}" rmi -f "$NAME" >/dev/null 2>&1 || true
  buildah "${STORE[@]}" bud --quiet --format oci --timestamp 0 --isolation chroot \
    -f Dockerfile -t "$NAME" "$CONTEXT" >&2
  rm -f "$ARCHIVE"
  buildah "${STORE[@]}" push --quiet "$NAME" "oci-archive:$ARCHIVE:$NAME" >&2
  local id size_img size_tar size_bin
  id="$(buildah "${STORE[@]}" images --noheading --format '{{.ID}}' "$NAME" | head -n 1)"
  size_img="$(buildah "${STORE[@]}" images --noheading --format '{{.Size}}' "$NAME" | head -n 1)"
  size_tar="$(stat -c %s "$ARCHIVE")"
  size_bin="$(stat -c %s "$CONTEXT/edas-operator")"
  log "image $NAME (id $id) built in $(($(date +%s) - t0)) s"
  echo "image size: $size_img (binary $((size_bin / 1024)) KiB; OCI archive $ARCHIVE: $((size_tar / 1024)) KiB)" >&2
  printf '%s\n' "$ARCHIVE"
}

cmd_env() {
  echo "IMAGE_ARCHIVE=$ARCHIVE"
  echo "IMAGE_NAME=$NAME"
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
  build) cmd_build ;;
  podman) podman_ "$@" ;; # exec: signals reach podman, which passes them to the container
  env) cmd_env ;;
  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
  esac
}

main "$@"
