# syntax=docker/dockerfile:1
# The op image: op plus exactly the tools toolchain.lock pins, installed and verified by op itself
# (no curl | tar, no "latest"). Multi-arch:
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t octopipeline:dev .
#
# "build" runs on the builder's own architecture and cross-compiles op for TARGETARCH (compiling
# Rust under QEMU is many times slower). "runtime" runs `op toolchain install` for TARGETARCH
# against the same toolchain.lock that op embeds, so the image and every other channel agree.

# Both base images are pinned by the digest of their multi-arch index, so a rebuild uses the
# same bytes; Dependabot (.github/dependabot.yml) proposes new digests. To bump by hand:
#   docker buildx imagetools inspect rust:1.89-bookworm   (the "Digest:" line)
# Keep the Rust version in step with `rust-version` in Cargo.toml.
ARG RUST_IMAGE=rust:1.89-bookworm@sha256:948f9b08a66e7fe01b03a98ef1c7568292e07ec2e4fe90d88c07bb14563c84ff
# The runtime is Debian trixie for its client-only `docker-cli` package (Docker API 1.45).
# bookworm only has docker.io 20.10, a daemon plus a client that speaks API 1.41, which Docker
# Engine 29 and later refuse ("client version 1.41 is too old").
ARG RUNTIME_IMAGE=debian:trixie-slim@sha256:d7e12182ce18b85b93007c1dedf31f2d29e01ccf3182cc4017c709b6259bc132

FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS build
ARG TARGETARCH
ARG BUILDARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
# The Rust target for TARGETARCH, and a cross C compiler when it differs from the builder's
# architecture (ring compiles C and assembly).
# hadolint ignore=DL3008
RUN case "$TARGETARCH" in \
      amd64) triple=x86_64-unknown-linux-gnu; cc=x86_64-linux-gnu-gcc; \
             cross="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
      arm64) triple=aarch64-unknown-linux-gnu; cc=aarch64-linux-gnu-gcc; \
             cross="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
      *) echo "unsupported TARGETARCH: $TARGETARCH (linux/amd64 and linux/arm64 are built)" >&2; exit 1 ;; \
    esac \
 && rustup target add "$triple" \
 && echo "triple=$triple" > /tmp/target.env \
 && if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      apt-get update \
      && read -ra packages <<< "$cross" \
      && apt-get install -y --no-install-recommends "${packages[@]}" \
      && rm -rf /var/lib/apt/lists/* \
      && env_triple=${triple//-/_} \
      && { echo "export CC_${env_triple}=$cc"; \
           echo "export CARGO_TARGET_${env_triple^^}_LINKER=$cc"; } >> /tmp/target.env; \
    fi
COPY Cargo.toml Cargo.lock build.rs toolchain.lock ./
COPY toolchain.evidence ./toolchain.evidence
COPY src ./src
# target.env (written above) sets $triple and, when cross-compiling, the C compiler and linker.
# hadolint ignore=SC2154
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    source /tmp/target.env \
 && cargo build --release --locked --bin op --target "$triple" \
 && mkdir -p /out \
 && cp "target/$triple/release/op" /out/

FROM ${RUNTIME_IMAGE} AS runtime
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
LABEL org.opencontainers.image.title="octopipeline" \
      org.opencontainers.image.description="op: pinned, verified skaffold, pack, flux, kubectl and crane, and the pipeline commands that drive them" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/octopilot/octopipeline"
# ca-certificates: TLS for op and the tools. git: skaffold's tags and `git describe`.
# docker-cli: the docker client (no daemon) that `op run`, `op start-registry` and Dockerfile
# artifacts use through a mounted /var/run/docker.sock; pack talks to that socket directly.
# Versions are not pinned: Debian's security updates replace them, and a rebuild should get them.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git docker-cli \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/op /usr/local/bin/
COPY toolchain.lock /opt/op/toolchain.lock
# The proofs the lock records, relative to it (README.md, "Supply-chain evidence").
COPY toolchain.evidence /opt/op/toolchain.evidence
COPY README.md LICENSE /usr/share/doc/octopipeline/
# The tools live in a shared cache that every user of the image reads and none writes.
ENV OP_CACHE_DIR=/opt/op/cache \
    OP_NO_PROGRESS=1
# 1. Install and verify every tool the lock pins for this image's architecture.
# 2. Verify again with the lock built into op (no --lock): proves the two are the same pins, so
#    `op` in a repository without its own toolchain.lock finds everything already installed.
# 3. Link each pinned tool into /usr/local/bin: `op toolchain env --github` writes one tool
#    directory per line to $GITHUB_PATH, whatever tools the lock names.
# `octopipeline` is the same binary under its other name (a link: it names itself as invoked).
RUN ln -s op /usr/local/bin/octopipeline \
 && octopipeline --version \
 && op --lock /opt/op/toolchain.lock toolchain install --platform "linux-${TARGETARCH}" \
 && op --lock /opt/op/toolchain.lock toolchain verify \
 && op toolchain verify \
 && GITHUB_PATH=/tmp/op-tool-dirs op --lock /opt/op/toolchain.lock toolchain env --github \
 && while read -r dir; do ln -s "$dir"/* /usr/local/bin/; done < /tmp/op-tool-dirs \
 && rm /tmp/op-tool-dirs \
 && chmod -R a+rX /opt/op \
 && op toolchain list
# Not root. Commands that talk to Docker (op run, op build-push, op start-registry, pack) need the
# host's socket and its group, for example on Linux:
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" -v "$PWD:/workspace" IMAGE build-push
# Where the socket's group is not known (Docker Desktop), run as root with --user 0.
RUN useradd --create-home --uid 10001 --user-group op
USER 10001:10001
WORKDIR /workspace
ENTRYPOINT ["op"]
CMD ["--help"]
