#!/usr/bin/env bash
# Builds the .deb (cargo-deb) and .rpm (rpmbuild, packaging/deb-rpm/octopipeline.spec.in) of op
# into dist/.
#
#   packaging/deb-rpm/build.sh [version]
#
# version: the package version (default: the one in Cargo.toml). A pre-release such as 1.2.0-rc.1
# becomes 1.2.0~rc.1, which both dpkg and rpm sort before 1.2.0.
#
# Which binary goes in: CARGO_BUILD_TARGET builds for that Rust target. Without it, the static
# x86_64/aarch64 musl target of this machine is used when its Rust standard library and musl-gcc
# are installed (`rustup target add x86_64-unknown-linux-musl`, `apt-get install musl-tools`),
# as the release does; otherwise the host's default target, which links glibc dynamically, and
# the packages then say so (.deb: Depends libc6; .rpm: requires libc.so.6). STATIC=1 fails
# instead of falling back. DIST_DIR writes somewhere other than dist/.
# Needs: cargo install --locked cargo-deb; rpmbuild (Debian/Ubuntu package `rpm`).
set -euo pipefail
cd "$(dirname "$0")/../.."

version=${1:-}
version=${version#v}
[ -n "$version" ] || version=$(awk -F'"' '/^\[/ { p = ($0 == "[package]") } p && /^version *=/ { print $2; exit }' Cargo.toml)
package_version=${version//-/\~}
dist=${DIST_DIR:-dist}
maintainer=$(awk -F'"' '/^\[/ { p = ($0 == "[package.metadata.deb]") } p && /^maintainer *=/ { print $2; exit }' Cargo.toml)

for tool in cargo-deb rpmbuild; do
  if ! command -v "$tool" > /dev/null; then
    echo "build.sh: $tool is missing; install it with: cargo install --locked cargo-deb / apt-get install rpm" >&2
    exit 1
  fi
done

target=${CARGO_BUILD_TARGET:-}
if [ -z "$target" ]; then
  musl="$(uname -m)-unknown-linux-musl"
  if rustup target list --installed 2> /dev/null | grep -qx "$musl" && command -v musl-gcc > /dev/null; then
    target=$musl
    # ring compiles C: with the musl C library, not the host's glibc.
    export "CC_${musl//-/_}=musl-gcc"
  elif [ "${STATIC:-0}" = 1 ]; then
    echo "build.sh: STATIC=1, but the $musl target or musl-gcc is not installed" >&2
    exit 1
  else
    echo "build.sh: no $musl target (or no musl-gcc) here: building for the host, linked to glibc"
  fi
fi

echo "building op (release${target:+, $target})"
cargo build --release --locked --bin op ${target:+--target "$target"}
# cargo-deb reads the target/release/ paths in Cargo.toml's package metadata as the real build
# directory: CARGO_TARGET_DIR, and with --target, <dir>/<target>/release/ (the package
# architecture then follows the target too). target/assets/ below is a plain path.
bin_dir=${CARGO_TARGET_DIR:-target}/${target:+$target/}release
op="$bin_dir/op"
if readelf -d "$op" 2> /dev/null | grep -q '(NEEDED)'; then
  echo "op links dynamically: $(readelf -d "$op" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd ' ')"
else
  echo "op is statically linked"
fi

# Man pages and completions come from the binary itself, so they always match the flags. It is
# run under each of its names (through a link), because it writes what that name should show:
# `octopipeline completions bash` completes the `octopipeline` command.
# (A cross-built binary that cannot run here would stop the script at this point.)
assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions" "$assets/names"
# Which binary went in (for checks that run it).
realpath "$op" > "$assets/packaged-binary"
for name in op octopipeline; do
  ln -s "$(realpath "$op")" "$assets/names/$name"
  # A page per command: NAME.1, NAME-build.1, NAME-toolchain-install.1, ...
  "$assets/names/$name" man --dir "$assets/man"
  "$assets/names/$name" completions bash > "$assets/completions/$name.bash"
  "$assets/names/$name" completions zsh > "$assets/completions/_$name"
  "$assets/names/$name" completions fish > "$assets/completions/$name.fish"
done
for file in "$assets"/man/* "$assets"/completions/*; do
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
# The maintainer scripts and the spec take the shared `op` name functions (op-name.sh).
substitute() { # template zsh-completion-dir
  python3 - "$1" "$2" packaging/deb-rpm/op-name.sh "$package_version" "$maintainer" "$PWD/$assets/rpm-root" <<'PY'
import sys
template, zsh_dir, functions, version, maintainer, staged = sys.argv[1:]
text = open(template).read()
text = text.replace("@OP_NAME@", open(functions).read().strip().replace("@ZSH_DIR@", zsh_dir))
text = text.replace("@VERSION@", version).replace("@MAINTAINER@", maintainer).replace("@STAGED@", staged)
sys.stdout.write(text)
PY
}
mkdir -p "$assets/debian"
for script in postinst prerm; do
  substitute "packaging/deb-rpm/debian/$script.in" vendor-completions > "$assets/debian/$script"
  chmod 755 "$assets/debian/$script"
done
# One changelog entry for the version being packaged, dated by SOURCE_DATE_EPOCH, else by the
# last commit, so that rebuilding the same commit gives the same packages.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2> /dev/null || date +%s)}
{
  echo "octopipeline ($package_version-1) unstable; urgency=medium"
  echo
  echo "  * Release $version: https://github.com/octopilot/octopipeline/releases/tag/v$version"
  echo
  echo " -- $maintainer  $(LC_ALL=C date -u -d "@$epoch" -R)"
} > "$assets/changelog"

mkdir -p "$dist"
# The Debian revision -1: this is a packaging of the upstream release (not a native package).
deb_args=(--no-build --output "$dist/" --deb-version "$package_version-1" ${target:+--target "$target"})
# cargo-deb takes the maintainer scripts from target/assets/debian/ (generated above).
deb=$(cargo deb "${deb_args[@]}" | tail -n 1)

# The .rpm: the same files staged as they install, then rpmbuild with the generated spec.
root="$assets/rpm-root"
install -D -m 755 "$op" "$root/usr/bin/octopipeline"
install -d "$root/usr/share/man/man1"
for page in "$assets"/man/*.1; do
  gzip -9 --no-name < "$page" > "$root/usr/share/man/man1/$(basename "$page").gz"
  chmod 644 "$root/usr/share/man/man1/$(basename "$page").gz"
done
install -D -m 644 "$assets/completions/octopipeline.bash" "$root/usr/share/bash-completion/completions/octopipeline"
install -D -m 644 "$assets/completions/_octopipeline" "$root/usr/share/zsh/site-functions/_octopipeline"
install -D -m 644 "$assets/completions/octopipeline.fish" "$root/usr/share/fish/vendor_completions.d/octopipeline.fish"
for file in op.bash _op op.fish; do
  install -D -m 644 "$assets/completions/$file" "$root/usr/share/octopipeline/completions/$file"
done
install -D -m 644 README.md "$root/usr/share/doc/octopipeline/README.md"
install -D -m 644 DEPENDENCIES.md "$root/usr/share/doc/octopipeline/DEPENDENCIES.md"
install -D -m 644 LICENSE "$root/usr/share/licenses/octopipeline/LICENSE"
{
  substitute packaging/deb-rpm/octopipeline.spec.in site-functions
  echo "%changelog"
  echo "* $(LC_ALL=C date -u -d "@$epoch" '+%a %b %d %Y') $maintainer - $package_version-1"
  echo "- Release $version: https://github.com/octopilot/octopipeline/releases/tag/v$version"
} > "$assets/octopipeline.spec"
rpm_arch=$(uname -m)
if [ -n "$target" ]; then rpm_arch=${target%%-*}; fi
rpmbuild -bb --quiet --target "$rpm_arch-linux" \
  --define "_topdir $PWD/$assets/rpmbuild" \
  --define "_rpmdir $PWD/$assets/rpmbuild/RPMS" \
  --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  --define "source_date_epoch_from_changelog 1" \
  --define "use_source_date_epoch_as_buildtime 1" \
  --define "clamp_mtime_to_source_date_epoch 1" \
  "$assets/octopipeline.spec"
rpm=$(find "$assets/rpmbuild/RPMS" -maxdepth 1 -name 'octopipeline-*.rpm' | head -n 1)
if [ ! -f "$deb" ] || [ -z "$rpm" ]; then
  echo "build.sh: cargo deb / rpmbuild did not leave a package behind" >&2
  exit 1
fi
cp "$rpm" "$dist/"
echo "built:"
echo "  $deb"
echo "  $dist/$(basename "$rpm")"
