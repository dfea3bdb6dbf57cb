//! Which running image is the build: the repository (registry and path, as Docker normalises
//! them) must be one the build can run from, and the version (tag, digest) must be the build's.

/// The version parts of an image reference `registry/path/name[:tag][@digest]`.
#[derive(Debug, PartialEq, Eq)]
pub struct Version<'a> {
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

/// `reference` without its tag and digest.
fn name_of(reference: &str) -> &str {
    let name = reference
        .split_once('@')
        .map_or(reference, |(name, _)| name);
    // The tag is after the last `:` of the last path component (`localhost:5001/app` has none).
    let last_start = name.rfind('/').map_or(0, |slash| slash + 1);
    match name[last_start..].find(':') {
        Some(colon) => &name[..last_start + colon],
        None => name,
    }
}

impl<'a> Version<'a> {
    pub fn of(reference: &'a str) -> Version<'a> {
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => (name, Some(digest).filter(|digest| !digest.is_empty())),
            None => (reference, None),
        };
        let tag = name[name_of(name).len()..]
            .strip_prefix(':')
            .filter(|tag| !tag.is_empty());
        Version { tag, digest }
    }
}

impl std::fmt::Display for Version<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.tag, self.digest) {
            (Some(tag), Some(digest)) => write!(f, "{tag}@{digest}"),
            (Some(tag), None) => f.write_str(tag),
            (None, Some(digest)) => f.write_str(digest),
            (None, None) => f.write_str("(no tag)"),
        }
    }
}

/// Does the first path component name a registry (`r.io`, `localhost:5001`, `localhost`)?
fn has_registry(name: &str) -> bool {
    name.split_once('/').is_some_and(|(first, _)| {
        first.contains('.') || first.contains(':') || first == "localhost"
    })
}

/// The repository of `reference` as a container runtime reads it: `nginx` is
/// `docker.io/library/nginx`, `acme/api` is `docker.io/acme/api`.
pub fn repository(reference: &str) -> String {
    let name = name_of(reference.trim());
    if !has_registry(name) {
        return repository(&format!("docker.io/{name}"));
    }
    let (registry, path) = name.split_once('/').unwrap_or((name, ""));
    let registry = if registry == "index.docker.io" {
        "docker.io"
    } else {
        registry
    };
    if registry == "docker.io" && !path.contains('/') {
        return format!("docker.io/library/{path}");
    }
    format!("{registry}/{path}")
}

/// The build `reference` (of the image `image_name` in build_result.json) and the registries it
/// may have been built in.
pub struct Built<'a> {
    pub reference: &'a str,
    pub image_name: Option<&'a str>,
    pub registries: &'a [String],
}

/// Where a deployment of an environment whose registry is `registry` runs the build from:
/// `registry` + the image path below the registry it was built in (the first of
/// `built.registries` it lies under, else its `imageName` when it ends with that, else the path
/// below its registry host); a bare `name:tag` is `registry/name`.
pub fn environment_repository(built: &Built, registry: &str) -> String {
    let name = name_of(built.reference);
    let below = built
        .registries
        .iter()
        .filter(|built| !built.is_empty())
        .find_map(|built| name.strip_prefix(built.as_str())?.strip_prefix('/'))
        .or_else(|| {
            built.image_name.filter(|image| {
                name.strip_suffix(image)
                    .is_some_and(|rest| rest.ends_with('/'))
            })
        })
        .unwrap_or_else(|| {
            if has_registry(name) {
                name.split_once('/').map_or(name, |(_, path)| path)
            } else {
                name
            }
        });
    format!("{registry}/{below}")
}

/// The repositories a deployment may run the build from: its environment's (see
/// [`environment_repository`]), and the one it was pushed to when its reference names one.
pub fn candidates(built: &Built, registry: &str) -> Vec<String> {
    let mut all = vec![repository(&environment_repository(built, registry))];
    if has_registry(name_of(built.reference)) {
        let own = repository(built.reference);
        if !all.contains(&own) {
            all.push(own);
        }
    }
    all
}

