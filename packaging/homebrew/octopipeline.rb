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
# This formula installs the program as `octopipeline` only, a name nothing else uses, so it
# installs next to 1Password's CLI (`brew install --cask 1password-cli`), which is also `op`.
# octopipeline-op.rb adds the `op` name (and does not link where 1Password's `op` is).
class Octopipeline < Formula
  desc "Pinned, verified Skaffold and Buildpacks toolchain with pipeline commands"
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

  def install
    bin.install "op" => "octopipeline"
    bash_completion.install "completions/octopipeline.bash" => "octopipeline"
    zsh_completion.install "completions/_octopipeline"
    fish_completion.install "completions/octopipeline.fish"
    man1.install Dir["man/octopipeline*.1"]
    doc.install "README.md", "DEPENDENCIES.md"
  end

  def caveats
    <<~EOS
      This formula names the program `octopipeline`. To also run it as `op`:
        brew install octopilot/tap/octopipeline-op
      (not where 1Password's CLI, also `op`, is installed).
    EOS
  end

  test do
    assert_match "octopipeline #{version}", shell_output("#{bin}/octopipeline --version")
    # Lists the pins built into the program without downloading anything.
    ENV["OP_CACHE_DIR"] = (testpath/"cache").to_s
    ENV["OP_OFFLINE"] = "1"
    output = shell_output("#{bin}/octopipeline toolchain list")
    %w[skaffold pack flux kubectl crane].each { |tool| assert_match tool, output }
  end
end
