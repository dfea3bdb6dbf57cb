#!/usr/bin/env bash
# Builds the .deb (cargo-deb) and .rpm (cargo-generate-rpm) of op into dist/.
#
#   packaging/deb-rpm/build.sh [version]
#
# version: the package version (default: the one in Cargo.toml). A pre-release such as 1.2.0-rc.1
# becomes 1.2.0~rc.1, which both dpkg and rpm sort before 1.2.0.
# Environment: CARGO_BUILD_TARGET builds for that Rust target (the release uses the static musl
# targets, so one package runs on every distribution); DIST_DIR writes somewhere other than dist/.
# Needs: cargo install --locked cargo-deb cargo-generate-rpm
set -euo pipefail
cd "$(dirname "$0")/../.."

version=${1:-}
version=${version#v}
target=${CARGO_BUILD_TARGET:-}
dist=${DIST_DIR:-dist}

for tool in cargo-deb cargo-generate-rpm; do
  if ! command -v "$tool" > /dev/null; then
    echo "build.sh: $tool is missing; install it with: cargo install --locked $tool" >&2
    exit 1
  fi
done

echo "building op (release${target:+, $target})"
cargo build --release --locked --bins ${target:+--target "$target"}
# cargo-deb and cargo-generate-rpm read the target/release/ paths in Cargo.toml's package metadata
# as the real build directory: CARGO_TARGET_DIR, and with --target, <dir>/<target>/release/ (the
# package architecture then follows the target too). target/assets/ below is a plain path.
bin_dir=${CARGO_TARGET_DIR:-target}/${target:+$target/}release

# Man pages and completions come from the binaries themselves, so they always match the flags.
# Each name gets its own: `octopipeline completions bash` completes the `octopipeline` command.
# (A cross-built binary that cannot run here would stop the script at this point.)
assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/completions" "$assets/man"
for name in op octopipeline; do
  # A page per command: NAME.1, NAME-build.1, NAME-toolchain-install.1, ...
  "$bin_dir/$name" man --dir "$assets/man"
  "$bin_dir/$name" completions bash > "$assets/completions/$name.bash"
  "$bin_dir/$name" completions zsh > "$assets/completions/_$name"
  "$bin_dir/$name" completions fish > "$assets/completions/$name.fish"
done
for file in "$assets"/man/*.1 "$assets"/completions/*; do
  if [ ! -s "$file" ]; then
    echo "build.sh: $file is empty" >&2
    exit 1
  fi
done

for page in op.1 op-toolchain-install.1 octopipeline.1 octopipeline-toolchain-install.1; do
  if [ ! -s "$assets/man/$page" ]; then
    echo "build.sh: the man page $page was not generated" >&2
    exit 1
  fi
done

mkdir -p "$dist"
deb_args=(--no-build --output "$dist/" ${target:+--target "$target"})
rpm_args=(--output "$dist/" ${target:+--target "$target"})
if [ -n "$version" ]; then
  package_version=${version//-/\~}
  deb_args+=(--deb-version "$package_version")
  rpm_args+=(--set-metadata "version = \"$package_version\"")
fi
deb=$(cargo deb "${deb_args[@]}" | tail -n 1)
before=$(mktemp)
trap 'rm -f "$before"' EXIT
touch "$before"
cargo generate-rpm "${rpm_args[@]}"
rpm=$(find "$dist" -maxdepth 1 -name 'octopipeline-*.rpm' -newer "$before" | head -n 1)
if [ ! -f "$deb" ] || [ -z "$rpm" ]; then
  echo "build.sh: cargo deb / cargo generate-rpm did not leave a package in $dist/" >&2
  exit 1
fi
echo "built:"
echo "  $deb"
echo "  $rpm"
