//! A mirror that misbehaves in every way we know of. Each case must end in a verified install
//! within the retry budget or in the documented exit code within a bounded time, and never
//! leave a partial install.

use std::time::{Duration, Instant};

use crate::support::server::dead_url;
use crate::support::{Kind, Reply, Route, TestEnv};
use crate::{Big, Report, Rng, big_len, big_tool, check_cache, lock_of, secs, seed, staging_files};

/// No case may take longer than this (a hang guard, far above every expected time).
const HANG_GUARD: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Installed,
    Exit(i32),
}

/// Builds a case's route from the plain one, given the request path and the run's RNG.
type RouteFn = Box<dyn Fn(Route, &str, &mut Rng) -> Route>;

struct Case {
    name: &'static str,
    /// The artifact: the big one (`OP_TORTURE_MB`) or a 2 MB one for the slow cases.
    big: bool,
    route: RouteFn,
    /// Extra environment (the defaults below apply first).
    env: &'static [(&'static str, &'static str)],
    expect: Expect,
    /// Words the error must contain (when it fails).
    says: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "connection reset after K random bytes, once",
            big: true,
            route: Box::new(|route, _, rng| {
                let cut = 1 + rng.below(big_len() as u64 - 1) as usize;
                route.script([Reply::DropAfter(cut)])
            }),
            env: &[],
            expect: Expect::Installed,
            says: &[],
        },
        Case {
            name: "connection reset after K bytes, every time",
            big: true,
            route: Box::new(|route, _, rng| {
                let cut = 1 + rng.below(big_len() as u64 - 1) as usize;
                route.then(Reply::DropAfter(cut))
            }),
            env: &[],
            expect: Expect::Exit(4),
            says: &["connection lost", "after 4 attempt"],
        },
        Case {
            name: "stall after 64 KiB without FIN, once",
            big: false,
            route: Box::new(|route, _, _| {
                route.script([Reply::Drip {
                    chunk: 64 * 1024,
                    every: Duration::from_secs(3600),
                }])
            }),
            env: &[],
            expect: Expect::Installed,
            says: &[],
        },
        Case {
            name: "stall after 64 KiB without FIN, every time",
            big: false,
            route: Box::new(|route, _, _| {
                route.then(Reply::Drip {
                    chunk: 64 * 1024,
                    every: Duration::from_secs(3600),
                })
            }),
            env: &[],
            expect: Expect::Exit(4),
            says: &["timed out"],
        },
        Case {
            name: "burst 500, 503, 500, 503 then 200 (within OP_HTTP_RETRIES=4)",
            big: true,
            route: Box::new(|route, _, _| {
                route.script([
                    Reply::Status(500),
                    Reply::Status(503),
                    Reply::Status(500),
                    Reply::Status(503),
                ])
            }),
            env: &[("OP_HTTP_RETRIES", "4")],
            expect: Expect::Installed,
            says: &[],
        },
        Case {
            name: "503 forever",
            big: true,
            route: Box::new(|route, _, _| route.then(Reply::Status(503))),
            env: &[],
            expect: Expect::Exit(4),
            says: &["503", "after 4 attempt"],
        },
        Case {
            name: "429 with Retry-After: 1, twice",
            big: true,
            route: Box::new(|route, _, _| {
                route.script([
                    Reply::TooMany { retry_after: 1 },
                    Reply::TooMany { retry_after: 1 },
                ])
            }),
            env: &[],
            expect: Expect::Installed,
            says: &[],
        },
        Case {
            name: "429 without Retry-After, three times",
            big: true,
            route: Box::new(|route, _, _| {
                route.script([Reply::Status(429), Reply::Status(429), Reply::Status(429)])
            }),
            env: &[],
            expect: Expect::Installed,
            says: &[],
        },
        Case {
            name: "wrong bytes with the right length",
            big: true,
            route: Box::new(|route, _, _| route),
            env: &[],
            expect: Expect::Exit(3),
            says: &["sha256", "expected"],
        },
        Case {
            name: "truncated body under a full Content-Length, once",
            big: true,
            route: Box::new(|route, _, _| route.script([Reply::ShortBody { missing: 4096 }])),
            env: &[],
            expect: Expect::Installed,
            says: &[],
        },
        Case {
            name: "truncated body under a full Content-Length, every time",
            big: true,
            route: Box::new(|route, _, _| route.then(Reply::ShortBody { missing: 4096 })),
            env: &[],
            expect: Expect::Exit(4),
            says: &["after 4 attempt"],
        },
        Case {
            name: "redirect loop (302 to itself)",
            big: false,
            route: Box::new(|route, path, _| {
                route.then(Reply::Status(302)).header("Location", path)
            }),
            env: &[],
            expect: Expect::Exit(4),
            says: &["redirect"],
        },
        Case {
            name: "slow drip above the speed floor (64 KiB every 20 ms)",
            big: false,
            route: Box::new(|route, _, _| {
                route.then(Reply::Drip {
                    chunk: 64 * 1024,
                    every: Duration::from_millis(20),
                })
            }),
            env: &[("OP_HTTP_MIN_SPEED", "262144")],
            expect: Expect::Installed,
            says: &[],
        },
        Case {
            name: "slow drip under the speed floor (1 KiB every 100 ms)",
            big: false,
            route: Box::new(|route, _, _| {
                route.then(Reply::Drip {
                    chunk: 1024,
                    every: Duration::from_millis(100),
                })
            }),
            env: &[("OP_HTTP_MIN_SPEED", "65536"), ("OP_HTTP_RETRIES", "1")],
            expect: Expect::Exit(4),
            says: &["too slow", "OP_HTTP_MIN_SPEED"],
        },
    ]
}

