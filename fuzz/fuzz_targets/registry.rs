//! `.registry` parsing and `${VAR}` interpolation with an environment taken from the input.
#![no_main]
use std::collections::HashMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use op_cli::formats::registry_file::{Registry, interpolate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Input: `NAME=value` lines, a line `---8<---`, then the file.
    let (env_part, file) = text.split_once("---8<---\n").unwrap_or(("", text));
    let env: HashMap<&str, &str> = env_part
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let lookup = |name: &str| env.get(name).map(|value| value.to_string());
    let _ = interpolate(file, &lookup);
    let _ = Registry::parse(file, Path::new(".registry"), &lookup);
});
