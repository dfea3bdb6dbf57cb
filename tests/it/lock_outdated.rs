//! `op toolchain outdated` and `lock update TOOL@latest|--all` against loopback release listings:
//! the GitHub releases API (paginated by `Link`, drafts and pre-releases), a Cloud Storage object
//! listing (paginated by `nextPageToken`), plain-text `stable.txt` files dated by
//! `Last-Modified`; the minimum release age, downgrades, and rate-limit answers.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::lock_lifecycle::{Upstream, setup};
use crate::support::tls::Tls;
use crate::support::{Reply, Route, Server, TestEnv, sha256_hex};

const PAGE1: &str = "/api.github.com/repos/acme/fixture/releases?per_page=100";
const PAGE2: &str = "/api.github.com/repositories/42/releases?per_page=100&page=2";
const STABLE: &str = "/dl.example.com/rawfix/stable.txt";
const STABLE_MINOR: &str = "/dl.example.com/rawfix/stable-1.0.txt";
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// (year, month, day) of a day count since 1970-01-01.
fn civil(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// `2026-11-30T10:00:00Z`, `ago` seconds before now.
fn rfc3339(ago: i64) -> String {
    let at = now() - ago;
    let (year, month, day) = civil(at.div_euclid(DAY));
    let second = at.rem_euclid(DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second / 3600,
        second % 3600 / 60,
        second % 60
    )
}

/// `Mon, 30 Nov 2026 10:00:00 GMT`, `ago` seconds before now.
fn http_date(ago: i64) -> String {
    let at = now() - ago;
    let (year, month, day) = civil(at.div_euclid(DAY));
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        [at.div_euclid(DAY).rem_euclid(7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let second = at.rem_euclid(DAY);
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        months[month as usize - 1],
        second / 3600,
        second % 3600 / 60,
        second % 60
    )
}

/// A GitHub releases API page: (tag, age in seconds, prerelease, draft) per release.
fn releases_json(releases: &[(&str, i64, bool, bool)]) -> String {
    let list: Vec<serde_json::Value> = releases
        .iter()
        .map(|(tag, ago, prerelease, draft)| {
            serde_json::json!({
                "tag_name": tag,
                "name": tag,
                "draft": draft,
                "prerelease": prerelease,
                "published_at": if *draft { serde_json::Value::Null } else { rfc3339(*ago).into() },
                "assets": [],
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// `setup()` with `releases` in both templates: fixture on the GitHub API, rawfix in
/// `stable.txt` files; the listings say 2.0.0 (3 days old) is the newest of both.
fn listed() -> (TestEnv, Upstream, std::path::PathBuf) {
    let (env, up, lock) = setup();
    let text = std::fs::read_to_string(&lock)
        .unwrap()
        .replace(
            "bin = \"fixture{exe}\"\n",
            "bin = \"fixture{exe}\"\nreleases = \"github:acme/fixture\"\n",
        )
        .replace(
            "url = \"https://dl.example.com/rawfix/v{version}/rawfix-{os}-{arch}{exe}\"\narchive = \"raw\"\n",
            "url = \"https://dl.example.com/rawfix/v{version}/rawfix-{os}-{arch}{exe}\"\narchive = \"raw\"\n\
             releases = [\"https://dl.example.com/rawfix/stable.txt\", \"https://dl.example.com/rawfix/stable-{major}.{minor}.txt\"]\n",
        );
    std::fs::write(&lock, text).unwrap();
    up.server.route(
        PAGE1,
        Route::new(releases_json(&[
            ("v3.0.0-rc.1", 5 * DAY, true, false),
            ("v9.9.9", 0, false, true),
            ("v2.0.0", 3 * DAY, false, false),
            ("not-a-version", DAY, false, false),
        ]))
        .header(
            "Link",
            "<https://api.github.com/repositories/42/releases?per_page=100&page=2>; rel=\"next\", \
             <https://api.github.com/repositories/42/releases?per_page=100&page=2>; rel=\"last\"",
        ),
    );
    up.server.route(
        PAGE2,
        Route::new(releases_json(&[
            ("v1.0.1", 2 * DAY, false, false),
            ("v1.0.0", 30 * DAY, false, false),
        ]))
        .header(
            "Link",
            "<https://api.github.com/repositories/42/releases?per_page=100&page=1>; rel=\"prev\"",
        ),
    );
    up.server.route(
        STABLE,
        Route::new("v2.0.0\n").header("Last-Modified", &http_date(3 * DAY)),
    );
    up.server.route(
        STABLE_MINOR,
        Route::new("v1.0.3\n").header("Last-Modified", &http_date(10 * DAY)),
    );
    up.server.route(
        "/dl.example.com/rawfix/stable-2.0.txt",
        Route::new("v2.0.0\n").header("Last-Modified", &http_date(3 * DAY)),
    );
    (env, up, lock)
}

fn row<'a>(rows: &'a serde_json::Value, tool: &str) -> &'a serde_json::Value {
    assert_eq!(rows["schema"], 1, "{rows}");
    rows["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["tool"] == tool)
        .unwrap_or_else(|| panic!("no row for {tool}: {rows}"))
}

#[test]
fn outdated_reads_every_page_and_every_listing_and_exits_100() {
    let (env, up, _lock) = listed();
    let run = env.op(&["toolchain", "outdated", "--json"]);
    run.code(100)
        .stderr_has("2 tools have a newer release: fixture 1.0.0 -> 2.0.0, rawfix 1.0.0 -> 2.0.0");
    let rows = run.json();
    let fixture = row(&rows, "fixture");
    assert_eq!(fixture["pinned"], "1.0.0");
    assert_eq!(
        fixture["latest"]["version"], "2.0.0",
        "pre-release and draft skipped"
    );
    assert_eq!(fixture["latest"]["tag"], "v2.0.0");
    assert_eq!(fixture["latest"]["old_enough"], true);
    let age = fixture["latest"]["age_seconds"].as_i64().unwrap();
    assert!((3 * DAY - 60..=3 * DAY + 60).contains(&age), "{age}");
    assert_eq!(fixture["latest_patch"]["version"], "1.0.1", "from page 2");
    assert_eq!(fixture["candidate"], "2.0.0");
    assert_eq!(fixture["outdated"], true);
    let rawfix = row(&rows, "rawfix");
    assert_eq!(rawfix["latest"]["version"], "2.0.0");
    assert_eq!(rawfix["latest_patch"]["version"], "1.0.3", "stable-1.0.txt");
    assert!(
        rawfix["latest_patch"]["published"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(up.server.gets(PAGE1), 1);
    assert_eq!(up.server.gets(PAGE2), 1, "the Link header's next page");
    assert_eq!(up.server.gets(STABLE_MINOR), 1);

    // A page link that is not HTTP(S) is not followed.
    up.server.route(
        PAGE1,
        Route::new(releases_json(&[("v2.0.0", 3 * DAY, false, false)]))
            .header("Link", "<file:///etc/passwd>; rel=\"next\""),
    );
    let run = env.op(&["toolchain", "outdated", "--json", "fixture"]);
    run.code(100);
    assert_eq!(
        row(&run.json(), "fixture")["latest_patch"],
        serde_json::Value::Null
    );
    up.server.route(
        PAGE1,
        Route::new(releases_json(&[
            ("v3.0.0-rc.1", 5 * DAY, true, false),
            ("v2.0.0", 3 * DAY, false, false),
        ])),
    );

    // --pre counts the release candidate; the table names both.
    env.op(&["toolchain", "outdated", "--pre", "fixture"])
        .code(100)
        .stdout_has("TOOL")
        .stdout_has("3.0.0-rc.1 (5d old)")
        .stdout_has("outdated: latest pins 3.0.0-rc.1");
}

#[test]
fn a_release_younger_than_the_minimum_age_does_not_count() {
    let (env, up, lock) = listed();
    up.server.route(
        PAGE1,
        Route::new(releases_json(&[
            ("v2.0.0", 2 * HOUR, false, false),
            ("v1.0.0", 30 * DAY, false, false),
        ])),
    );
    let before = std::fs::read_to_string(&lock).unwrap();
    env.op(&["toolchain", "outdated", "fixture"])
        .success()
        .stdout_has("2.0.0 (2h old, under --min-age 24h)")
        .stdout_has("current")
        .stderr_has("every pin is current");
    env.op(&["toolchain", "outdated", "fixture", "--min-age", "1h"])
        .code(100);
    env.op(&["toolchain", "lock", "update", "fixture@latest"])
        .success()
        .stderr_has("fixture: 1.0.0 is already the newest release at least --min-age 24h old");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        before,
        "lock untouched"
    );
    up.server.route(
        PAGE1,
        Route::new(releases_json(&[("v2.0.0", 2 * HOUR, false, false)])),
    );
    env.op(&["toolchain", "lock", "update", "fixture@latest"])
        .code(2)
        .stderr_has("no release is at least --min-age 24h old (newest: 2.0.0 (2h old");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        before,
        "lock untouched"
    );
    env.op(&["toolchain", "outdated", "fixture", "--min-age", "soon"])
        .code(2)
        .stderr_has("--min-age");

    // A shorter minimum age takes it, and pins it exactly as TOOL@2.0.0 would.
    env.op(&[
        "toolchain",
        "lock",
        "update",
        "fixture@latest",
        "--min-age",
        "90m",
    ])
    .success()
    .stderr_has("fixture: latest is 2.0.0 (2h old)")
    .stderr_has("fixture 1.0.0 -> 2.0.0: 5 platforms");
    let text = std::fs::read_to_string(&lock).unwrap();
    for (path, body) in up
        .artifacts
        .iter()
        .filter(|(path, _)| path.contains("fixture_"))
    {
        assert!(text.contains(&format!("url = \"https:/{path}\"")), "{path}");
        assert!(text.contains(&sha256_hex(body)));
    }
}

#[test]
fn update_all_pins_every_tool_at_its_latest_then_outdated_is_quiet() {
    let (env, up, lock) = listed();
    env.op(&["toolchain", "lock", "update", "--all"])
        .success()
        .stderr_has("fixture 1.0.0 -> 2.0.0")
        .stderr_has("rawfix 1.0.0 -> 2.0.0")
        .stderr_has("and DEPENDENCIES.md");
    let text = std::fs::read_to_string(&lock).unwrap();
    for (path, body) in &up.artifacts {
        assert!(text.contains(&sha256_hex(body)), "{path} not pinned");
    }
    assert!(text.contains("releases = \"github:acme/fixture\""), "kept");
    env.op(&["toolchain", "outdated"])
        .success()
        .stderr_has("2 tools checked: every pin is current");
    // Nothing newer: --all changes nothing.
    env.op(&["toolchain", "lock", "update", "--all"]).success();
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), text);
    env.op(&["toolchain", "lock", "update", "--all", "fixture@2.0.0"])
        .code(2);
}

#[test]
fn a_downgrade_is_refused_unless_allowed() {
    let (env, up, lock) = listed();
    let before = std::fs::read_to_string(&lock).unwrap();
    let requests = up.server.request_count();
    env.op(&["toolchain", "lock", "update", "fixture@0.9.0"])
        .code(2)
        .stderr_has("fixture: 0.9.0 is older than the pinned 1.0.0; refusing a downgrade")
        .stderr_has("--allow-downgrade");
    env.op(&["toolchain", "lock", "update", "fixture@v1.0.0-rc.1"])
        .code(2)
        .stderr_has("older than the pinned 1.0.0");
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), before);
    assert_eq!(
        up.server.request_count(),
        requests,
        "refused before any request"
    );
    // Allowed, it goes on to upstream (which has no 0.9.0 here).
    env.op(&[
        "toolchain",
        "lock",
        "update",
        "fixture@0.9.0",
        "--allow-downgrade",
    ])
    .code(4)
    .stderr_lacks("older than");
    // Versions compare as versions: 1.0.10 is newer than 1.0.9.
    env.op(&["toolchain", "lock", "update", "fixture@1.0.10"])
        .code(4)
        .stderr_lacks("older than");
}

#[test]
fn rate_limit_answers_say_when_to_retry_and_to_set_a_token() {
    let (env, up, lock) = listed();
    let before = std::fs::read_to_string(&lock).unwrap();
    let reset = now() + 1790;
    up.server.route(
        PAGE1,
        Route::new("{\"message\":\"API rate limit exceeded\"}")
            .script([Reply::Status(403)])
            .then(Reply::Status(403))
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string()),
    );
    env.op(&["toolchain", "outdated", "fixture"])
        .code(4)
        .stderr_has("answered HTTP 403 Forbidden: rate limit exceeded")
        .stderr_has("try again after 20")
        .stderr_has("(in 29m)")
        .stderr_has("set GITHUB_TOKEN (or OP_GITHUB_TOKEN)");
    assert_eq!(up.server.gets(PAGE1), 1, "not retried into the limit");
    env.op(&["toolchain", "lock", "update", "--all"]).code(4);
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), before);

    // 429 with a Retry-After longer than op waits: the same, at once.
    up.server.route(
        PAGE1,
        Route::new("slow down").then(Reply::TooMany { retry_after: 3600 }),
    );
    let gets = up.server.gets(PAGE1);
    env.op(&["toolchain", "outdated", "fixture"])
        .code(4)
        .stderr_has("429 Too Many Requests: rate limit exceeded")
        .stderr_has("(in 1h)");
    assert_eq!(up.server.gets(PAGE1), gets + 1);

    // A listing that cannot be read does not hide the others, and the exit is 4.
    let run = env.op(&["toolchain", "outdated", "--json"]);
    run.code(4).stderr_has("rate limit exceeded");
    assert_eq!(row(&run.json(), "rawfix")["latest"]["version"], "2.0.0");
}

