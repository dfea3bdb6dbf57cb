//! Two independent digest channels (a GitHub release's API `digest` and the `.sha256` beside
//! the asset; two copies of a sidecar on different hosts), `lock check --upstream` going on past
//! an unreachable source, and the GitHub token: sent to GitHub hosts over HTTPS, and only there.

use std::collections::BTreeMap;

use crate::lock_lifecycle::{BASE, KEYS, Upstream, setup, update};
use crate::support::tls::Tls;
use crate::support::{Reply, Route, Server, TestEnv, sha256_hex};

const API: &str = "/api.github.com/repos/acme/fixture/releases/tags/v2.0.0";

/// The release JSON of the GitHub API: `(name, digest)` per asset, `None` for `"digest": null`.
fn release_json(assets: &[(String, Option<String>)]) -> String {
    let assets: Vec<serde_json::Value> = assets
        .iter()
        .map(|(name, digest)| {
            serde_json::json!({
                "name": name,
                "size": 1,
                "digest": digest.as_ref().map(|hex| format!("sha256:{hex}")),
                "browser_download_url": format!("https://github.com/acme/fixture/releases/download/v2.0.0/{name}"),
            })
        })
        .collect();
    serde_json::json!({ "tag_name": "v2.0.0", "assets": assets }).to_string()
}

/// `setup()` with fixture's digests read from the release API and from each asset's `.sha256`,
/// both served in agreement; returns the (name, digest) of every fixture asset as well.
fn two_channels() -> (TestEnv, Upstream, std::path::PathBuf, Vec<(String, String)>) {
    let (env, up, lock) = setup();
    let text = std::fs::read_to_string(&lock).unwrap().replace(
        "checksums = \"https://github.com/acme/fixture/releases/download/v{version}/checksums.txt\"",
        "checksums = [\"{url}.sha256\", \"github-api:https://api.github.com/repos/acme/fixture/releases/tags/v{version}\"]",
    );
    std::fs::write(&lock, text).unwrap();
    let mut assets = Vec::new();
    for (path, body) in up
        .artifacts
        .iter()
        .filter(|(path, _)| path.starts_with(BASE))
    {
        let name = path.rsplit('/').next().unwrap().to_string();
        let digest = sha256_hex(body);
        up.server.route(
            &format!("{path}.sha256"),
            Route::new(format!("{digest}  {name}\n")),
        );
        assets.push((name, digest));
    }
    let mut listed: Vec<(String, Option<String>)> = assets
        .iter()
        .map(|(name, digest)| (name.clone(), Some(digest.clone())))
        .collect();
    listed.push(("fixture_2.0.0_checksums.txt".into(), None));
    up.server.route(API, Route::new(release_json(&listed)));
    (env, up, lock, assets)
}

