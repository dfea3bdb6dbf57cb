//! Test locks: pins of fixture tools whose URLs keep the real host (`https://github.com/...`),
//! the artifact bytes each URL must serve, and the `toolchain.lock` text for them.

use std::fs;
use std::path::Path;

use super::archive::{self, Entry};
use super::{host_platform, sha256_hex};

/// How a fixture tool is packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Raw,
    TarGz,
    Zip,
}

impl Kind {
    pub fn archive(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::TarGz => "tar.gz",
            Kind::Zip => "zip",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Kind::Raw => "",
            Kind::TarGz => ".tar.gz",
            Kind::Zip => ".zip",
        }
    }
}

/// One platform entry of a pin, with the bytes its URL serves.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub platform: String,
    pub url: String,
    /// What the mirror serves for `url`.
    pub body: Vec<u8>,
    /// What the lock says (the digest of `body` unless a test changes it).
    pub sha256: String,
    pub archive: String,
    pub bin: Option<String>,
    pub size: Option<u64>,
}

impl Artifact {
    pub fn new(
        platform: &str,
        url: &str,
        body: Vec<u8>,
        kind: Kind,
        bin: Option<&str>,
    ) -> Artifact {
        Artifact {
            platform: platform.to_string(),
            url: url.to_string(),
            sha256: sha256_hex(&body),
            body,
            archive: kind.archive().to_string(),
            bin: bin.map(str::to_string),
            size: None,
        }
    }

    /// The URL without its scheme: where a mirror holds the file (`github.com/acme/...`).
    pub fn mirror_path(&self) -> String {
        let rest = self.url.split_once("://").expect("url has a scheme").1;
        let authority_end = rest.find('/').unwrap_or(rest.len());
        // Userinfo (`user:password@`) is not part of the mirror path.
        match rest[..authority_end].rfind('@') {
            Some(at) => rest[at + 1..].to_string(),
            None => rest.to_string(),
        }
    }

    /// The request target a loopback mirror sees (`/github.com/acme/...`).
    pub fn server_path(&self) -> String {
        format!("/{}", self.mirror_path())
    }
}

/// One tool of a lock: a version and its platform entries.
#[derive(Clone, Debug)]
pub struct Pin {
    pub tool: String,
    pub version: String,
    pub artifacts: Vec<Artifact>,
}

impl Pin {
    /// A fixture `tool` for the host platform, packed as `kind`.
    pub fn fixture(tool: &str, version: &str, kind: Kind) -> Pin {
        Pin::fixture_for(tool, version, kind, host_platform())
    }

    /// A fixture `tool` for `platform`, packed as `kind`, exiting 0.
    pub fn fixture_for(tool: &str, version: &str, kind: Kind, platform: &str) -> Pin {
        Pin {
            tool: tool.to_string(),
            version: version.to_string(),
            artifacts: vec![fixture_artifact(
                tool,
                version,
                kind,
                platform,
                &archive::fixture_script(tool, 0),
            )],
        }
    }

    /// Adds a fixture artifact for another platform.
    pub fn and_platform(mut self, platform: &str, kind: Kind) -> Pin {
        let script = archive::fixture_script(&self.tool, 0);
        self.artifacts.push(fixture_artifact(
            &self.tool,
            &self.version,
            kind,
            platform,
            &script,
        ));
        self
    }

    /// A pin with one artifact whose bytes are given (for hostile and custom artifacts).
    pub fn custom(tool: &str, version: &str, artifact: Artifact) -> Pin {
        Pin {
            tool: tool.to_string(),
            version: version.to_string(),
            artifacts: vec![artifact],
        }
    }

    /// The host platform's artifact (or the only one).
    pub fn artifact(&self) -> &Artifact {
        self.artifacts
            .iter()
            .find(|artifact| artifact.platform == host_platform())
            .unwrap_or(&self.artifacts[0])
    }

    pub fn artifact_mut(&mut self) -> &mut Artifact {
        let index = self
            .artifacts
            .iter()
            .position(|artifact| artifact.platform == host_platform())
            .unwrap_or(0);
        &mut self.artifacts[index]
    }

    pub fn artifact_for(&self, platform: &str) -> &Artifact {
        self.artifacts
            .iter()
            .find(|artifact| artifact.platform == platform)
            .unwrap_or_else(|| panic!("{} has no {platform} artifact", self.tool))
    }

    /// The documented cache entry name (see [`entry_key`]).
    pub fn dir_name(&self, platform: &str) -> String {
        let artifact = self.artifact_for(platform);
        entry_key(
            &self.tool,
            &self.version,
            platform,
            &artifact.sha256,
            &artifact.archive,
            artifact.bin.as_deref(),
        )
    }