#[test]
fn a_cloud_storage_listing_pages_by_token() {
    let (env, up, lock) = listed();
    let text = std::fs::read_to_string(&lock).unwrap().replace(
        "releases = [\"https://dl.example.com/rawfix/stable.txt\", \"https://dl.example.com/rawfix/stable-{major}.{minor}.txt\"]",
        "releases = \"gcs:rawfix-bucket/releases/v{version}/rawfix-linux-amd64\"",
    );
    std::fs::write(&lock, text).unwrap();
    let first = "/storage.googleapis.com/storage/v1/b/rawfix-bucket/o?matchGlob=releases%2Fv*%2Frawfix-linux-amd64";
    let item = |version: &str, ago: i64| {
        serde_json::json!({
            "name": format!("releases/v{version}/rawfix-linux-amd64"),
            "timeCreated": rfc3339(ago),
        })
    };
    up.server.route(
        first,
        Route::new(
            serde_json::json!({
                "items": [item("1.0.0", 40 * DAY), item("1.0.2", 20 * DAY), item("2.1.0-beta.1", DAY * 2)],
                "nextPageToken": "page two",
            })
            .to_string(),
        ),
    );
    let second = format!("{first}&pageToken=page+two");
    up.server.route(
        &second,
        Route::new(serde_json::json!({ "items": [item("2.0.0", 3 * DAY)] }).to_string()),
    );
    let run = env.op(&["toolchain", "outdated", "rawfix", "--json"]);
    run.code(100);
    let rows = run.json();
    let rawfix = row(&rows, "rawfix");
    assert_eq!(
        rawfix["latest"]["version"],
        "2.0.0",
        "{:?}",
        up.server.requests()
    );
    assert_eq!(rawfix["latest_patch"]["version"], "1.0.2");
    assert_eq!(up.server.gets(&second), 1);
}

