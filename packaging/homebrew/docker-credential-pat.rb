# Homebrew formula for docker-credential-pat.
# The version in `url` must equal Cargo.toml's (packaging/check.sh verifies it);
# at release, set `sha256` with packaging/set-checksum.sh and the release tarball.
class DockerCredentialPat < Formula
  desc "Docker credential helper for personal access tokens"
  homepage "https://github.com/docker-credential-pat/docker-credential-pat"
  url "https://github.com/docker-credential-pat/docker-credential-pat/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license any_of: ["MIT", "Apache-2.0"]
  head "https://github.com/docker-credential-pat/docker-credential-pat.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args
    (man1/"docker-credential-pat.1").write Utils.safe_popen_read(bin/"docker-credential-pat", "man")
    generate_completions_from_executable(bin/"docker-credential-pat", "completions",
                                         shells: [:bash, :zsh, :fish])
  end

  def caveats
    <<~EOS
      Point Docker at the helper, then check the setup:
        docker-credential-pat configure-docker
        docker-credential-pat doctor
      The macOS Keychain may ask once per token to let docker-credential-pat read it;
      choose "Always Allow".
    EOS
  end

  test do
    assert_match "v#{version}", shell_output("#{bin}/docker-credential-pat version")
    assert_match "doctor", shell_output("#{bin}/docker-credential-pat --help")
  end
end