    /// The documented installed file name: `<tool>[.exe]` for raw, else the bin path's file name.
    pub fn exe_name(&self, platform: &str) -> String {
        let artifact = self.artifact_for(platform);
        match &artifact.bin {
            Some(bin) if artifact.archive != "raw" => {
                bin.rsplit('/').next().expect("a file name").to_string()
            }
            _ if platform == "windows-amd64" => format!("{}.exe", self.tool),
            _ => self.tool.clone(),
        }
    }
}

/// `<tool>-<version>-<platform>-<12 hex>`: the documented cache entry name, the hex taken from
/// SHA-256 over the artifact's digest, archive kind and `bin` (empty for raw), each followed
/// by a NUL byte.
pub fn entry_key(
    tool: &str,
    version: &str,
    platform: &str,
    sha256: &str,
    archive: &str,
    bin: Option<&str>,
) -> String {
    let bin = if archive == "raw" {
        ""
    } else {
        bin.unwrap_or("")
    };
    let identity = format!("{sha256}\0{archive}\0{bin}\0");
    format!(
        "{tool}-{version}-{platform}-{}",
        &super::sha256_hex(identity.as_bytes())[..12]
    )
}

fn fixture_artifact(
    tool: &str,
    version: &str,
    kind: Kind,
    platform: &str,
    script: &[u8],
) -> Artifact {
    let url = format!(
        "https://github.com/acme/{tool}/releases/download/v{version}/{tool}-{platform}{}",
        kind.extension()
    );
    // op names a Windows platform's executable `TOOL.exe`, so its releases pack that name.
    let exe = if platform.starts_with("windows-") {
        ".exe"
    } else {
        ""
    };
    let bin = format!("{tool}-{version}/bin/{tool}{exe}");
    let readme = format!("fixture {tool} {version}\n");
    let entries = [
        Entry::dir(&format!("{tool}-{version}/")),
        Entry::file(&format!("{tool}-{version}/README.md"), readme.as_bytes()),
        Entry::dir(&format!("{tool}-{version}/bin/")),
        Entry::file(&bin, script),
    ];
    match kind {
        Kind::Raw => Artifact::new(platform, &url, script.to_vec(), kind, None),
        Kind::TarGz => Artifact::new(platform, &url, archive::tar_gz(&entries), kind, Some(&bin)),
        Kind::Zip => Artifact::new(platform, &url, archive::zip(&entries), kind, Some(&bin)),
    }
}

/// A whole test lock.
#[derive(Clone, Debug, Default)]
pub struct Lock {
    pub pins: Vec<Pin>,
}

impl Lock {
    pub fn new(pins: Vec<Pin>) -> Lock {
        Lock { pins }
    }

    pub fn pin(&self, tool: &str) -> &Pin {
        self.pins
            .iter()
            .find(|pin| pin.tool == tool)
            .unwrap_or_else(|| panic!("no pin {tool}"))
    }

    pub fn artifacts(&self) -> impl Iterator<Item = &Artifact> {
        self.pins.iter().flat_map(|pin| pin.artifacts.iter())
    }

    /// The `toolchain.lock` text (schema 1).
    pub fn text(&self) -> String {
        let mut text =
            String::from("# test lock written by the op integration tests\nschema = 1\n");
        for pin in &self.pins {
            text.push_str(&format!(
                "\n[tools.{}]\nversion = {:?}\n",
                pin.tool, pin.version
            ));
            for artifact in &pin.artifacts {
                text.push_str(&format!(
                    "\n[tools.{}.platforms.{}]\nurl = {:?}\nsha256 = {:?}\narchive = {:?}\n",
                    pin.tool, artifact.platform, artifact.url, artifact.sha256, artifact.archive
                ));
                if let Some(bin) = &artifact.bin {
                    text.push_str(&format!("bin = {bin:?}\n"));
                }
                if let Some(size) = artifact.size {
                    text.push_str(&format!("size = {size}\n"));
                }
            }
        }
        text
    }

    /// Lays every artifact out under `dir` as a `file://` mirror does (`<dir>/github.com/...`)
    /// and returns the mirror URL.
    pub fn write_file_mirror(&self, dir: &Path) -> String {
        for artifact in self.artifacts() {
            let path = dir.join(artifact.mirror_path());
            fs::create_dir_all(path.parent().expect("a parent")).expect("create mirror dirs");
            fs::write(&path, &artifact.body).expect("write mirror file");
        }
        super::file_url(dir)
    }
}
