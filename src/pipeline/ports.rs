//! Which port an app listens on, inferred from its context directory (Procfile, project.toml,
//! Dockerfile, nginx.conf; 8080 otherwise), and the first free host port to map it to.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::bounded;

pub const DEFAULT_PORT: u16 = 8080;
/// Host ports `op run` tries, in order.
pub const HOST_PORTS: std::ops::RangeInclusive<u16> = 8080..=8179;

fn pattern(text: &str) -> Regex {
    Regex::new(text).unwrap_or_else(|error| panic!("built-in pattern {text:?}: {error}"))
}

/// `${PORT:-5000}`, `--port 5000`, `--port=5000`, `-p 5000`, `-b :5000`, `--bind 0.0.0.0:5000`.
static PROCFILE_PORT: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        pattern(r"\$\{PORT:-\s*(\d+)\}"),
        pattern(r"(?:^|\s)(?:--port|-p)[\s=]+(\d+)\b"),
        pattern(r"(?:^|\s)(?:--bind|-b)[\s=]+\S*:(\d+)\b"),
    ]
});
static EXPOSE: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?i)^EXPOSE\s+(\d+)"));
/// `listen 80;`, `listen 8080 default_server;`, `listen [::]:8080;`, `listen 127.0.0.1:8080 ssl;`.
static LISTEN: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^listen\s+(?:\S*:)?(\d+)(?:\s[^;]*)?;"));

/// The container port of the app in `dir`, from the first of these that names one:
/// 1. `Procfile`: the `web` process (else the first) — `${PORT:-N}`, `--port N`, `-p N`, `--bind HOST:N`;
/// 2. `project.toml` (a buildpacks app): its build env `PORT`, else 8080 — the buildpacks default;
///    a Dockerfile or nginx.conf next to it is not what the buildpacks image runs;
/// 3. `Dockerfile`: the first `EXPOSE N`;
/// 4. `nginx.conf`: the first `listen [ADDR:]N …;`;
/// 5. 8080.
pub fn infer(dir: &Path) -> u16 {
    // A hint, not an input op must understand: what is not a small regular text file is skipped.
    let read = |name: &str| {
        bounded::read_capped_to_string(&dir.join(name), name, bounded::APP_FILE_CAP).ok()
    };
    if let Some(port) = read("Procfile").and_then(|text| from_procfile(&text)) {
        return port;
    }
    if let Some(text) = read("project.toml") {
        return from_project_toml(&text).unwrap_or(DEFAULT_PORT);
    }
    if let Some(port) = read("Dockerfile").and_then(|text| from_dockerfile(&text)) {
        return port;
    }
    if let Some(port) = read("nginx.conf").and_then(|text| from_nginx(&text)) {
        return port;
    }
    DEFAULT_PORT
}

fn number(regex: &Regex, text: &str) -> Option<u16> {
    regex
        .captures(text)?
        .get(1)?
        .as_str()
        .parse()
        .ok()
        .filter(|port| *port != 0)
}

/// Lines without `#` comments (Procfile, Dockerfile and nginx.conf all use `#`).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
}

/// The `web` process (else the first process) of a Procfile.
pub fn from_procfile(text: &str) -> Option<u16> {
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
    PROCFILE_PORT
        .iter()
        .find_map(|regex| number(regex, command))
}

/// `PORT` from the build env of a buildpacks `project.toml` (`[[build.env]]` of schema 0.1 or
/// `[[io.buildpacks.build.env]]` of 0.2).
pub fn from_project_toml(text: &str) -> Option<u16> {
    let document: toml::Table = text.parse().ok()?;
    let build_env_port = |table: &toml::Table| -> Option<u16> {
        table
            .get("build")?
            .get("env")?
            .as_array()?
            .iter()
            .filter(|entry| entry.get("name").and_then(toml::Value::as_str) == Some("PORT"))
            .find_map(|entry| match entry.get("value")? {
                toml::Value::String(text) => text.trim().parse().ok(),
                toml::Value::Integer(port) => u16::try_from(*port).ok(),
                _ => None,
            })
    };
    document
        .get("io")
        .and_then(|io| io.get("buildpacks"))
        .and_then(toml::Value::as_table)
        .and_then(build_env_port)
        .or_else(|| build_env_port(&document))
}

/// The first `EXPOSE N` instruction.
pub fn from_dockerfile(text: &str) -> Option<u16> {
    code_lines(text).find_map(|line| number(&EXPOSE, line))
}

/// The first `listen` directive with a port.
pub fn from_nginx(text: &str) -> Option<u16> {
    code_lines(text)
        .flat_map(|line| line.split_inclusive(['{', '}']))
        .map(|part| part.trim_start_matches(['{', '}']).trim())
        .flat_map(|part| part.split_inclusive(';'))
        .find_map(|statement| number(&LISTEN, statement.trim()))
}

