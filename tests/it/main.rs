//! Integration tests of `op`: one test binary that runs the real `op` against fixture locks,
//! fixture tools and loopback mirrors. Nothing here leaves 127.0.0.1; every wait is bounded.
//!
//! The tests need a Unix host: the fixture tools are `#!/bin/sh` scripts.
#![cfg(unix)]

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
mod inputs_bounded;
mod lock_lifecycle;
mod lock_outdated;
mod lock_refresh;
mod lock_upstream;
mod pipeline_bed;
mod pipeline_build;
mod pipeline_build_push;
mod pipeline_build_push_flags;
mod pipeline_ensure;
mod pipeline_files;
mod pipeline_promote;
mod pipeline_push;
mod pipeline_references;
mod pipeline_registries_real;
mod pipeline_registry;
mod pipeline_registry_ready;
mod pipeline_run;
mod pipeline_signals;
mod pipeline_tools;
mod pipeline_watch;
mod pipeline_watch_kubectl;
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
