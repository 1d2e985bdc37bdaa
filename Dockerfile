# Builds pombo-api, pombo-admin, pombo-worker and pombo-render (the child process both
# render templates in; found beside them). No protoc needed: the Temporal client vendors protox.
FROM rust:1.95-bookworm AS build
WORKDIR /work
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/work/target \
    cargo build --release --locked -p pombo-api -p pombo-worker -p pombo-renderer \
    && cp target/release/pombo-api target/release/pombo-admin target/release/pombo-worker target/release/pombo-render /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 pombo
COPY --from=build /usr/local/bin/pombo-api /usr/local/bin/pombo-admin /usr/local/bin/pombo-worker /usr/local/bin/pombo-render /usr/local/bin/
USER pombo
CMD ["pombo-api"]
