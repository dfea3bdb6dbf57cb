# Homebrew formula for op / octopipeline, published to the octopilot/homebrew-tap tap.
#
# TEMPLATE: the release workflow (.github/workflows/release.yml, "fill in the package templates")
# replaces @VERSION@ and each @SHA256_<target>@ with the values of the release it publishes.
#
# It installs the release binaries for the machine's OS and architecture, each checked by SHA-256,
# rather than building from source: a tap has no bottles, so a source formula would make every
# user compile op and pull in Rust, while these are the exact binaries the release smoke-tested
# (static musl builds on Linux). Both embed the same toolchain.lock as every other channel.
class Octopipeline < Formula
  desc "Pinned, verified Skaffold + Buildpacks toolchain and the pipeline commands that use it"
  homepage "https://github.com/octopilot/octopipeline"
  version "@VERSION@"
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
    # 1Password's CLI is also called `op`; `octopipeline` is the same program under a name
    # nothing else uses.
    bin.install "op", "octopipeline"
    %w[op octopipeline].each do |name|
      generate_completions_from_executable(bin/name, "completions", base_name: name)
      # A page per command: op.1, op-build.1, op-toolchain-install.1, ...
      system bin/name, "man", "--dir", buildpath/"man"
    end
    man1.install Dir[buildpath/"man/*.1"]
    doc.install "README.md", "DEPENDENCIES.md"
  end

  def caveats
    <<~EOS
      1Password's CLI is also called `op`. If both are installed, `octopipeline` always runs
      this program, with the same commands and flags.
    EOS
  end

  test do
    assert_match "op #{version}", shell_output("#{bin}/op --version")
    assert_match "octopipeline #{version}", shell_output("#{bin}/octopipeline --version")
    # Lists the pins built into op without downloading anything.
    ENV["OP_CACHE_DIR"] = (testpath/"cache").to_s
    ENV["OP_OFFLINE"] = "1"
    output = shell_output("#{bin}/op toolchain list")
    %w[skaffold pack flux kubectl crane].each { |tool| assert_match tool, output }
  end
end
