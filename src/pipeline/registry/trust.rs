//! How `op start-registry` trusts the registry's certificate, as data: the argv of each OS's
//! system-trust commands, the script that installs it in Colima's Docker, the hosts-file check and
//! the sentinel that records the automatic install. Pure functions, tested on any host.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The host names the registry is reached by, each with its own Docker `certs.d` directory.
pub const REGISTRY_HOSTS: [&str; 3] = [
    "localhost:5001",
    "host.docker.internal:5001",
    "registry.local:5001",
];
/// Written next to the copied certificate once it is in the system store; holds its fingerprint.
pub const SENTINEL: &str = ".system-trust-installed";
/// Below the store's root (`/`, or `OP_TRUST_STORE_ROOT`).
const DEBIAN_ANCHOR: &str = "usr/local/share/ca-certificates/registry-tls-localhost.crt";
const REDHAT_ANCHOR: &str = "etc/pki/ca-trust/source/anchors/registry-tls-localhost.crt";
/// The bundles `update-ca-certificates` and `update-ca-trust` build from the anchors.
const DEBIAN_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";
const REDHAT_BUNDLE: &str = "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem";
const SYSTEM_KEYCHAIN: &str = "/Library/Keychains/System.keychain";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostOs {
    Linux,
    MacOs,
    Other,
}

impl HostOs {
    pub fn current() -> HostOs {
        if cfg!(target_os = "macos") {
            HostOs::MacOs
        } else if cfg!(target_os = "linux") {
            HostOs::Linux
        } else {
            HostOs::Other
        }
    }
}

/// Which CA store tooling a Linux host has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinuxStore {
    /// Debian, Ubuntu, Alpine: `update-ca-certificates`.
    Debian,
    /// Fedora, RHEL, Amazon Linux: `update-ca-trust`.
    RedHat,
}

impl LinuxStore {
    /// RedHat-style only when its anchors directory exists and Debian's does not.
    pub fn detect(root: &Path) -> LinuxStore {
        let debian = root.join("usr/local/share/ca-certificates").is_dir();
        let redhat = root.join("etc/pki/ca-trust/source/anchors").is_dir();
        if redhat && !debian {
            LinuxStore::RedHat
        } else {
            LinuxStore::Debian
        }
    }

    /// The file op installs the certificate as.
    pub fn anchor(self, root: &Path) -> PathBuf {
        root.join(match self {
            LinuxStore::Debian => DEBIAN_ANCHOR,
            LinuxStore::RedHat => REDHAT_ANCHOR,
        })
    }

    /// The bundle programs read, built from the anchors.
    pub fn bundle(self, root: &Path) -> PathBuf {
        root.join(match self {
            LinuxStore::Debian => DEBIAN_BUNDLE,
            LinuxStore::RedHat => REDHAT_BUNDLE,
        })
    }
}

/// Where on macOS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keychain {
    /// `/Library/Keychains/System.keychain`, for every user (sudo).
    System,
    /// The user's login keychain (no sudo).
    Login(PathBuf),
}

impl Keychain {
    /// `~/Library/Keychains/login.keychain-db`, or the older `login.keychain` when that is absent.
    pub fn login(home: &Path) -> Keychain {
        let keychains = home.join("Library/Keychains");
        let db = keychains.join("login.keychain-db");
        Keychain::Login(if db.exists() {
            db
        } else {
            keychains.join("login.keychain")
        })
    }

    pub fn path(&self) -> PathBuf {
        match self {
            Keychain::System => PathBuf::from(SYSTEM_KEYCHAIN),
            Keychain::Login(path) => path.clone(),
        }
    }
}

/// What to trust and how.
pub struct TrustTarget<'a> {
    pub os: HostOs,
    pub cert: &'a Path,
    pub keychain: &'a Keychain,
    pub linux: LinuxStore,
    /// Where the Linux store lives: `/` but in tests.
    pub store_root: &'a Path,
    /// Already root: no `sudo` (it may not even be installed, e.g. in a container).
    pub root: bool,
}

