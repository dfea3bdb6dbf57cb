//! Integration tests of `op`: one test binary that runs the real `op` against fixture locks,
//! fixture tools and loopback mirrors. Nothing here leaves 127.0.0.1; every wait is bounded.
//!
//! The suite runs on Linux, macOS and Windows. The fixture tools are `#!/bin/sh` scripts on
//! Unix and a small compiled program on Windows (`support::fixture_exe`). What is inherently
//! Unix is gated with `#[cfg(unix)]`: links, modes and owners, signals, FIFOs and devices, the
//! shells `op toolchain env` speaks to, and the pipeline modules, whose fixture peers (skaffold,
//! docker, kubectl, a registry) are shell scripts and Unix services, with the modules built on
//! their test bed (`inputs_bounded`, `secrets`).

mod support;

mod cache_hostile;
mod cache_lifecycle;
mod cache_tag;
mod cli_errors;
mod cli_github;
mod cli_help;
mod cli_json;
mod cli_man;
mod cli_output;
mod evidence;
mod evidence_kinds;
mod evidence_update;
mod evidence_update_kinds;
mod fixture_tool;
#[cfg(unix)]
mod inputs_bounded;
mod lock_lifecycle;
mod lock_outdated;
mod lock_refresh;
mod lock_upstream;
#[cfg(unix)]
mod pipeline_bed;
#[cfg(unix)]
mod pipeline_build;
#[cfg(unix)]
mod pipeline_build_push;
#[cfg(unix)]
mod pipeline_build_push_flags;
#[cfg(unix)]
mod pipeline_ensure;
#[cfg(unix)]
mod pipeline_files;
#[cfg(unix)]
mod pipeline_promote;
#[cfg(unix)]
mod pipeline_push;
#[cfg(unix)]
mod pipeline_references;
#[cfg(unix)]
mod pipeline_registries_real;
#[cfg(unix)]
mod pipeline_registry;
#[cfg(unix)]
mod pipeline_registry_ready;
#[cfg(unix)]
mod pipeline_run;
#[cfg(unix)]
mod pipeline_signals;
#[cfg(unix)]
mod pipeline_tools;
#[cfg(unix)]
mod pipeline_watch;
#[cfg(unix)]
mod pipeline_watch_kubectl;
#[cfg(unix)]
mod secrets;
mod settings_env;
mod toolchain_archives;
mod toolchain_commands;
mod toolchain_concurrency;
mod toolchain_deadline;
mod toolchain_exec;
mod toolchain_fallback;
mod toolchain_hostile;
mod toolchain_install;
mod toolchain_integrity;
mod toolchain_lock;
mod toolchain_network;
mod toolchain_proxy;
mod toolchain_stream;
mod toolchain_tls;
mod toolchain_warm;
