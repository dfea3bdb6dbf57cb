//! The one place that maps the host (OS, CPU) to a platform key of `toolchain.lock`.

use anyhow::Result;

use crate::error::OpError;

/// Every platform key a lock may use.
pub const KEYS: [&str; 5] = [
    "linux-amd64",
    "linux-arm64",
    "darwin-amd64",
    "darwin-arm64",
    "windows-amd64",
];

/// Checks that `key` is one of [`KEYS`].
pub fn validate(key: &str) -> Result<()> {
    if KEYS.contains(&key) {
        Ok(())
    } else {
        Err(OpError::config(format!(
            "unknown platform `{key}`; expected one of: {}",
            KEYS.join(", ")
        ))
        .into())
    }
}

/// The platform key of the machine `op` runs on.
pub fn host() -> Result<&'static str> {
    let arch = match std::env::consts::ARCH {
        "x86_64" if running_under_rosetta() => "arm64",
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => {
            return Err(OpError::new(
                crate::error::Code::NoPlatform,
                format!(
                    "this CPU architecture ({other}) has no pinned tools; supported platforms: {}",
                    KEYS.join(", ")
                ),
            )
            .with_hint("set OP_TOOLCHAIN_PLATFORM to install another platform's tools")
            .into());
        }
    };
    let key = match (std::env::consts::OS, arch) {
        ("linux", "amd64") => "linux-amd64",
        ("linux", "arm64") => "linux-arm64",
        ("macos", "amd64") => "darwin-amd64",
        ("macos", "arm64") => "darwin-arm64",
        ("windows", "amd64") => "windows-amd64",
        (os, arch) => {
            return Err(OpError::new(
                crate::error::Code::NoPlatform,
                format!(
                    "this platform ({os}-{arch}) has no pinned tools; supported platforms: {}",
                    KEYS.join(", ")
                ),
            )
            .with_hint("set OP_TOOLCHAIN_PLATFORM to install another platform's tools")
            .into());
        }
    };
    Ok(key)
}

/// True when this x86_64 process is translated by Rosetta 2 on Apple Silicon, where the native
/// (arm64) tools are the right ones: `sysctl.proc_translated` is 1 only under translation.
#[cfg(all(target_os = "macos", target_arch = "x86_64"))]
fn running_under_rosetta() -> bool {
    std::process::Command::new("/usr/sbin/sysctl")
        .args(["-n", "sysctl.proc_translated"])
        .output()
        .map(|out| out.stdout.trim_ascii() == b"1")
        .unwrap_or(false)
}

#[cfg(not(all(target_os = "macos", target_arch = "x86_64")))]
fn running_under_rosetta() -> bool {
    false
}

/// True for platforms whose executables carry a `.exe` suffix.
pub fn is_windows(key: &str) -> bool {
    key.starts_with("windows-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_a_known_key() {
        let key = host().expect("test hosts are supported platforms");
        assert!(KEYS.contains(&key));
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_list() {
        let error = validate("linux-riscv64").unwrap_err().to_string();
        assert!(error.contains("linux-riscv64"), "{error}");
        assert!(error.contains("darwin-arm64"), "{error}");
        assert!(validate("windows-amd64").is_ok());
    }
}