#[test]
fn a_github_release_digest_and_the_sidecar_must_agree() {
    let (env, up, lock, assets) = two_channels();
    update(&env, &[]).success();
    let text = std::fs::read_to_string(&lock).unwrap();
    for (_, digest) in &assets {
        assert!(text.contains(digest), "{digest} not pinned:\n{text}");
    }
    assert_eq!(
        up.server.gets(API),
        1,
        "the release is read once for 5 platforms"
    );
    for (name, _) in &assets {
        let sidecar = format!("{BASE}/v2.0.0/{name}.sha256");
        assert_eq!(up.server.gets(&sidecar), 1, "{sidecar}");
    }
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .success()
        .stdout_has("tool: fixture 2.0.0: ok, 5 platforms match");

    // Each way one channel can fail is refused, and the lock stays as it was.
    let listed = |edit: &dyn Fn(&str, &str) -> Option<Option<String>>| -> String {
        let assets: Vec<(String, Option<String>)> = assets
            .iter()
            .filter_map(|(name, digest)| edit(name, digest).map(|digest| (name.clone(), digest)))
            .collect();
        release_json(&assets)
    };
    let other = sha256_hex(b"another build");
    let windows = "fixture_2.0.0_windows_amd64.zip";
    let sidecar = format!("{BASE}/v2.0.0/fixture_2.0.0_linux_arm64.tar.gz.sha256");
    let cases: Vec<(&str, &str, Route, i32, String)> = vec![
        (
            "the API digest differs",
            API,
            Route::new(listed(&|name, digest| {
                Some(Some(if name.contains("darwin_amd64") {
                    other.clone()
                } else {
                    digest.to_string()
                }))
            })),
            3,
            "the checksum sources disagree about fixture_2.0.0_darwin_amd64.tar.gz".into(),
        ),
        (
            "the release lacks the asset",
            API,
            Route::new(listed(&|name, digest| {
                (name != windows).then(|| Some(digest.to_string()))
            })),
            3,
            format!("has no entry for {windows}"),
        ),
        (
            "the release has no digest for the asset",
            API,
            Route::new(listed(&|name, digest| {
                Some((name != windows).then(|| digest.to_string()))
            })),
            3,
            format!("lists {windows} but GitHub records no sha256 digest"),
        ),
        (
            "the API answers something else",
            API,
            Route::new(r#"{"message":"Not Found"}"#),
            3,
            "not a GitHub release".into(),
        ),
        (
            "the release is not found",
            API,
            Route::new(Vec::new()).then(Reply::Status(404)),
            4,
            "404".into(),
        ),
        (
            "a sidecar is not published",
            &sidecar,
            Route::new(Vec::new()).then(Reply::Status(404)),
            4,
            "fixture_2.0.0_linux_arm64.tar.gz.sha256".into(),
        ),
    ];
    for (name, path, route, code, message) in cases {
        let (env, up, lock, _) = two_channels();
        up.server.route(path, route);
        let before = std::fs::read(&lock).unwrap();
        let run = update(&env, &[]);
        run.code(code).stderr_has(&message);
        assert_eq!(
            std::fs::read(&lock).unwrap(),
            before,
            "{name}: the lock changed"
        );
        assert_eq!(
            std::fs::read_to_string(env.work().join("DEPENDENCIES.md")).unwrap(),
            "stale\n",
            "{name}"
        );
    }
}

/// Every file the built-in lock's `checksums` name, as a mirror of upstream holds them, with
/// the built-in digests: `{mirror path: body}`; a GitHub release becomes its API JSON.
fn builtin_upstream() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/toolchain.lock")).unwrap();
    let lock: toml::Table = toml::from_str(&text).unwrap();
    let mut lines: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for tool in lock["tools"].as_table().unwrap().values() {
        let version = tool["version"].as_str().unwrap();
        let patterns: Vec<&str> = match &tool["checksums"] {
            toml::Value::String(one) => vec![one.as_str()],
            toml::Value::Array(list) => list.iter().map(|value| value.as_str().unwrap()).collect(),
            other => panic!("checksums: {other:?}"),
        };
        for platform in tool["platforms"].as_table().unwrap().values() {
            let url = platform["url"].as_str().unwrap();
            let asset = url.rsplit('/').next().unwrap();
            let sha256 = platform["sha256"].as_str().unwrap();
            for pattern in &patterns {
                let source = pattern
                    .replace("{url}", url)
                    .replace("{asset}", asset)
                    .replace("{version}", version);
                lines
                    .entry(source)
                    .or_default()
                    .push((asset.to_string(), sha256.to_string()));
            }
        }
    }
    lines
        .into_iter()
        .map(|(source, entries)| {
            let (body, url) = match source.strip_prefix("github-api:") {
                Some(url) => {
                    let assets: Vec<(String, Option<String>)> = entries
                        .into_iter()
                        .map(|(name, digest)| (name, Some(digest)))
                        .collect();
                    (release_json(&assets), url.to_string())
                }
                None => (
                    entries
                        .iter()
                        .map(|(name, digest)| format!("{digest}  {name}\n"))
                        .collect(),
                    source,
                ),
            };
            (format!("/{}", url.strip_prefix("https://").unwrap()), body)
        })
        .collect()
}

