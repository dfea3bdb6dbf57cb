//! `.run.yaml` parsing, and context lookups on what parses.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use op_cli::formats::run_file::RunFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = RunFile::parse(text, Path::new(".run.yaml")) {
        let _ = file.context("api");
        let _ = file.context("");
    }
});
