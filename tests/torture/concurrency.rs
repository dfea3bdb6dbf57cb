//! 16 `op toolchain install` processes on one empty cache, several rounds.

use std::time::{Duration, Instant};

use crate::support::TestEnv;
use crate::{Report, Rng, check_cache, count, lock_of, secs, seed, staging_files, torture_tools};

const INSTALLERS: usize = 16;

#[test]
#[ignore = "torture: run by .ci/run (small count) and scripts/torture"]
fn sixteen_installers_share_one_download_per_artifact() {
    let rounds = count("OP_TORTURE_ROUNDS", 3);
    let seed = seed();
    let mut rng = Rng::new(seed);
    let tools = torture_tools(&mut rng);
    let lock = lock_of(&tools);
    let mut report = Report::new(
        "concurrency",
        "16 concurrent `op toolchain install` on one cache",
    );
    report.line(&format!(
        "Seed {seed}. Each round: a fresh cache and a fresh loopback mirror, {INSTALLERS} \
         installers started together, {} artifacts ({} MB in all).\n",
        tools.len(),
        lock.artifacts().map(|a| a.body.len()).sum::<usize>() / (1024 * 1024)
    ));
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for round in 0..rounds {
        let (env, server) = TestEnv::served(&lock);
        let started = Instant::now();
        let children: Vec<_> = (0..INSTALLERS)
            .map(|_| env.spawn(&["toolchain", "install"]))
            .collect();
        let runs: Vec<_> = children
            .into_iter()
            .map(|child| child.wait(Duration::from_secs(300)))
            .collect();
        let wall = started.elapsed();
        let succeeded = runs.iter().filter(|run| run.code == Some(0)).count();
        let gets: Vec<usize> = lock
            .artifacts()
            .map(|artifact| server.gets(&artifact.server_path()))
            .collect();
        let cache = check_cache(&env, &tools);
        let leftovers = staging_files(&env);
        if succeeded != INSTALLERS
            || gets.iter().any(|&n| n != 1)
            || cache != Ok(tools.len())
            || leftovers != 0
        {
            let failed: Vec<String> = runs
                .iter()
                .filter(|run| run.code != Some(0))
                .map(|run| format!("exit {:?}: {}", run.code, run.stderr))
                .collect();
            problems.push(format!(
                "round {round}: {succeeded}/{INSTALLERS} ok, GETs {gets:?}, cache {cache:?}, \
                 {leftovers} staging files; {failed:?}"
            ));
        }
        let slowest = runs.iter().map(|run| run.elapsed).max().unwrap_or_default();
        rows.push(vec![
            round.to_string(),
            format!("{succeeded}/{INSTALLERS}"),
            format!("{gets:?}"),
            match &cache {
                Ok(n) => format!("{n}/{} verified", tools.len()),
                Err(what) => format!("VIOLATED: {what}"),
            },
            secs(wall),
            secs(slowest),
        ]);
    }
    report.line(&format!(
        "**{rounds} rounds × {INSTALLERS} installers: {} problem(s).**\n",
        problems.len()
    ));
    report.table(
        &[
            "round",
            "exit 0",
            "GETs per artifact",
            "cache after",
            "wall (s)",
            "slowest installer (s)",
        ],
        &rows,
    );
    report.write();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
