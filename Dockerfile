# OCSP Lab image: testca, responder and stapler on a slim Debian, run as a non-root user.
# Build: docker build -t ocsplab .   (docker compose builds it for you)

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

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 curl openssl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /lab --shell /usr/sbin/nologin ocsplab \
 && mkdir -p /lab && chown ocsplab:ocsplab /lab
COPY --from=builder /src/target/release/testca /src/target/release/responder /src/target/release/stapler /usr/local/bin/
USER ocsplab
ENV OCSPLAB_DIR=/lab
WORKDIR /lab
VOLUME /lab
CMD ["responder", "--help"]
