//! promote-image and push --push-all against two REAL registries (Debian's `docker-registry`,
//! one plain HTTP and one with TLS, both on 127.0.0.1), an image pushed there by the real
//! `skopeo`: the destination's digest, read back with skopeo, equals the source's. The pinned
//! crane is the fixture [`CRANE_VIA_SKOPEO`] (crane's copy and digest done with skopeo), so the
//! references and digests `op` passes meet a real registry. Skipped, saying so, without
//! `docker-registry` or `skopeo`.

use crate::pipeline_bed::Pipeline;
use crate::support::registry::{self, CRANE_VIA_SKOPEO, Image, Registry};

/// The test bed with the skopeo-backed crane, told which registry is plain HTTP and whom to
/// trust for the TLS one.
fn bed(http: &Registry, tls: &Registry, skaffold: &str) -> Pipeline {
    let mut pipeline =
        Pipeline::with_pinned(&[("crane", CRANE_VIA_SKOPEO), ("skaffold", skaffold)]);
    let cert_dir = tls.cert_dir.as_ref().expect("a TLS registry");
    pipeline
        .set("FIXTURE_HTTP_REGISTRY", &http.host)
        .set("FIXTURE_CERT_DIR", cert_dir.to_str().unwrap());
    pipeline
}

#[test]
fn promote_image_copies_by_digest_between_real_registries() {
    if registry::skipped() {
        return;
    }
    let (dev, pp) = (Registry::http(), Registry::https());
    let image = Image::new("promoted image");
    let built = dev.push(&image, "team/api:1.0.0");
    assert_eq!(dev.digest(&built), image.digest, "skopeo kept the digest");
    let mut pipeline = bed(&dev, &pp, "");
    pipeline.write(
        "build_result.json",
        &format!("{{\"builds\":[{{\"imageName\":\"team/api\",\"tag\":\"{built}\"}}]}}"),
    );
    pipeline
        .set("GOOGLE_GKE_IMAGE_REPOSITORY", &dev.host)
        .set("GOOGLE_GKE_IMAGE_PP_REPOSITORY", &format!("{}/pp", pp.host))
        .set(
            "GOOGLE_GKE_IMAGE_PROD_REPOSITORY",
            &format!("{}/prod", dev.host),
        );

    let promoted = format!("{}/pp/team/api:1.0.0", pp.host);
    pipeline
        .env
        .op(&["promote-image", "--source", "dev", "--destination", "pp"])
        .success()
        .stderr_has(&format!("verified {promoted} at {}", image.digest));
    assert_eq!(pp.digest(&promoted), image.digest, "dev → pp (HTTP → TLS)");

    // The dev tag now names another image: pp → prod must copy pp's, as --source says.
    let newer = Image::new("a newer build");
    dev.push(&newer, "team/api:1.0.0");
    assert_ne!(newer.digest, image.digest);
    pipeline
        .env
        .op(&["promote-image", "--source", "pp", "--destination", "prod"])
        .success();
    let prod = format!("{}/prod/team/api:1.0.0", dev.host);
    assert_eq!(
        dev.digest(&prod),
        image.digest,
        "pp → prod (TLS → HTTP) from pp's registry, the nested path kept"
    );
}

/// skaffold "pushes" (the image is already in the registry, pushed by skopeo) and reports a
/// bare `api:1.0.0` in its --file-output.
const SKAFFOLD_BARE: &str = r#"
out=""; prev=""
for a in "$@"; do [ "$prev" = "--file-output" ] && out="$a"; prev="$a"; done
printf '{"builds":[{"imageName":"api","tag":"api:1.0.0"}]}' > "$out"
"#;

#[test]
fn push_all_copies_to_every_real_registry_by_digest() {
    if registry::skipped() {
        return;
    }
    let (first, second) = (Registry::http(), Registry::https());
    let image = Image::new("pushed image");
    first.push(&image, "api:1.0.0");
    let mut pipeline = bed(&first, &second, SKAFFOLD_BARE);
    pipeline.write(
        ".registry",
        &format!("ci:\n  - {}\n  - {}/mirror\n", first.host, second.host),
    );
    pipeline.set("GITHUB_ACTIONS", "true");
    let copy = format!("{}/mirror/api:1.0.0", second.host);
    pipeline
        .env
        .op(&["push", "--push-all"])
        .success()
        .stderr_has(&format!("verified {copy} at {}", image.digest));
    assert_eq!(second.digest(&copy), image.digest);
    let recorded: serde_json::Value =
        serde_json::from_str(&crate::pipeline_tools::read(&pipeline, "build_result.json")).unwrap();
    assert_eq!(
        recorded["builds"][0]["tag"],
        format!("{}/api:1.0.0", first.host),
        "the bare reference is in the registry pushed to"
    );
}