/// Does the running image `current` carry the build `reference`? Its repository must be one of
/// `repositories` ([`candidates`]); then the digests are compared when both have one, the tags
/// when both have one, and at least one of the two must be compared.
pub fn matches(current: &str, reference: &str, repositories: &[String]) -> bool {
    let current = current.trim();
    if current.is_empty() || !repositories.contains(&repository(current)) {
        return false;
    }
    if current == reference {
        return true;
    }
    let (want, have) = (Version::of(reference), Version::of(current));
    let mut compared = false;
    for (want, have) in [(want.digest, have.digest), (want.tag, have.tag)] {
        if let (Some(want), Some(have)) = (want, have) {
            if want != have {
                return false;
            }
            compared = true;
        }
    }
    compared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_references() {
        let of = Version::of;
        assert_eq!(of("r.io/p/app:1.2.0").tag, Some("1.2.0"));
        assert_eq!(of("localhost:5001/app").tag, None);
        assert_eq!(of("localhost:5001/app:v1").tag, Some("v1"));
        let pinned = of("r.io/app:1@sha256:ab");
        assert_eq!((pinned.tag, pinned.digest), (Some("1"), Some("sha256:ab")));
        assert_eq!(of("r.io/app@sha256:ab").tag, None);
        assert_eq!(of("r.io/app:1@sha256:ab").to_string(), "1@sha256:ab");
        assert_eq!(of("app").to_string(), "(no tag)");
    }

    #[test]
    fn repositories_are_normalised_as_docker_does() {
        assert_eq!(repository("nginx:1"), "docker.io/library/nginx");
        assert_eq!(repository("acme/api@sha256:ab"), "docker.io/acme/api");
        assert_eq!(
            repository("index.docker.io/nginx"),
            "docker.io/library/nginx"
        );
        assert_eq!(repository("localhost:5001/app:v1"), "localhost:5001/app");
        assert_eq!(repository("r.io/team/api:1@sha256:ab\n"), "r.io/team/api");
    }

    #[test]
    fn the_environment_repository_keeps_the_path_below_the_built_registry() {
        let registries = ["dev.io/p".to_string()];
        let built = |reference, image_name| Built {
            reference,
            image_name,
            registries: &registries,
        };
        let at = |reference, image_name| {
            environment_repository(&built(reference, image_name), "prod.io/q")
        };
        assert_eq!(at("dev.io/p/api:1", None), "prod.io/q/api");
        assert_eq!(at("dev.io/p/team/api:1", Some("api")), "prod.io/q/team/api");
        assert_eq!(at("other.io/team/api:1", None), "prod.io/q/team/api");
        assert_eq!(
            at("other.io/p/team/api:1", Some("team/api")),
            "prod.io/q/team/api"
        );
        assert_eq!(at("other.io/p/api:1", Some("api")), "prod.io/q/api");
        assert_eq!(at("other.io/p/xapi:1", Some("api")), "prod.io/q/p/xapi");
        assert_eq!(at("api:1", None), "prod.io/q/api");
        assert_eq!(
            candidates(&built("dev.io/p/api:1", None), "prod.io/q"),
            ["prod.io/q/api", "dev.io/p/api"]
        );
        assert_eq!(
            candidates(&built("api:1", None), "dev.io/p"),
            ["dev.io/p/api"]
        );
    }

    #[test]
    fn image_matching_compares_repository_tag_and_digest() {
        let registries = ["dev.io/p".to_string()];
        let built = Built {
            reference: "dev.io/p/api:1.2.0",
            image_name: Some("api"),
            registries: &registries,
        };
        let repos = candidates(&built, "prod.io/p");
        assert!(matches(
            "dev.io/p/api:1.2.0\n",
            "dev.io/p/api:1.2.0",
            &repos
        ));
        assert!(matches("prod.io/p/api:1.2.0", "dev.io/p/api:1.2.0", &repos));
        // The same tag in another repository, or a sidecar's image, is not the build.
        assert!(!matches(
            "prod.io/p/web:1.2.0",
            "dev.io/p/api:1.2.0",
            &repos
        ));
        assert!(!matches(
            "other.io/p/api:1.2.0",
            "dev.io/p/api:1.2.0",
            &repos
        ));
        assert!(!matches("envoy:1.2.0", "dev.io/p/api:1.2.0", &repos));
        assert!(!matches(
            "prod.io/p/api:1.2.01",
            "dev.io/p/api:1.2.0",
            &repos
        ));
        assert!(!matches(
            "prod.io/p/api:1.2.0-rc1",
            "dev.io/p/api:1.2.0",
            &repos
        ));
        assert!(!matches("prod.io/p/api", "dev.io/p/api:1.2.0", &repos));
        assert!(!matches("", "dev.io/p/api:1.2.0", &repos));
        // Digest-pinned builds: the digest decides; a tag-only deployment is compared by tag.
        let pinned = "dev.io/p/api:1.2.0@sha256:abc";
        assert!(matches("prod.io/p/api:1.2.0@sha256:abc", pinned, &repos));
        assert!(matches("prod.io/p/api@sha256:abc", pinned, &repos));
        assert!(matches("prod.io/p/api:1.2.0", pinned, &repos));
        assert!(!matches("prod.io/p/api:1.2.0@sha256:def", pinned, &repos));
        assert!(!matches("prod.io/p/api@sha256:def", pinned, &repos));
        assert!(!matches("prod.io/p/api:1.1.0@sha256:abc", pinned, &repos));
        // A digest-only deployment and a tag-only build have nothing to compare.
        assert!(!matches(
            "prod.io/p/api@sha256:abc",
            "dev.io/p/api:1.2.0",
            &repos
        ));
        let local = Built {
            reference: "localhost:5001/app",
            image_name: None,
            registries: &[],
        };
        let local = candidates(&local, "localhost:5001");
        assert!(matches("localhost:5001/app", "localhost:5001/app", &local));
    }
}
