# Multi-stage build of the vicinity service.
#   docker build -t vicinity .
#   docker run -p 6333:6333 -v vicinity-data:/data vicinity

FROM rust:1-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librocksdb-dev libclang-dev libsnappy-dev liblz4-dev libzstd-dev zlib1g-dev libbz2-dev \
      cmake libopenblas-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# .cargo/config.toml links Debian's RocksDB and puts the target dir under /var/cache/vicinity;
# the Faiss backend is compiled in (feature `faiss`).
RUN cargo build --release -p vicinity --bin vicinity --features faiss \
 && cp /var/cache/vicinity/target/release/vicinity /usr/local/bin/vicinity

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends librocksdb7.8 \
      libopenblas0 libgomp1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/vicinity /usr/local/bin/vicinity
WORKDIR /srv/vicinity
COPY config ./config
VOLUME /data
EXPOSE 6333
CMD ["vicinity", "serve", "--host", "0.0.0.0", "--port", "6333", "--data-dir", "/data"]
