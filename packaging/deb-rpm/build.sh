#!/usr/bin/env bash
# Builds the .deb (cargo-deb) and .rpm (cargo-generate-rpm) into dist/.
# Usage: packaging/deb-rpm/build.sh [version]   (default: the version in Cargo.toml)
# Needs: cargo install --locked cargo-deb cargo-generate-rpm
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:-}
target=${CARGO_BUILD_TARGET:-}

cargo build --release --locked ${target:+--target "$target"}
bin_dir=target/${target:+$target/}release
if [ -n "$target" ]; then
  # The package metadata points at target/release; mirror a cross build there.
  mkdir -p target/release
  cp "$bin_dir/op" "$bin_dir/octopipeline" target/release/
fi

# Man pages and completions come from the binary itself, so they always match its flags.
assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/completions"
for name in op octopipeline; do
  "target/release/$name" man > "$assets/$name.1"
  "target/release/$name" completions bash > "$assets/completions/$name.bash"
  "target/release/$name" completions zsh > "$assets/completions/_$name"
  "target/release/$name" completions fish > "$assets/completions/$name.fish"
done

mkdir -p dist
deb_args=(--no-build --output dist/)
rpm_args=(--output dist/)
if [ -n "$version" ]; then
  deb_args+=(--deb-version "$version")
  rpm_args+=(--set-metadata "version = \"$version\"")
fi
cargo deb "${deb_args[@]}"
cargo generate-rpm "${rpm_args[@]}"
ls -l dist/