#[test]
fn github_listings_carry_the_token_over_https_only_to_github() {
    let tls = Tls::throwaway();
    let server = Server::https_behind_proxy(&tls);
    server.route(
        "/repos/acme/ghtool/releases?per_page=100",
        Route::new(releases_json(&[("v1.0.0", 30 * DAY, false, false)])),
    );
    server.route(
        "/ghtool/stable.txt",
        Route::new("1.0.0\n").header("Last-Modified", &http_date(DAY * 9)),
    );
    let body = b"tool".to_vec();
    let mut lock = String::from("schema = 1\n");
    for (name, url, releases) in [
        (
            "ghtool",
            "https://github.com/acme/ghtool/releases/download/v{version}/ghtool",
            "github:acme/ghtool",
        ),
        (
            "other",
            "https://mirror.invalid/ghtool/v{version}/other",
            "https://mirror.invalid/ghtool/stable.txt",
        ),
    ] {
        lock.push_str(&format!(
            "\n[tools.{name}]\nversion = \"1.0.0\"\nchecksums = \"{{url}}.sha256\"\n\n[tools.{name}.template]\nurl = \"{url}\"\nreleases = \"{releases}\"\n\n[tools.{name}.template.platforms]\nlinux-amd64 = {{}}\n\n[tools.{name}.platforms.linux-amd64]\nurl = \"{}\"\nsha256 = \"{}\"\narchive = \"raw\"\n",
            url.replace("{version}", "1.0.0"),
            sha256_hex(&body)
        ));
    }
    let mut env = TestEnv::new();
    let ca = env.root().join("fixture-ca.pem");
    tls.write_ca(&ca);
    env.write_file("work/toolchain.lock", &lock);
    env.set("HTTPS_PROXY", server.proxy_url())
        .set("SSL_CERT_FILE", ca.to_str().unwrap())
        .set("GITHUB_TOKEN", "gh-token-for-listings");
    let run = env.op(&["toolchain", "outdated"]);
    run.success().stderr_lacks("gh-token-for-listings");
    let sent: Vec<(String, Option<String>)> = server
        .requests()
        .iter()
        .filter(|request| request.method == "GET")
        .map(|request| {
            (
                request.header("host").unwrap_or_default().to_string(),
                request.header("authorization").map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            (
                "api.github.com".to_string(),
                Some("Bearer gh-token-for-listings".to_string())
            ),
            ("mirror.invalid".to_string(), None),
        ]
    );
}
