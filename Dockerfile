# OCSP Lab image: testca, responder and stapler on a slim Debian, run as a non-root user.
#
# With a registry:     docker build -t ocsplab .            (docker compose builds it for you)
# Without a registry:  scripts/offline-image [--bin-dir DIR] (target `host-binaries`: the same runtime
#                      stage with binaries built on this machine instead of the Rust build stages)
#
# The runtime stage comes first so that `--target host-binaries` never needs the Rust image:
# the classic builder builds every stage up to its target, BuildKit only those it uses.

# What every image of the lab runs on: packages, an unprivileged user and /lab.
FROM debian:bookworm-slim AS runtime-base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 curl openssl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /lab --shell /usr/sbin/nologin ocsplab \
 && mkdir -p /lab && chown ocsplab:ocsplab /lab
USER ocsplab
ENV OCSPLAB_DIR=/lab
WORKDIR /lab
VOLUME /lab
CMD ["responder", "--help"]

# Offline: scripts/offline-image builds with a context whose docker/host-bin/ holds testca,
# responder and stapler built on a Debian 12 host (from the cargo target directory).
FROM runtime-base AS host-binaries
COPY docker/host-bin/ /usr/local/bin/

FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /src

# The dependency graph alone, so that dependencies are rebuilt only when it changes.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p testca -p responder -p stapler

# The image users get: the runtime base with the binaries built above.
FROM runtime-base AS runtime
COPY --from=builder /src/target/release/testca /src/target/release/responder /src/target/release/stapler /usr/local/bin/
