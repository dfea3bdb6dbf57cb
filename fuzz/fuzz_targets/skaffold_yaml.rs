//! skaffold.yaml artifact reading (multi-document YAML).
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use op_cli::formats::skaffold_yaml::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse(text, Path::new("skaffold.yaml"));
});
