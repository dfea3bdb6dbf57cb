//! Replacing and removing entries under fire: SIGKILL at random moments of `install --force`
//! and of `prune`, and `exec` loops racing both. The cache invariant must hold after every
//! kill, `install --force` must never lose the tool, and no `exec` may fail.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::{Kind, Lock, Pin, TestEnv, age, host_platform, repeat_op};
use crate::{Big, Report, Rng, check_cache, count, lock_of, secs, seed, torture_tools};

/// Kill delays span one uninterrupted run of `args`, plus a fifth.
fn span_of(env: &TestEnv, args: &[&str]) -> (u64, Duration) {
    let started = Instant::now();
    env.op(args).success();
    let full = started.elapsed();
    ((full.as_millis() as u64 * 6 / 5).max(20), full)
}

/// Marks every installed entry as last used two days ago, so a prune may take it.
fn age_entries(env: &TestEnv, tools: &[Big]) {
    for big in tools {
        let dir = env.tool_dir(&big.pin, host_platform());
        if dir.is_dir() {
            age(&dir, Duration::from_secs(2 * 86_400));
        }
    }
}

/// A lock of another repository on the same cache: it pins none of the torture tools.
fn other_lock(env: &TestEnv) -> String {
    let lock = Lock::new(vec![Pin::fixture("fixture-other", "1.0.0", Kind::Raw)]);
    env.write_file("other.lock", &lock.text())
        .display()
        .to_string()
}

/// What must hold after a kill: the phase it landed in, or what was violated.
type Check<'a> = dyn Fn(&TestEnv, Option<i32>) -> Result<String, String> + 'a;

struct Trials {
    rows: Vec<Vec<String>>,
    phases: BTreeMap<String, u64>,
    violations: Vec<String>,
}

