//! A cache `op` cannot write, and a cache on a full filesystem: a clear error, the documented
//! exit code, and what was installed before still intact.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::support::{Kind, Server, TestEnv, walk};
use crate::{Big, Report, Rng, big_tool, lock_of, seed, staging_files};

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount(args: &[&str], target: &Path) -> Result<Mount, String> {
    let out = Command::new("mount")
        .args(args)
        .arg(target)
        .output()
        .map_err(|error| format!("cannot run mount: {error}"))?;
    if out.status.success() {
        Ok(Mount(target.to_path_buf()))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn is_root() -> bool {
    nix_uid() == 0
}

fn nix_uid() -> u32 {
    fs::metadata("/proc/self")
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta))
        .unwrap_or(u32::MAX)
}

/// `op toolchain install` with `env`'s environment, as `uid` when given.
fn install(env: &TestEnv, uid: Option<u32>) -> (Option<i32>, String, f64) {
    let mut binary = PathBuf::from(assert_cmd::cargo::cargo_bin!("op"));
    if uid.is_some() {
        // The build directory may sit where another user cannot reach it: run a copy.
        let copy = env.root().join("op");
        fs::copy(&binary, &copy).expect("copy op");
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod op");
        binary = copy;
    }
    let mut command = env.std_command(&binary);
    command.args(["toolchain", "install"]);
    if let Some(uid) = uid {
        command.uid(uid).gid(uid);
    }
    let started = Instant::now();
    let out = command.output().expect("run op");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    )
}

fn first_error(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| line.starts_with("error") || line.starts_with("hint"))
        .collect::<Vec<_>>()
        .join(" / ")
        .replace('|', "\\|")
}

/// Two tools — `fixture-first`, installed beforehand, and `fixture-second` (`second_len`
/// bytes), the one the broken cache cannot take — and a test env serving only the first.
fn two_tools(rng: &mut Rng, second_len: usize) -> (TestEnv, Server, [Big; 2]) {
    let first = big_tool("fixture-first", Kind::TarGz, 64 * 1024, rng);
    let second = big_tool("fixture-second", Kind::Raw, second_len, rng);
    let (env, server) = TestEnv::served(&lock_of(std::slice::from_ref(&first)));
    (env, server, [first, second])
}

/// Installs the first tool, then pins (and serves) both.
fn install_first_then_pin_both(env: &TestEnv, server: &Server, tools: &[Big; 2]) {
    env.op(&["toolchain", "install"]).success();
    server.publish(&lock_of(tools));
    env.write_lock(&lock_of(tools));
}

#[test]
#[ignore = "torture: run by .ci/run and scripts/torture"]
fn a_read_only_or_full_cache_fails_clearly_and_corrupts_nothing() {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let mut report = Report::new("disk", "A cache that cannot be written, and a full disk");
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut problems = Vec::new();
    if !is_root() {
        report.line(
            "Skipped: these cases need root (to mount a tmpfs and to switch to another user).\n",
        );
        report.write();
        return;
    }

    // 1. A cache owned by root, used by an unprivileged user (uid 65534).
    {
        let (env, server, tools) = two_tools(&mut rng, 1024 * 1024);
        install_first_then_pin_both(&env, &server, &tools);
        // Readable (and executables runnable) by everyone, writable by root only.
        for path in walk(env.root())
            .into_iter()
            .chain([env.root().to_path_buf()])
        {
            let executable =
                fs::metadata(&path).is_ok_and(|meta| meta.permissions().mode() & 0o111 != 0);
            let mode = if path.is_dir() || executable {
                0o755
            } else {
                0o644
            };
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(mode));
        }
        rows.push(case(
            "cache owned by another user (op runs as uid 65534)",
            &env,
            Some(65534),
            &mut problems,
        ));
    }

    // 2. A read-only bind mount of the cache (as root: permissions do not stop root, the
    //    mount does).
    {
        let (env, server, tools) = two_tools(&mut rng, 1024 * 1024);
        install_first_then_pin_both(&env, &server, &tools);
        let cache = env.cache();
        match mount(&["--bind", cache.to_str().unwrap()], &cache).and_then(|bind| {
            mount(&["-o", "remount,ro,bind"], &cache).map(|ro| {
                std::mem::forget(ro);
                bind
            })
        }) {
            Ok(_bind) => rows.push(case(
                "cache on a read-only mount (op runs as root)",
                &env,
                None,
                &mut problems,
            )),
            Err(why) => report.line(&format!("Read-only mount case skipped: {why}\n")),
        }
    }

    // 3. A full disk: the cache on an 8 MiB tmpfs, the second tool 32 MiB.
    {
        let (env, server, tools) = two_tools(&mut rng, 32 * 1024 * 1024);
        let cache = env.cache();
        // mode=0755: a tmpfs root is 1777 by default, which op refuses as a cache.
        match mount(&["-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs"], &cache) {
            Ok(_tmpfs) => {
                install_first_then_pin_both(&env, &server, &tools);
                rows.push(case(
                    "cache on a full filesystem (8 MiB tmpfs, 32 MiB tool)",
                    &env,
                    None,
                    &mut problems,
                ));
            }
            Err(why) => report.line(&format!("Full-disk case skipped: {why}\n")),
        }
    }

    report.line(&format!(
        "Seed {seed}. In each case `fixture-first` was installed beforehand; then the lock \
         gained `fixture-second`, which the cache cannot take. **{} case(s), {} problem(s).**\n",
        rows.len(),
        problems.len()
    ));
    report.table(
        &[
            "case",
            "exit",
            "time (s)",
            "fixture-first afterwards",
            "partial entries",
            "what op said",
        ],
        &rows,
    );
    report.write();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

fn case(name: &str, env: &TestEnv, uid: Option<u32>, problems: &mut Vec<String>) -> Vec<String> {
    let (code, stderr, took) = install(env, uid);
    let verify = env.op(&["toolchain", "verify"]);
    let first_ok = verify
        .stdout
        .lines()
        .any(|line| line.starts_with("ok") && line.contains("fixture-first"));
    let partial: Vec<String> = env
        .installed()
        .into_iter()
        .filter(|name| name.starts_with("fixture-second"))
        .collect();
    let leftovers = staging_files(env);
    let names_cache = stderr.contains(env.cache().to_str().unwrap());
    let ok = matches!(code, Some(c) if c != 0)
        && first_ok
        && partial.is_empty()
        && leftovers == 0
        && names_cache;
    if !ok {
        problems.push(format!(
            "{name}: exit {code:?}, fixture-first verified {first_ok}, partial {partial:?}, \
             {leftovers} staging files, cache path named: {names_cache}\n{stderr}\n{}",
            verify.stdout
        ));
    }
    vec![
        name.to_string(),
        format!("{}", code.unwrap_or(-1)),
        format!("{took:.2}"),
        if first_ok {
            "verifies ok".into()
        } else {
            "BROKEN".into()
        },
        format!("{} in tools/, {leftovers} in staging/", partial.len()),
        format!("`{}`", first_error(&stderr)),
    ]
}
