# syntax=docker/dockerfile:1
#
# edas-operator image: a release build on Debian bookworm, run on distroless (glibc, CA
# certificates, no shell) as the nonroot user 65532.
#
#   docker build -t ghcr.io/edas-operator/edas-operator:0.1.0 .
#
# (ghcr.io/edas-operator/edas-operator is a placeholder name; deploy/deployment.yaml uses it.)

# ---------------------------------------------------------------------------- build
FROM rust:1-bookworm AS builder
WORKDIR /src

# 1. Dependencies only, cached in their own layer: this layer is rebuilt only when
#    Cargo.toml, Cargo.lock or the toolchain file change, not when the sources do.
#    (rust-toolchain.tom[l]: copied when present, no error when absent.)
COPY Cargo.toml Cargo.lock rust-toolchain.tom[l] ./
RUN mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src \
        target/release/edas-operator* \
        target/release/deps/edas_operator-* \
        target/release/deps/libedas_operator-* \
        target/release/.fingerprint/edas-operator-*

# 2. The operator itself.
COPY src ./src
RUN cargo build --release --locked \
    && install -D -m 0755 target/release/edas-operator /out/edas-operator

# ---------------------------------------------------------------------------- runtime
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/edas-operator /edas-operator
USER 65532:65532
# /healthz, /readyz, /metrics (METRICS_ADDR, default 0.0.0.0:8080)
EXPOSE 8080
ENTRYPOINT ["/edas-operator"]
CMD ["run"]