#[test]
fn the_builtin_pack_and_skaffold_pins_are_checked_over_two_channels() {
    let files = builtin_upstream();
    let server = Server::http();
    for (path, body) in &files {
        server.route(path, Route::new(body.clone()));
    }
    let mut env = TestEnv::new();
    env.mirror(server.url());
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .success()
        .stderr_has("25 artifacts match");
    let pack = "/api.github.com/repos/buildpacks/pack/releases/tags/v0.40.0";
    assert_eq!(server.gets(pack), 1, "{:?}", files.keys());
    for key in KEYS {
        let exe = if key.starts_with("windows") {
            ".exe"
        } else {
            ""
        };
        for copy in [
            "/storage.googleapis.com/skaffold/releases/v2.14.0",
            "/github.com/GoogleContainerTools/skaffold/releases/download/v2.14.0",
        ] {
            let sidecar = format!("{copy}/skaffold-{key}{exe}.sha256");
            assert_eq!(server.gets(&sidecar), 1, "{sidecar}");
        }
    }

    // GitHub's copy of one skaffold sidecar says otherwise: the pins are not confirmed.
    let github = "/github.com/GoogleContainerTools/skaffold/releases/download/v2.14.0/skaffold-linux-arm64.sha256";
    server.route(
        github,
        Route::new(format!("{}  skaffold-linux-arm64\n", sha256_hex(b"other"))),
    );
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .code(3)
        .stdout_has("changed: skaffold 2.14.0 (linux-arm64)")
        .stdout_has(&github[1..])
        .stdout_has("tool: skaffold 2.14.0: 4 match, 1 changed")
        .stdout_has("tool: pack 0.40.0: ok, 5 platforms match");

    // One channel of pack is down and the other shows a re-upload: the re-upload is not hidden.
    server.route(pack, Route::new(Vec::new()).then(Reply::Status(404)));
    let sidecar =
        "/github.com/buildpacks/pack/releases/download/v0.40.0/pack-v0.40.0-macos.tgz.sha256";
    server.route(
        sidecar,
        Route::new(format!(
            "{}  pack-v0.40.0-macos.tgz\n",
            sha256_hex(b"re-uploaded")
        )),
    );
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .code(3)
        .stdout_has("changed: pack 0.40.0 (darwin-amd64)")
        .stdout_has("unreachable: pack 0.40.0 (darwin-amd64)")
        .stdout_has("tool: pack 0.40.0: 0 match, 1 changed, 5 with a source unreachable")
        .stdout_has("changed: skaffold 2.14.0 (linux-arm64)");
    assert!(
        files.contains_key(sidecar),
        "{sidecar} is not a pack source"
    );
}

#[test]
fn check_upstream_reports_every_tool_past_an_unreachable_source() {
    let (env, up, _lock) = setup();
    update(&env, &[]).success();
    // fixture's checksums.txt is gone, and rawfix re-uploaded one asset.
    up.server.route(
        &Upstream::sums_path(),
        Route::new(Vec::new()).then(Reply::Status(404)),
    );
    let sidecar = "/dl.example.com/rawfix/v2.0.0/rawfix-darwin-arm64.sha256";
    let original = up.server.requests().len();
    up.server.route(
        sidecar,
        Route::new(format!("{}\n", sha256_hex(b"re-uploaded"))),
    );
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .code(3)
        .stdout_has("unreachable: fixture 2.0.0 (linux-amd64)")
        .stdout_has("tool: fixture 2.0.0: 0 match, 5 with a source unreachable")
        .stdout_has("changed: rawfix 2.0.0 (darwin-arm64)")
        .stdout_has("tool: rawfix 2.0.0: 4 match, 1 changed")
        .stderr_has("1 asset no longer matches")
        .stderr_has("5 assets could not be fully checked");
    let sums = up
        .server
        .requests()
        .iter()
        .skip(original)
        .filter(|request| request.target == Upstream::sums_path())
        .count();
    assert_eq!(sums, 1, "a dead source is read once, not once per platform");

    // With only the unreachable source left, the check is a download failure, not a pass.
    let raw = up
        .artifacts
        .iter()
        .find(|(path, _)| sidecar.starts_with(path.as_str()))
        .unwrap();
    up.server
        .route(sidecar, Route::new(format!("{}\n", sha256_hex(&raw.1))));
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .code(4)
        .stdout_has("tool: rawfix 2.0.0: ok, 5 platforms match")
        .stdout_has("unreachable: fixture 2.0.0 (windows-amd64)")
        .stderr_has("5 assets could not be fully checked");
}

/// A lock of one raw tool per URL (the same artifact on every platform), each with a
/// `{url}.sha256` sidecar.
fn raw_lock(urls: &[(&str, &str)], body: &[u8]) -> String {
    let mut text = String::from("schema = 1\n");
    for (name, url) in urls {
        text.push_str(&format!(
            "\n[tools.{name}]\nversion = \"1.0.0\"\nchecksums = \"{{url}}.sha256\"\n"
        ));
        for key in KEYS {
            text.push_str(&format!(
                "\n[tools.{name}.platforms.{key}]\nurl = \"{url}\"\nsha256 = \"{}\"\narchive = \"raw\"\n",
                sha256_hex(body)
            ));
        }
    }
    text
}

const OP_TOKEN: &str = "op-token-7f3a9c";
const GH_TOKEN: &str = "gh-token-52be1d";

/// Requests (CONNECTs aside) whose `Host` is `host`, with the `Authorization` each carried.
fn authorizations(server: &Server, host: &str) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .filter(|request| request.method != "CONNECT" && request.header("host") == Some(host))
        .map(|request| request.header("authorization").map(str::to_string))
        .collect()
}

