# syntax=docker/dockerfile:1
# The op image: the op binary plus exactly the tools toolchain.lock pins, installed and
# verified by op itself (no curl | tar, no "latest"). Multi-arch: linux/amd64 and linux/arm64.
#   docker buildx build --platform linux/amd64,linux/arm64 -t octopipeline:dev .
# Each platform's stage runs natively (or under QEMU), so the tools match TARGETARCH.

ARG RUST_VERSION=1.89
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY toolchain.lock README.md DEPENDENCIES.md LICENSE ./
RUN cargo build --release --locked --bins \
 && install -m 0755 target/release/op target/release/octopipeline /usr/local/bin/

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG TARGETARCH
# ca-certificates: TLS for op and the tools; git: tags and build metadata; docker.io: the docker
# CLI that pack and `op run` use against a mounted /var/run/docker.sock (the daemon is not started).
# Versions are not pinned: Debian's security updates replace them, and a rebuild should get them.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git docker.io \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/op /usr/local/bin/octopipeline /usr/local/bin/
# op embeds the toolchain.lock it was built from, so the tools installed here are exactly the
# ones that lock pins. They live in a shared, read-only cache that every user of the image sees.
ENV OP_CACHE_DIR=/opt/op/cache \
    OP_NO_PROGRESS=1
RUN op toolchain install --platform "linux-${TARGETARCH}" \
 && op toolchain verify \
 && for tool in skaffold pack flux kubectl crane; do \
      ln -s "$(op toolchain which "$tool")" "/usr/local/bin/$tool"; \
    done \
 && chmod -R a+rX /opt/op
# Non-root by default. To use a mounted docker socket, add the socket's group:
#   docker run --group-add "$(stat -c %g /var/run/docker.sock)" -v /var/run/docker.sock:/var/run/docker.sock ...
RUN useradd --create-home --uid 10001 --user-group op
USER 10001:10001
WORKDIR /workspace
ENTRYPOINT ["op"]
CMD ["--help"]
