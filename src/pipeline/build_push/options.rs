//! The inputs of `build-push --platform`, `--cache-image` / `OP_CACHE_IMAGE` and
//! `--sbom-output-dir`, checked before anything runs: a bad one is exit 2 naming its flag.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::Result;
use regex::Regex;

use crate::error::OpError;
use crate::formats::reference_problem;

/// Operating systems a container image is built for.
const OSES: &[&str] = &["linux", "windows"];
/// Architectures of the OCI image spec's platform list that registries and buildx know.
const ARCHES: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "loong64",
];

/// One target platform, `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    os: String,
    arch: String,
    variant: Option<String>,
}

impl Platform {
    /// `linux-arm64`, `linux-arm-v7`: for tags and directory names.
    pub fn suffix(&self) -> String {
        self.to_string().replace('/', "-")
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        match &self.variant {
            Some(variant) => write!(f, "/{variant}"),
            None => Ok(()),
        }
    }
}

fn variant_known(arch: &str, variant: &str) -> bool {
    let known: &[&str] = match arch {
        "arm" => &["v5", "v6", "v7", "v8"],
        "arm64" => &["v8", "v9"],
        "amd64" => &["v1", "v2", "v3", "v4"],
        _ => &[],
    };
    known.contains(&variant)
}

/// `--platform LIST`: comma-separated `os/arch[/variant]`, each known and listed once.
pub fn platforms(list: Option<&str>) -> Result<Vec<Platform>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let usage = |message: String| -> anyhow::Error {
        OpError::config(message)
            .with_hint("give a comma-separated list of os/arch[/variant], e.g. --platform linux/amd64,linux/arm64")
            .into()
    };
    if let Some(problem) = reference_problem(list) {
        return Err(usage(format!("--platform {problem}")));
    }
    let mut platforms: Vec<Platform> = Vec::new();
    for entry in list.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(usage(format!("--platform: an empty entry in `{list}`")));
        }
        let parts: Vec<&str> = entry.split('/').collect();
        let [os, arch, variant @ ..] = parts.as_slice() else {
            return Err(usage(format!("--platform {entry}: give os/arch")));
        };
        if arch.is_empty() || variant.len() > 1 {
            return Err(usage(format!("--platform {entry}: give os/arch")));
        }
        if !OSES.contains(os) {
            return Err(usage(format!(
                "--platform {entry}: unknown operating system `{os}` (known: {})",
                OSES.join(", ")
            )));
        }
        if !ARCHES.contains(arch) {
            return Err(usage(format!(
                "--platform {entry}: unknown architecture `{arch}` (known: {})",
                ARCHES.join(", ")
            )));
        }
        let variant = variant.first().map(|variant| variant.to_string());
        if let Some(variant) = &variant
            && !variant_known(arch, variant)
        {
            return Err(usage(format!(
                "--platform {entry}: unknown variant `{variant}` of {arch}"
            )));
        }
        let platform = Platform {
            os: os.to_string(),
            arch: arch.to_string(),
            variant,
        };
        if platforms.contains(&platform) {
            return Err(usage(format!("--platform {platform}: listed twice")));
        }
        platforms.push(platform);
    }
    Ok(platforms)
}

static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$")
        .expect("a valid pattern")
});
static COMPONENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").expect("a valid pattern")
});
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("a valid pattern"));

/// `--cache-image REF` / `OP_CACHE_IMAGE`: where pack keeps each artifact's build cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheImage {
    /// `registry/path`, as given.
    repository: String,
    /// The registry when the reference names one (`ghcr.io`, `localhost:5001`).
    registry: Option<String>,
    tag: Option<String>,
}

impl CacheImage {
    /// The flag, else the variable; messages name the one the reference came from.
    pub fn from(flag: Option<&str>, variable: Option<String>) -> Result<Option<CacheImage>> {
        match (flag, variable) {
            (Some(flag), _) => Self::parse(flag, "--cache-image", ' ').map(Some),
            (None, Some(value)) => Self::parse(&value, crate::settings::CACHE_IMAGE, '=').map(Some),
            (None, None) => Ok(None),
        }
    }

