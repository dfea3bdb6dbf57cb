//! What differs between the hosts the suite runs on: the system PATH and its separator,
//! executable names, `file://` URLs, and the platform keys of `toolchain.lock`.

use std::path::Path;

/// A PATH that holds the system tools and nothing from the developer's shell.
#[cfg(unix)]
pub const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// A PATH that holds the system tools and nothing from the developer's shell.
#[cfg(windows)]
pub const SYSTEM_PATH: &str = r"C:\Windows\system32;C:\Windows";

/// The separator of PATH's entries on this host.
pub const PATH_SEPARATOR: char = if cfg!(windows) { ';' } else { ':' };

/// `name` as this host names an executable (`name.exe` on Windows).
pub fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// A `file://` URL of `path` (`file:///C:/...` on Windows).
pub fn file_url(path: &Path) -> String {
    if cfg!(windows) {
        format!("file:///{}", path.display().to_string().replace('\\', "/"))
    } else {
        format!("file://{}", path.display())
    }
}

/// The platform key of the machine running the tests, as `op` computes it.
pub fn host_platform() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-amd64",
        ("linux", "aarch64") => "linux-arm64",
        ("macos", "x86_64") => "darwin-amd64",
        ("macos", "aarch64") => "darwin-arm64",
        ("windows", "x86_64") => "windows-amd64",
        (os, arch) => panic!("no platform key for {os}/{arch}"),
    }
}

/// A platform key that is not the host's.
pub fn other_platform() -> &'static str {
    if host_platform() == "darwin-arm64" {
        "linux-amd64"
    } else {
        "darwin-arm64"
    }
}

/// A platform key that is neither the host's nor [`other_platform`]: `windows-amd64` (a zip
/// and `.exe` platform) unless that is the host.
pub fn third_platform() -> &'static str {
    if host_platform() == "windows-amd64" {
        "linux-arm64"
    } else {
        "windows-amd64"
    }
}