/// The first port of [`HOST_PORTS`] that can be bound on 127.0.0.1.
pub fn free_host_port() -> Option<u16> {
    HOST_PORTS
        .clone()
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer_with(files: &[(&str, &str)]) -> u16 {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        infer(dir.path())
    }

    #[test]
    fn procfile_web_process_else_first() {
        let web = "worker: run --port 1\nweb: gunicorn -b :${PORT:-5000} app\n";
        assert_eq!(from_procfile(web), Some(5000));
        assert_eq!(
            from_procfile("# web: x -p 1\nweb: node s.js --port 3000"),
            Some(3000)
        );
        assert_eq!(from_procfile("web: node s.js --port=3001"), Some(3001));
        assert_eq!(from_procfile("web: flask run -p 5002"), Some(5002));
        assert_eq!(
            from_procfile("WEB : gunicorn --bind 0.0.0.0:8000 app"),
            Some(8000)
        );
        assert_eq!(from_procfile("worker: run -p 7000\n"), Some(7000));
        assert_eq!(from_procfile("web: ./run --http-port 9\n"), None);
        assert_eq!(from_procfile("web: ./server\n"), None);
        assert_eq!(from_procfile(""), None);
    }

    #[test]
    fn project_toml_build_env_port() {
        let v01 = "[project]\nid = \"x\"\n[[build.env]]\nname = \"BP_X\"\nvalue = \"1\"\n[[build.env]]\nname = \"PORT\"\nvalue = \"3000\"\n";
        assert_eq!(from_project_toml(v01), Some(3000));
        let v02 = "[_]\nschema-version = \"0.2\"\n[[io.buildpacks.build.env]]\nname = \"PORT\"\nvalue = \"4000\"\n";
        assert_eq!(from_project_toml(v02), Some(4000));
        assert_eq!(from_project_toml("[_]\nschema-version = \"0.2\"\n"), None);
        assert_eq!(from_project_toml("not toml ["), None);
    }

    #[test]
    fn dockerfile_first_expose_outside_comments() {
        assert_eq!(
            from_dockerfile("# EXPOSE 1\nFROM x\nexpose 9090/tcp\nEXPOSE 9091\n"),
            Some(9090)
        );
        assert_eq!(from_dockerfile("FROM x\nEXPOSE $PORT\n"), None);
        assert_eq!(from_dockerfile("FROM x\n"), None);
    }

    #[test]
    fn nginx_listen_forms() {
        assert_eq!(from_nginx("server {\n  listen 8081;\n}"), Some(8081));
        assert_eq!(
            from_nginx("server { listen 8082 default_server; }"),
            Some(8082)
        );
        assert_eq!(from_nginx("server { listen [::]:8083; }"), Some(8083));
        assert_eq!(
            from_nginx("server { listen 127.0.0.1:8084 ssl; }"),
            Some(8084)
        );
        assert_eq!(
            from_nginx("# listen 1;\nserver { listen unix:/x.sock; }"),
            None
        );
    }

    #[test]
    fn sources_in_order() {
        let procfile = ("Procfile", "web: gunicorn -b :${PORT:-5000} app\n");
        let dockerfile = ("Dockerfile", "FROM nginx\nEXPOSE 9090\n");
        let nginx = ("nginx.conf", "server { listen 8081; }");
        let project = (
            "project.toml",
            "[[build.env]]\nname = \"PORT\"\nvalue = \"3000\"\n",
        );
        assert_eq!(infer_with(&[procfile, project, dockerfile, nginx]), 5000);
        // A Procfile that names no port defers to the next source.
        assert_eq!(
            infer_with(&[("Procfile", "web: ./run\n"), dockerfile]),
            9090
        );
        assert_eq!(infer_with(&[project, dockerfile, nginx]), 3000);
        // A buildpacks app without a PORT listens on the buildpacks default, whatever else is there.
        assert_eq!(
            infer_with(&[("project.toml", ""), dockerfile]),
            DEFAULT_PORT
        );
        assert_eq!(infer_with(&[dockerfile, nginx]), 9090);
        assert_eq!(infer_with(&[("Dockerfile", "FROM nginx\n"), nginx]), 8081);
        assert_eq!(infer_with(&[nginx]), 8081);
        assert_eq!(infer_with(&[]), DEFAULT_PORT);
        assert_eq!(infer(Path::new("/nonexistent/context")), DEFAULT_PORT);
    }

    #[test]
    fn free_port_is_bindable_and_skips_a_taken_one() {
        let port = free_host_port().expect("a free port in 8080-8179");
        assert!(HOST_PORTS.contains(&port));
        let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        assert_ne!(free_host_port(), Some(port));
    }
}
