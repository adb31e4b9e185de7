# Updraft's release binary on a slim image (docker-compose.yml's `updraft` service).
# The build stage has the C toolchain the -sys crates need (librdkafka, SQLite, zstd).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake protobuf-compiler libprotobuf-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY core core
COPY generate generate
COPY orchestrator orchestrator
COPY tasks tasks
COPY sql sql
RUN cargo build --release -p updraft --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/updraft --create-home updraft
COPY --from=build /src/target/release/updraft /usr/local/bin/updraft
USER updraft
WORKDIR /var/lib/updraft
ENV UPDRAFT_HOME=/var/lib/updraft UPDRAFT_DAGS_FOLDER=/opt/updraft/dags
ENTRYPOINT ["updraft"]
CMD ["scheduler"]