    /// `name` and `separator` show where `text` came from: `--cache-image REF`, `OP_CACHE_IMAGE=REF`.
    fn parse(text: &str, name: &str, separator: char) -> Result<CacheImage> {
        if let Some(problem) = reference_problem(text) {
            return Err(OpError::config(format!("{name} {problem}")).into());
        }
        let shown = format!("{name}{separator}{text}");
        let invalid = |why: String| -> anyhow::Error {
            OpError::config(format!("{shown} is not a valid image reference: {why}"))
                .with_hint(
                    "give a registry image such as ghcr.io/acme/cache or ghcr.io/acme/cache:ci",
                )
                .into()
        };
        if text.contains('@') {
            return Err(invalid(
                "a cache image is written to: give a tag, not a digest".into(),
            ));
        }
        let slash = text.rfind('/').map_or(0, |at| at + 1);
        let (repository, tag) = match text[slash..].rfind(':') {
            Some(colon) => (&text[..slash + colon], Some(&text[slash + colon + 1..])),
            None => (text, None),
        };
        if let Some(tag) = tag
            && !TAG.is_match(tag)
        {
            return Err(invalid(format!(
                "tag `{tag}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
            )));
        }
        if repository.len() > 255 {
            return Err(invalid("the name is longer than 255 characters".into()));
        }
        let mut components: Vec<&str> = repository.split('/').collect();
        let registry = match components.as_slice() {
            [first, _, ..]
                if first.contains(['.', ':'])
                    || *first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                if !DOMAIN.is_match(first) {
                    return Err(invalid(format!("registry `{first}` is not a host[:port]")));
                }
                Some(components.remove(0).to_string())
            }
            _ => None,
        };
        if let Some(bad) = components.iter().find(|part| !COMPONENT.is_match(part)) {
            return Err(invalid(format!(
                "path component `{bad}` must be lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
            )));
        }
        Ok(CacheImage {
            repository: repository.to_string(),
            registry,
            tag: tag.map(str::to_string),
        })
    }

    pub fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    /// The cache image of one build: tagged `[TAG-]IMAGE[-PLATFORM]` (`/` in the image name
    /// becomes `-`), so artifacts and platforms never share a cache. `registry` replaces the
    /// reference's own registry (the local registry as pack's container reaches it).
    pub fn for_build(
        &self,
        image: &str,
        platform: Option<&Platform>,
        registry: Option<&str>,
    ) -> Result<String> {
        let mut tag = image.replace('/', "-");
        if let Some(prefix) = &self.tag {
            tag = format!("{prefix}-{tag}");
        }
        if let Some(platform) = platform {
            tag = format!("{tag}-{}", platform.suffix());
        }
        if !TAG.is_match(&tag) {
            return Err(OpError::config(format!(
                "--cache-image: the cache tag `{tag}` for artifact {image} is not a valid tag (at most 128 letters, digits, `_`, `.` or `-`)"
            ))
            .with_hint("use a shorter cache image tag, or none")
            .into());
        }
        let repository = match (&self.registry, registry) {
            (Some(own), Some(other)) => format!("{other}{}", &self.repository[own.len()..]),
            _ => self.repository.clone(),
        };
        Ok(format!("{repository}:{tag}"))
    }
}

/// `--sbom-output-dir DIR`, against the project: a directory, or nothing yet.
pub fn sbom_dir(
    flag: Option<&Path>,
    absolute: impl Fn(&Path) -> PathBuf,
) -> Result<Option<PathBuf>> {
    let Some(flag) = flag else {
        return Ok(None);
    };
    if flag.as_os_str().is_empty() {
        return Err(OpError::config("--sbom-output-dir: give a directory").into());
    }
    let dir = absolute(flag);
    if dir.exists() && !dir.is_dir() {
        return Err(OpError::config(format!(
            "--sbom-output-dir {}: not a directory",
            flag.display()
        ))
        .with_hint("give a directory for pack's SBOMs (it is created when missing)")
        .into());
    }
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_os_arch_variant() {
        let list = platforms(Some("linux/amd64, linux/arm/v7,windows/amd64")).unwrap();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["linux/amd64", "linux/arm/v7", "windows/amd64"]);
        assert_eq!(list[1].suffix(), "linux-arm-v7");
        assert!(platforms(None).unwrap().is_empty());
        for bad in [
            "",
            "linux/",
            "/amd64",
            "linux/amd64/v2/x",
            "Linux/amd64",
            "linux/arm64/v7",
            "linux/amd64\n",
        ] {
            let error = platforms(Some(bad)).unwrap_err();
            assert_eq!(crate::error::exit_code(&error), 2, "{bad:?}");
            assert!(error.to_string().starts_with("--platform"), "{error}");
        }
    }

    #[test]
    fn cache_images_are_references_with_a_tag_per_build() {
        let cache = CacheImage::from(Some("localhost:5001/ci/cache:main"), None)
            .unwrap()
            .unwrap();
        assert_eq!(cache.registry(), Some("localhost:5001"));
        let arm = platforms(Some("linux/arm64")).unwrap();
        assert_eq!(
            cache
                .for_build("team/api", Some(&arm[0]), Some("127.0.0.1:5001"))
                .unwrap(),
            "127.0.0.1:5001/ci/cache:main-team-api-linux-arm64"
        );
        let bare = CacheImage::from(None, Some("cache".into()))
            .unwrap()
            .unwrap();
        assert_eq!(bare.registry(), None);
        assert_eq!(
            bare.for_build("api", None, Some("x:1")).unwrap(),
            "cache:api"
        );
        assert!(CacheImage::from(None, None).unwrap().is_none());
        for bad in [
            "acme/Cache",
            "ghcr.io/acme/cache:",
            "ghcr.io/acme/cache:-x",
            "ghcr.io/acme//cache",
            "ghcr.io/acme/cache@sha256:ab",
            "bad_host:x/cache",
            "ghcr.io/acme/ca che",
            "-x",
        ] {
            let error = CacheImage::from(Some(bad), None).unwrap_err();
            assert_eq!(crate::error::exit_code(&error), 2, "{bad:?}");
            assert!(
                error.to_string().contains("is not a valid image reference"),
                "{bad:?}: {error}"
            );
        }
        let long = CacheImage::from(Some("cache"), None).unwrap().unwrap();
        assert!(long.for_build(&"a".repeat(130), None, None).is_err());
        let control = CacheImage::from(None, Some("cache\n::warning::x".into())).unwrap_err();
        assert!(
            control
                .to_string()
                .starts_with("OP_CACHE_IMAGE contains a control character")
        );
    }
}