/// The commands that add the certificate to the system trust store (`None`: unsupported OS).
pub fn system_trust_argv(target: &TrustTarget) -> Option<Vec<Vec<String>>> {
    let cert = target.cert.display().to_string();
    let elevated = |argv: &[&str]| -> Vec<String> {
        let sudo = (!target.root).then_some("sudo");
        sudo.into_iter()
            .chain(argv.iter().copied())
            .map(String::from)
            .collect()
    };
    match target.os {
        HostOs::Linux => {
            let anchor = target.linux.anchor(target.store_root).display().to_string();
            let update = match target.linux {
                LinuxStore::Debian => "update-ca-certificates",
                LinuxStore::RedHat => "update-ca-trust",
            };
            Some(vec![elevated(&["cp", &cert, &anchor]), elevated(&[update])])
        }
        HostOs::MacOs => {
            let add = [
                "security",
                "add-trusted-cert",
                "-d",
                "-r",
                "trustRoot",
                "-k",
            ];
            Some(vec![match target.keychain {
                Keychain::System => {
                    let mut argv = elevated(&add);
                    argv.extend([SYSTEM_KEYCHAIN.to_string(), cert]);
                    argv
                }
                // The login keychain belongs to the user: no sudo.
                Keychain::Login(path) => add
                    .iter()
                    .map(|arg| arg.to_string())
                    .chain([path.display().to_string(), cert])
                    .collect(),
            }])
        }
        HostOs::Other => None,
    }
}

/// The shell script run as root in the Colima VM with the certificate on stdin: one `certs.d`
/// entry per registry host name.
pub fn colima_script() -> String {
    let dirs: Vec<String> = REGISTRY_HOSTS
        .iter()
        .map(|host| format!("/etc/docker/certs.d/{host}"))
        .collect();
    let copies: Vec<String> = dirs
        .iter()
        .map(|dir| format!("cp /tmp/registry-ca.crt {dir}/ca.crt"))
        .collect();
    format!(
        "mkdir -p {} && cat > /tmp/registry-ca.crt && {}",
        dirs.join(" "),
        copies.join(" && ")
    )
}

/// Does a hosts file map `registry.local` (any address; comments ignored)?
pub fn hosts_has_registry(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() >= 2 && fields[1..].contains(&"registry.local")
    })
}

/// The hosts file of this OS.
pub fn default_hosts_file() -> PathBuf {
    if cfg!(windows) {
        let root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
        PathBuf::from(root).join("System32\\drivers\\etc\\hosts")
    } else {
        PathBuf::from("/etc/hosts")
    }
}

/// SHA-256 of the certificate file, as the sentinel records it.
pub fn fingerprint(cert: &Path) -> Option<String> {
    std::fs::read(cert)
        .ok()
        .map(|bytes| crate::hex::encode(Sha256::digest(bytes)))
}

/// Was exactly this certificate put in the system store already?
pub fn already_trusted(cert: &Path, sentinel: &Path) -> bool {
    match (fingerprint(cert), std::fs::read_to_string(sentinel)) {
        (Some(current), Ok(recorded)) => recorded.trim() == current,
        _ => false,
    }
}