#[test]
#[ignore = "torture: run by .ci/run and scripts/torture"]
fn a_misbehaving_mirror_ends_in_a_verified_install_or_the_documented_exit_code() {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let big = big_tool("fixture-big", Kind::Raw, big_len(), &mut rng);
    let small = big_tool("fixture-small", Kind::TarGz, 2 * 1024 * 1024, &mut rng);
    let mut report = Report::new("faults", "A fault-injecting mirror");
    report.line(&format!(
        "Seed {seed}. Big artifact {:.1} MB raw, small artifact {:.1} MB tar.gz, served from \
         127.0.0.1. Every case runs with OP_HTTP_TIMEOUT=2, OP_HTTP_RETRIES=3 (backoff from \
         0.2 s, doubling) unless the case says otherwise. `op` never sends `Range`: every retry \
         downloads from the first byte and hashes the whole body again.\n",
        big.pin.artifact().body.len() as f64 / 1e6,
        small.pin.artifact().body.len() as f64 / 1e6,
    ));
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut range_requests = 0;
    let loopback_url = regex::Regex::new(r"https?://127\.0\.0\.1:\d+/\S*").unwrap();
    for case in cases() {
        let tool: &Big = if case.big { &big } else { &small };
        let lock = lock_of(std::slice::from_ref(tool));
        let (mut env, server) = TestEnv::served(&lock);
        let artifact = tool.pin.artifact();
        let path = artifact.server_path();
        let mut body = artifact.body.clone();
        if case.expect == Expect::Exit(3) {
            // Same length, one byte different in the middle.
            let middle = body.len() / 2;
            body[middle] ^= 0xff;
        }
        server.route(&path, (case.route)(Route::new(body), &path, &mut rng));
        env.set("OP_HTTP_TIMEOUT", "2").set("OP_HTTP_RETRIES", "3");
        for (key, value) in case.env {
            env.set(key, value);
        }
        let started = Instant::now();
        let run = env.op(&["toolchain", "install"]);
        let took = started.elapsed();
        let cache = check_cache(&env, std::slice::from_ref(tool));
        let leftovers = staging_files(&env);
        range_requests += server
            .requests()
            .iter()
            .filter(|request| request.header("range").is_some())
            .count();
        let outcome_ok = match case.expect {
            Expect::Installed => run.code == Some(0) && cache == Ok(1),
            Expect::Exit(code) => {
                run.code == Some(code)
                    && cache == Ok(0)
                    && case
                        .says
                        .iter()
                        .all(|word| run.stderr.to_lowercase().contains(&word.to_lowercase()))
            }
        };
        let ok = outcome_ok && leftovers == 0 && took < HANG_GUARD;
        if !ok {
            problems.push(format!(
                "{}: exit {:?} after {took:?}, cache {cache:?}, {leftovers} staging files\n{}",
                case.name, run.code, run.stderr
            ));
        }
        let first_error = run
            .stderr
            .lines()
            .find(|line| line.starts_with("error"))
            .unwrap_or("");
        let first_error = loopback_url
            .replace_all(first_error, "<url>")
            .replace('|', "\\|");
        rows.push(vec![
            case.name.to_string(),
            match case.expect {
                Expect::Installed => "installed".into(),
                Expect::Exit(code) => format!("exit {code}"),
            },
            match run.code {
                Some(0) => "installed".into(),
                Some(code) => format!("exit {code}"),
                None => "killed".into(),
            },
            server.gets(&path).to_string(),
            secs(took),
            match cache {
                Ok(n) => format!("{n} complete, staging {leftovers}"),
                Err(what) => format!("VIOLATED: {what}"),
            },
            if ok { "ok".into() } else { "FAILED".into() },
            format!("`{}`", truncate(&first_error, 160)),
        ]);
    }

    // A mirror that is not there at all.
    let lock = lock_of(std::slice::from_ref(&small));
    let mut env = TestEnv::new();
    env.write_lock(&lock);
    env.mirror(dead_url()).set("OP_HTTP_TIMEOUT", "2");
    let started = Instant::now();
    let run = env.op(&["toolchain", "install"]);
    let took = started.elapsed();
    let ok = run.code == Some(4) && env.installed().is_empty() && took < HANG_GUARD;
    if !ok {
        problems.push(format!("dead mirror: exit {:?} after {took:?}", run.code));
    }
    rows.push(vec![
        "nothing listening (connection refused)".into(),
        "exit 4".into(),
        format!("exit {}", run.code.unwrap_or(-1)),
        "0".into(),
        secs(took),
        format!("{} complete", env.installed().len()),
        if ok { "ok".into() } else { "FAILED".into() },
        String::new(),
    ]);
    if range_requests > 0 {
        problems.push(format!(
            "{range_requests} request(s) carried a Range header"
        ));
    }

    report.line(&format!(
        "**{} cases, {} problem(s); Range headers sent: {range_requests}.**\n",
        rows.len(),
        problems.len()
    ));
    report.table(
        &[
            "case",
            "expected",
            "got",
            "GETs",
            "time (s)",
            "cache after",
            "verdict",
            "first error line",
        ],
        &rows,
    );
    report.write();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}
