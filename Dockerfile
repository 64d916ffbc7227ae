# syntax=docker/dockerfile:1
#
# edas-operator image: one statically linked binary FROM scratch, run as 65532:65532. No shell,
# no package manager, no libc to patch; the CA bundle is the only other file the operator reads
# (for https:// EDAS endpoints).
#
# The build context is not the repository: hack/image.sh prepares it (no Docker daemon and no
# base image needed) and builds this file with buildah:
#   edas-operator         `cargo build --release --locked --target x86_64-unknown-linux-gnu`
#                         with RUSTFLAGS="-C target-feature=+crt-static" (glibc, static; TLS is
#                         rustls + ring, no OpenSSL), stripped
#   ca-certificates.crt   Debian's CA bundle (package ca-certificates)
#   passwd, group         the one user and group, nonroot 65532
#
#   hack/image.sh build                 # -> target/image/edas-operator-<version>.oci.tar
#   docker build -f Dockerfile target/image/context   # the same context, with Docker
#
# hack/test.sh builds it, runs it read-only, non-root, with no capabilities, and checks that it
# converges a resource (tests/e2e_image.rs).
FROM scratch
COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY edas-operator /edas-operator
USER 65532:65532
# /healthz, /readyz, /metrics (METRICS_ADDR, default 0.0.0.0:8080)
EXPOSE 8080
ENTRYPOINT ["/edas-operator"]
CMD ["run"]