/// A `[y/N]` answer.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(os: HostOs, keychain: &Keychain, linux: LinuxStore, root: bool) -> Vec<Vec<String>> {
        system_trust_argv(&TrustTarget {
            os,
            cert: Path::new("/c/tls.crt"),
            keychain,
            linux,
            store_root: Path::new("/"),
            root,
        })
        .unwrap()
    }

    #[test]
    fn linux_argv() {
        let debian = argv(HostOs::Linux, &Keychain::System, LinuxStore::Debian, false);
        assert_eq!(
            debian,
            [
                vec![
                    "sudo",
                    "cp",
                    "/c/tls.crt",
                    "/usr/local/share/ca-certificates/registry-tls-localhost.crt"
                ],
                vec!["sudo", "update-ca-certificates"]
            ]
        );
        let redhat = argv(HostOs::Linux, &Keychain::System, LinuxStore::RedHat, true);
        assert_eq!(
            redhat,
            [
                vec![
                    "cp",
                    "/c/tls.crt",
                    "/etc/pki/ca-trust/source/anchors/registry-tls-localhost.crt"
                ],
                vec!["update-ca-trust"]
            ]
        );
    }

    #[test]
    fn macos_argv() {
        let system = argv(HostOs::MacOs, &Keychain::System, LinuxStore::Debian, false);
        assert_eq!(
            system,
            [[
                "sudo",
                "security",
                "add-trusted-cert",
                "-d",
                "-r",
                "trustRoot",
                "-k",
                SYSTEM_KEYCHAIN,
                "/c/tls.crt"
            ]]
        );
        let home = tempfile::tempdir().unwrap();
        let login = Keychain::login(home.path());
        let old = home.path().join("Library/Keychains").join("login.keychain");
        assert_eq!(login, Keychain::Login(old.clone()));
        let user = argv(HostOs::MacOs, &login, LinuxStore::Debian, false);
        assert_eq!(user[0][0], "security", "no sudo for the login keychain");
        assert_eq!(
            user[0][6..],
            [old.display().to_string(), "/c/tls.crt".into()]
        );
        std::fs::create_dir_all(home.path().join("Library/Keychains")).unwrap();
        std::fs::write(home.path().join("Library/Keychains/login.keychain-db"), "").unwrap();
        assert_eq!(
            Keychain::login(home.path()),
            Keychain::Login(home.path().join("Library/Keychains/login.keychain-db"))
        );
    }

    #[test]
    fn other_os_is_unsupported() {
        assert!(
            system_trust_argv(&TrustTarget {
                os: HostOs::Other,
                cert: Path::new("c"),
                keychain: &Keychain::System,
                linux: LinuxStore::Debian,
                store_root: Path::new("/"),
                root: false,
            })
            .is_none()
        );
    }

    #[test]
    fn linux_store_detection() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(LinuxStore::detect(root.path()), LinuxStore::Debian);
        std::fs::create_dir_all(root.path().join("etc/pki/ca-trust/source/anchors")).unwrap();
        assert_eq!(LinuxStore::detect(root.path()), LinuxStore::RedHat);
        std::fs::create_dir_all(root.path().join("usr/local/share/ca-certificates")).unwrap();
        assert_eq!(LinuxStore::detect(root.path()), LinuxStore::Debian);
    }

    #[test]
    fn colima_script_installs_for_every_host_name() {
        assert_eq!(
            colima_script(),
            "mkdir -p /etc/docker/certs.d/localhost:5001 /etc/docker/certs.d/host.docker.internal:5001 \
             /etc/docker/certs.d/registry.local:5001 && cat > /tmp/registry-ca.crt && \
             cp /tmp/registry-ca.crt /etc/docker/certs.d/localhost:5001/ca.crt && \
             cp /tmp/registry-ca.crt /etc/docker/certs.d/host.docker.internal:5001/ca.crt && \
             cp /tmp/registry-ca.crt /etc/docker/certs.d/registry.local:5001/ca.crt"
        );
    }

    #[test]
    fn hosts_file_check() {
        assert!(hosts_has_registry(
            "127.0.0.1 localhost registry.local # dev\n"
        ));
        assert!(hosts_has_registry("::1\tregistry.local\n"));
        assert!(!hosts_has_registry(
            "# 127.0.0.1 registry.local\n127.0.0.1 registry.local.example\nregistry.local\n"
        ));
        assert!(!hosts_has_registry(""));
    }

    #[test]
    fn sentinel_matches_only_the_same_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("tls.crt");
        let sentinel = dir.path().join(SENTINEL);
        assert!(!already_trusted(&cert, &sentinel));
        std::fs::write(&cert, "cert one").unwrap();
        assert!(!already_trusted(&cert, &sentinel));
        std::fs::write(&sentinel, format!("{}\n", fingerprint(&cert).unwrap())).unwrap();
        assert!(already_trusted(&cert, &sentinel));
        std::fs::write(&cert, "cert two").unwrap();
        assert!(!already_trusted(&cert, &sentinel));
    }

    #[test]
    fn answers() {
        assert!(is_yes("y\n") && is_yes(" YES ") && !is_yes("") && !is_yes("no"));
    }
}
