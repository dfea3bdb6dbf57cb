//! SIGKILL at random moments of `op toolchain install`, then the cache invariant, then a rerun
//! that must repair everything.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::TestEnv;
use crate::{
    Report, Rng, check_cache, count, empty_cache, lock_of, secs, seed, spread, staging_files,
    torture_tools,
};

#[test]
#[ignore = "torture: run by .ci/run (small count) and scripts/torture"]
fn sigkill_at_random_moments_never_leaves_a_partial_tool() {
    let trials = count("OP_TORTURE_KILLS", 20);
    let seed = seed();
    let mut rng = Rng::new(seed);
    let tools = torture_tools(&mut rng);
    let lock = lock_of(&tools);
    let (env, server) = TestEnv::served(&lock);
    let mut report = Report::new(
        "kill",
        "kill -9 at random moments of `op toolchain install`",
    );

    // One uninterrupted install sets the range of kill delays.
    let started = Instant::now();
    env.op(&["toolchain", "install"]).success();
    let full = started.elapsed();
    assert_eq!(check_cache(&env, &tools), Ok(tools.len()));
    let span_ms = (full.as_millis() as u64 * 6 / 5).max(20);
    report.line(&format!(
        "Seed {seed}. Artifacts: {} (served from 127.0.0.1). One uninterrupted install took {} s; \
         kill delays are uniform in [0, {span_ms}) ms.\n",
        tools
            .iter()
            .map(|big| format!(
                "{} {} {:.1} MB",
                big.pin.tool,
                big.pin.artifact().archive,
                big.pin.artifact().body.len() as f64 / 1e6
            ))
            .collect::<Vec<_>>()
            .join(", "),
        secs(full)
    ));

    let mut rows = Vec::new();
    let mut by_phase: BTreeMap<String, u64> = BTreeMap::new();
    let mut reruns = Vec::new();
    let mut violations = Vec::new();
    for trial in 0..trials {
        empty_cache(&env);
        let delay = Duration::from_millis(rng.below(span_ms));
        let child = env.spawn(&["toolchain", "install"]);
        std::thread::sleep(delay);
        let installed_before = env.installed().len();
        let staged = staging_files(&env);
        let run = child.kill();
        let phase = match (run.code, installed_before, staged) {
            (Some(0), _, _) => "finished before the kill".to_string(),
            (_, 0, 0) => "before any download".to_string(),
            (_, done, 0) => format!("{done}/3 installed, staging empty"),
            (_, done, _) => format!("{done}/3 installed, staging in use"),
        };
        *by_phase.entry(phase.clone()).or_default() += 1;
        let after_kill = check_cache(&env, &tools);
        let rerun_started = Instant::now();
        let rerun = env.op(&["toolchain", "install"]);
        let rerun_time = rerun_started.elapsed();
        reruns.push(rerun_time.as_secs_f64());
        let after_rerun = check_cache(&env, &tools);
        let leftovers = staging_files(&env);
        let ok = after_kill.is_ok()
            && rerun.code == Some(0)
            && after_rerun == Ok(tools.len())
            && leftovers == 0;
        if !ok {
            violations.push(format!(
                "trial {trial}: after kill {after_kill:?}; rerun exit {:?} {}; after rerun \
                 {after_rerun:?}; {leftovers} staging file(s)",
                rerun.code, rerun.stderr
            ));
        }
        rows.push(vec![
            trial.to_string(),
            delay.as_millis().to_string(),
            phase,
            match &after_kill {
                Ok(done) => format!("ok ({done} complete)"),
                Err(what) => format!("VIOLATED: {what}"),
            },
            format!("{:?}", rerun.code.unwrap_or(-1)),
            secs(rerun_time),
            leftovers.to_string(),
        ]);
    }

    let (median, p95, max) = spread(&mut reruns);
    report.line(&format!(
        "**{trials} trials, {} invariant violations.** Repairing rerun: median {median:.2} s, \
         p95 {p95:.2} s, max {max:.2} s. Artifact GETs served in all: {}.\n",
        violations.len(),
        server.request_count()
    ));
    report.line("Where the kills landed:\n");
    report.table(
        &["phase at the kill", "trials"],
        &by_phase
            .iter()
            .map(|(phase, n)| vec![phase.clone(), n.to_string()])
            .collect::<Vec<_>>(),
    );
    report.line("<details><summary>Every trial</summary>\n");
    report.table(
        &[
            "trial",
            "kill after (ms)",
            "phase",
            "cache after the kill",
            "rerun exit",
            "rerun (s)",
            "staging files after rerun",
        ],
        &rows,
    );
    report.line("</details>\n");
    report.write();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
