# Homebrew formula for op / octopipeline.
#
# It builds from the release source tarball with cargo rather than installing prebuilt binaries:
# one sha256 covers every macOS and Linux architecture, Homebrew's bottles then provide the
# binaries, and the build embeds the same toolchain.lock as every other channel.
# The release workflow fills in `url` and `sha256` (RELEASE_VERSION / SOURCE_SHA256).
class Octopipeline < Formula
  desc "One pipeline toolchain for Skaffold + Cloud Native Buildpacks"
  homepage "https://github.com/octopilot/octopipeline"
  url "https://github.com/octopilot/octopipeline/archive/refs/tags/vRELEASE_VERSION.tar.gz"
  sha256 "SOURCE_SHA256"
  license "Apache-2.0"
  head "https://github.com/octopilot/octopipeline.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args
    # Installs both `op` and `octopipeline`. 1Password's CLI is also called `op`:
    # if both are installed, `octopipeline` always reaches this program.
    %w[op octopipeline].each do |name|
      generate_completions_from_executable(bin/name, "completions", base_name: name)
      (man1/"#{name}.1").write Utils.safe_popen_read(bin/name, "man")
    end
  end

  test do
    assert_match "op #{version}", shell_output("#{bin}/op --version")
    assert_match "octopipeline #{version}", shell_output("#{bin}/octopipeline --version")
    ENV["OP_CACHE_DIR"] = testpath/"cache"
    output = shell_output("#{bin}/op toolchain list")
    %w[skaffold pack flux kubectl crane].each { |tool| assert_match tool, output }
  end
end
