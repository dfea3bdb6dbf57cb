//! Which port an app listens on, inferred from its context directory (Procfile, Dockerfile,
//! nginx.conf; 8080 otherwise), and the first free host port to map it to.

use std::path::Path;

use regex::Regex;

pub const DEFAULT_PORT: u16 = 8080;

/// The container port of the app in `dir`. Each source that names no port defers to the next.
pub fn infer(dir: &Path) -> u16 {
    if let Ok(procfile) = std::fs::read_to_string(dir.join("Procfile"))
        && let Some(port) = from_procfile(&procfile)
    {
        return port;
    }
    if let Ok(dockerfile) = std::fs::read_to_string(dir.join("Dockerfile"))
        && let Some(port) = from_dockerfile(&dockerfile)
    {
        return port;
    }
    if let Ok(nginx) = std::fs::read_to_string(dir.join("nginx.conf"))
        && let Some(port) = first_number(r"listen\s+(\d+)\s*;", &nginx)
    {
        return port;
    }
    DEFAULT_PORT
}

fn first_number(pattern: &str, text: &str) -> Option<u16> {
    Regex::new(pattern)
        .ok()?
        .captures(text)?
        .get(1)?
        .as_str()
        .parse()
        .ok()
}

/// The `web` process (else the first process) of a Procfile: `${PORT:-N}`, `--port N` or `-p N`.
fn from_procfile(text: &str) -> Option<u16> {
    let processes: Vec<(&str, &str)> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .collect();
    let command = processes
        .iter()
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("web"))
        .or(processes.first())?
        .1;
    first_number(r"\$\{PORT:-\s*(\d+)\}", command)
        .or_else(|| first_number(r"(?:--port|-p)[\s=]+(\d+)", command))
}

/// The first `EXPOSE N` instruction (comments skipped).
fn from_dockerfile(text: &str) -> Option<u16> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| first_number(r"(?i)^EXPOSE\s+(\d+)", line))
}

/// The first port in 8080..8180 that can be bound on 127.0.0.1.
pub fn free_host_port() -> Option<u16> {
    (8080..8180).find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn each_source_in_order() {
        assert_eq!(
            infer(
                dir_with(&[(
                    "Procfile",
                    "worker: run\nweb: gunicorn -b :${PORT:-5000} app\n"
                )])
                .path()
            ),
            5000
        );
        assert_eq!(
            infer(dir_with(&[("Procfile", "web: node server.js --port 3000\n")]).path()),
            3000
        );
        // A Procfile without a port defers to the Dockerfile.
        assert_eq!(
            infer(
                dir_with(&[
                    ("Procfile", "web: ./run\n"),
                    ("Dockerfile", "# EXPOSE 1\nFROM x\nexpose 9090\n")
                ])
                .path()
            ),
            9090
        );
        assert_eq!(
            infer(dir_with(&[("nginx.conf", "server { listen 8081; }")]).path()),
            8081
        );
        assert_eq!(
            infer(dir_with(&[("project.toml", "")]).path()),
            DEFAULT_PORT
        );
        assert_eq!(infer(Path::new("/nonexistent/context")), DEFAULT_PORT);
    }
}