#[test]
fn github_hosts_get_the_token_over_https_and_no_other_host_does() {
    let tls = Tls::throwaway();
    let server = Server::https_behind_proxy(&tls);
    let body = b"#!/bin/sh\nexit 0\n".to_vec();
    let lock = raw_lock(
        &[
            (
                "ghtool",
                "https://github.com/acme/ghtool/releases/download/v1.0.0/ghtool",
            ),
            ("other", "https://mirror.invalid/other/v1.0.0/other"),
        ],
        &body,
    );
    for path in [
        "/acme/ghtool/releases/download/v1.0.0/ghtool",
        "/other/v1.0.0/other",
    ] {
        server.route(path, Route::new(body.clone()));
        server.route(
            &format!("{path}.sha256"),
            Route::new(format!("{}\n", sha256_hex(&body))),
        );
    }
    let mut env = TestEnv::new();
    let ca = env.root().join("fixture-ca.pem");
    tls.write_ca(&ca);
    env.write_file("work/toolchain.lock", &lock);
    env.set("HTTPS_PROXY", server.proxy_url())
        .set("SSL_CERT_FILE", ca.to_str().unwrap())
        .set("OP_TOOLCHAIN_PLATFORM", "linux-amd64")
        .set("GITHUB_TOKEN", GH_TOKEN)
        .set("OP_GITHUB_TOKEN", OP_TOKEN);

    let check = env.op(&["toolchain", "lock", "check", "--upstream"]);
    check.success();
    let install = env.op(&["toolchain", "install"]);
    install.success();
    let github = authorizations(&server, "github.com");
    assert_eq!(github.len(), 2, "{:?}", server.requests());
    for sent in &github {
        assert_eq!(sent.as_deref(), Some(format!("Bearer {OP_TOKEN}").as_str()));
    }
    let elsewhere = authorizations(&server, "mirror.invalid");
    assert_eq!(elsewhere, [None, None], "{:?}", server.requests());
    for run in [&check, &install] {
        run.stderr_lacks(OP_TOKEN).stderr_lacks(GH_TOKEN);
    }

    // Without OP_GITHUB_TOKEN, GITHUB_TOKEN is the token.
    env.unset("OP_GITHUB_TOKEN");
    let before = github.len();
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .success();
    let github = authorizations(&server, "github.com");
    assert_eq!(github.len(), before + 1);
    assert_eq!(
        github[before].as_deref(),
        Some(format!("Bearer {GH_TOKEN}").as_str())
    );
}

#[test]
fn the_token_follows_the_mirror_host_not_the_lock_url() {
    // GitHub URLs in the lock, fetched from a mirror that is not GitHub: no token.
    let (mut env, up, _lock) = setup();
    env.set("GITHUB_TOKEN", GH_TOKEN);
    update(&env, &[]).success();
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .success();
    assert!(up.server.request_count() > 0);
    for request in up.server.requests() {
        assert_eq!(request.header("authorization"), None, "{request:?}");
    }

    // A mirror on a GitHub host gets it, over HTTPS; in clear text it does not.
    let body = b"raw tool".to_vec();
    let lock = raw_lock(
        &[("dltool", "https://dl.example.com/dltool/v1.0.0/dltool")],
        &body,
    );
    let sidecar = "/op-mirror/dl.example.com/dltool/v1.0.0/dltool.sha256";
    let sums = Route::new(format!("{}\n", sha256_hex(&body)));
    let tls = Tls::throwaway();
    let https = Server::https_behind_proxy(&tls);
    https.route(sidecar, sums.clone());
    let plain = Server::http();
    plain.route(&format!("http://github.com{sidecar}"), sums);
    let mut env = TestEnv::new();
    let ca = env.root().join("fixture-ca.pem");
    tls.write_ca(&ca);
    env.write_file("work/toolchain.lock", &lock);
    env.set("HTTPS_PROXY", https.proxy_url())
        .set("HTTP_PROXY", plain.url())
        .set("SSL_CERT_FILE", ca.to_str().unwrap())
        .set("GITHUB_TOKEN", GH_TOKEN)
        .mirror("https://github.com/op-mirror");
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .success();
    assert_eq!(
        authorizations(&https, "github.com"),
        [Some(format!("Bearer {GH_TOKEN}"))]
    );
    env.mirror("http://github.com/op-mirror");
    env.op(&["toolchain", "lock", "check", "--upstream"])
        .success();
    assert_eq!(
        authorizations(&plain, "github.com"),
        [None],
        "{:?}",
        plain.requests()
    );
}
