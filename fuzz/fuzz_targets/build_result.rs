//! `build_result.json`: what parses must survive render → parse unchanged.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use op_cli::formats::build_result::{parse, render};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("build_result.json");
    if let Ok(builds) = parse(text, path) {
        for build in &builds {
            let _ = build.name();
            let _ = build.matches("api");
        }
        let rendered = render(&builds);
        let again = parse(&rendered, path).expect("rendered build_result.json parses");
        assert_eq!(again, builds, "round trip changed the builds");
    }
});