/// `trials` kills of `op ARGS` at random delays; before each, `prepare` sets the scene; after
/// each, `check` says what must hold (it returns a phase label or a violation).
fn kill_trials(
    env: &TestEnv,
    rng: &mut Rng,
    trials: u64,
    span_ms: u64,
    args: &[&str],
    prepare: &(dyn Fn(&TestEnv) + '_),
    check: &Check<'_>,
) -> Trials {
    let mut out = Trials {
        rows: Vec::new(),
        phases: BTreeMap::new(),
        violations: Vec::new(),
    };
    for trial in 0..trials {
        prepare(env);
        let delay = Duration::from_millis(rng.below(span_ms));
        let child = env.spawn(args);
        std::thread::sleep(delay);
        let run = child.kill();
        let verdict = check(env, run.code);
        let (phase, status) = match &verdict {
            Ok(phase) => (phase.clone(), "ok".to_string()),
            Err(what) => ("VIOLATED".to_string(), what.clone()),
        };
        if let Err(what) = verdict {
            out.violations.push(format!("trial {trial}: {what}"));
        }
        *out.phases.entry(phase.clone()).or_default() += 1;
        out.rows.push(vec![
            trial.to_string(),
            delay.as_millis().to_string(),
            phase,
            status,
        ]);
    }
    out
}

fn write_report(report: &mut Report, what: &str, trials: u64, result: &Trials) {
    report.line(&format!(
        "**{what}: {trials} trials, {} violations.**\n",
        result.violations.len()
    ));
    report.table(
        &["phase at the kill", "trials"],
        &result
            .phases
            .iter()
            .map(|(phase, n)| vec![phase.clone(), n.to_string()])
            .collect::<Vec<_>>(),
    );
    report.line("<details><summary>Every trial</summary>\n");
    report.table(
        &["trial", "kill after (ms)", "phase", "result"],
        &result.rows,
    );
    report.line("</details>\n");
}

/// Every tool runs through `op toolchain exec`, and `verify` passes.
fn all_run(env: &TestEnv, tools: &[Big]) -> Result<(), String> {
    for big in tools {
        let run = env.op(&["toolchain", "exec", &big.pin.tool]);
        if run.code != Some(0) {
            return Err(format!("exec {} exited {:?}", big.pin.tool, run.code));
        }
    }
    let verify = env.op(&["toolchain", "verify"]);
    if verify.code != Some(0) {
        return Err(format!(
            "verify exited {:?}: {}",
            verify.code, verify.stdout
        ));
    }
    Ok(())
}

#[test]
#[ignore = "torture: run by .ci/run (small count) and scripts/torture"]
fn sigkill_during_install_force_or_prune_never_leaves_a_partial_or_lost_tool() {
    let trials = count("OP_TORTURE_KILLS", 20);
    let seed = seed();
    let mut rng = Rng::new(seed);
    let tools = torture_tools(&mut rng);
    let lock = lock_of(&tools);
    let (env, _server) = TestEnv::served(&lock);
    let other = other_lock(&env);
    let mut report = Report::new(
        "swap",
        "kill -9 during `op toolchain install --force` and `op toolchain prune`",
    );
    env.op(&["toolchain", "install"]).success();
    let (force_span, force_full) = span_of(&env, &["toolchain", "install", "--force"]);

    // install --force: every kill leaves every tool installed and whole.
    let force = kill_trials(
        &env,
        &mut rng,
        trials,
        force_span,
        &["toolchain", "install", "--force"],
        &|_| {},
        &|env, code| {
            let staged = staging_names(env);
            let installed = check_cache(env, &tools)?;
            if installed != tools.len() {
                return Err(format!(
                    "{installed}/{} tools left after the kill",
                    tools.len()
                ));
            }
            all_run(env, &tools)?;
            Ok(if code == Some(0) {
                "finished before the kill".into()
            } else {
                format!("killed, {staged} staging name(s) left")
            })
        },
    );

    // prune (by another repository's lock): each entry is whole or gone, never half.
    let prune_args = ["--lock", other.as_str(), "toolchain", "prune"];
    age_entries(&env, &tools);
    let (prune_span, prune_full) = span_of(&env, &prune_args);
    let prune = kill_trials(
        &env,
        &mut rng,
        trials,
        prune_span,
        &prune_args,
        &|env| {
            env.op(&["toolchain", "install"]).success();
            age_entries(env, &tools);
        },
        &|env, _| {
            let left = check_cache(env, &tools)?;
            // Another lock's verify must not see a half-removed entry either.
            let verify = env.op(&["--lock", other.as_str(), "toolchain", "verify"]);
            if verify.code != Some(0) {
                return Err(format!("the other lock's verify exited {:?}", verify.code));
            }
            env.op(&["toolchain", "install"]).success();
            all_run(env, &tools)?;
            Ok(format!("{left}/{} entries left", tools.len()))
        },
    );
    report.line(&format!(
        "Seed {seed}. {} artifacts. One uninterrupted `install --force` took {} s, one prune \
         {} s; kill delays are uniform over 1.2 times that.\n",
        tools.len(),
        secs(force_full),
        secs(prune_full)
    ));
    write_report(&mut report, "install --force", trials, &force);
    write_report(&mut report, "prune", trials, &prune);
    report.write();
    let mut violations = force.violations;
    violations.extend(prune.violations);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

fn staging_names(env: &TestEnv) -> usize {
    crate::support::dir_names(&env.cache().join("staging")).len()
}

#[test]
#[ignore = "torture: run by .ci/run (small count) and scripts/torture"]
fn exec_never_fails_while_entries_are_swapped_and_pruned() {
    let execs = count("OP_TORTURE_RACE", 200);
    let seed = seed();
    let mut rng = Rng::new(seed);
    // Small artifacts: the race is about renames, not bytes.
    let tools: Vec<Big> = [Kind::Raw, Kind::TarGz, Kind::Zip]
        .into_iter()
        .zip(["race-raw", "race-tgz", "race-zip"])
        .map(|(kind, name)| crate::big_tool(name, kind, 64 * 1024, &mut rng))
        .collect();
    let lock = lock_of(&tools);
    let (env, _server) = TestEnv::served(&lock);
    let other = other_lock(&env);
    env.op(&["toolchain", "install"]).success();
    let started = Instant::now();
    let reinstalls = repeat_op(&env, &["toolchain", "install", "--force"], execs / 4);
    let prunes = repeat_op(&env, &["--lock", &other, "toolchain", "prune"], execs / 4);
    let runners: Vec<_> = tools
        .iter()
        .map(|big| repeat_op(&env, &["toolchain", "exec", &big.pin.tool], execs / 3))
        .collect();
    let mut exec_failures = Vec::new();
    for runner in runners {
        exec_failures.extend(runner.join().expect("exec loop"));
    }
    let reinstall_failures = reinstalls.join().expect("reinstall loop");
    let prune_failures = prunes.join().expect("prune loop");
    let wall = started.elapsed();
    let mut report = Report::new(
        "race",
        "`op toolchain exec` racing `install --force` and `prune`",
    );
    report.line(&format!(
        "Seed {seed}. {} execs (three tools, raw, tar.gz and zip) while {} `install --force` and \
         {} prunes by another repository's lock ran on the same cache, in {} s.\n",
        execs / 3 * 3,
        execs / 4,
        execs / 4,
        secs(wall)
    ));
    report.table(
        &["loop", "runs", "failures"],
        &[
            vec![
                "exec".into(),
                (execs / 3 * 3).to_string(),
                exec_failures.len().to_string(),
            ],
            vec![
                "install --force".into(),
                (execs / 4).to_string(),
                reinstall_failures.len().to_string(),
            ],
            vec![
                "prune".into(),
                (execs / 4).to_string(),
                prune_failures.len().to_string(),
            ],
        ],
    );
    report.write();
    let mut failures = exec_failures;
    failures.extend(reinstall_failures);
    failures.extend(prune_failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(check_cache(&env, &tools), Ok(tools.len()));
}
