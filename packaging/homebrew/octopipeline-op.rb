# Homebrew formulae for op / octopipeline, published to the octopilot/homebrew-tap tap.
#
# TEMPLATE: the release workflow (.github/workflows/release.yml, "fill in the package templates")
# replaces @VERSION@ and each @SHA256_<target>@ with the values of the release it publishes.
#
# They install the release binary for the machine's OS and architecture, checked by SHA-256,
# rather than building from source: a tap has no bottles, so a source formula would make every
# user compile op and pull in Rust, while this is the exact binary the release smoke-tested
# (a static musl build on Linux), with the same toolchain.lock built in as every other channel.
#
# This formula adds the `op` name to the octopipeline formula: a link to its binary, with op's
# completions and man pages. Not for machines with 1Password's CLI, which is also `op`: there,
# install octopipeline alone. (It downloads the same archive, so Homebrew fetches it once.)
class OctopipelineOp < Formula
  desc "Run octopipeline as op: the short name of the Skaffold and Buildpacks toolchain"
  homepage "https://github.com/octopilot/octopipeline"
  license "Apache-2.0"

  on_macos do
    on_arm do
      url "https://github.com/octopilot/octopipeline/releases/download/v@VERSION@/octopipeline-@VERSION@-aarch64-apple-darwin.tar.gz"
      sha256 "@SHA256_aarch64-apple-darwin@"
    end
    on_intel do
      url "https://github.com/octopilot/octopipeline/releases/download/v@VERSION@/octopipeline-@VERSION@-x86_64-apple-darwin.tar.gz"
      sha256 "@SHA256_x86_64-apple-darwin@"
    end
  end

  on_linux do
    on_arm do
      url "https://github.com/octopilot/octopipeline/releases/download/v@VERSION@/octopipeline-@VERSION@-aarch64-unknown-linux-musl.tar.gz"
      sha256 "@SHA256_aarch64-unknown-linux-musl@"
    end
    on_intel do
      url "https://github.com/octopilot/octopipeline/releases/download/v@VERSION@/octopipeline-@VERSION@-x86_64-unknown-linux-musl.tar.gz"
      sha256 "@SHA256_x86_64-unknown-linux-musl@"
    end
  end

  depends_on "octopipeline"

  def install
    bin.install_symlink Formula["octopipeline"].opt_bin/"octopipeline" => "op"
    bash_completion.install "completions/op.bash" => "op"
    zsh_completion.install "completions/_op"
    fish_completion.install "completions/op.fish"
    man1.install Dir["man/op*.1"]
  end

  test do
    # Invoked as `op`, the program names itself `op`.
    assert_match "op #{version}", shell_output("#{bin}/op --version")
    assert_match "Usage: op", shell_output("#{bin}/op --help")
  end
end
