//! toolchain.lock text → Lock; a lock that parses must also render its markdown and answer
//! lookups without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use op_cli::toolchain::lock::{Lock, Origin};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Origin::File("toolchain.lock".into());
    if let Ok(lock) = Lock::parse(text, origin.clone()) {
        let _ = lock.markdown();
        for name in lock.tool_names() {
            let tool = lock.tool(name).expect("a listed tool is found");
            for platform in ["linux-amd64", "darwin-arm64", "windows-amd64", ""] {
                let _ = tool.artifact(platform, &origin);
            }
            if let Some(template) = &tool.template {
                for key in template.platform_keys() {
                    let _ = template.render("9.9.9", &key);
                }
            }
        }
        let _ = lock.tool("no-such-tool");
    }
});
