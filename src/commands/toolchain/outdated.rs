//! `op toolchain outdated` (each pin against its newest upstream release) and the choice behind
//! `lock update TOOL@latest` and `--all`: the newest release at least `--min-age` old.

use std::cmp::Ordering;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::cli::{LatestArgs, OutdatedArgs};
use crate::error::{Code, OpError};
use crate::toolchain::lock::Tool;
use crate::toolchain::refresh::runtime;
use crate::toolchain::releases::{self, Lister, Release};
use crate::toolchain::{Toolchain, timestamp, version};

/// `--min-age`: `0`, a number of days (`3d`), or a Go duration as kubectl takes (`24h`, `90m`,
/// `1h30m`).
pub fn parse_min_age(text: &str) -> Result<Duration> {
    let trimmed = text.trim();
    if let Some(days) = trimmed.strip_suffix('d')
        && let Ok(days) = days.parse::<u64>()
    {
        return days
            .checked_mul(86_400)
            .filter(|seconds| *seconds <= 3650 * 86_400)
            .map(Duration::from_secs)
            .ok_or_else(|| OpError::config(format!("--min-age {text:?}: at most 3650d")).into());
    }
    crate::pipeline::watch::duration::parse(trimmed, "--min-age").map_err(|error| {
        OpError::config(format!(
            "{error}; --min-age takes 0, days (3d) or a duration like 24h or 90m"
        ))
        .into()
    })
}

/// One release as `outdated --json` shows it.
#[derive(Serialize)]
struct Seen {
    version: String,
    tag: String,
    /// RFC 3339, when the listing says.
    published: Option<String>,
    age_seconds: Option<u64>,
    /// Published at least `--min-age` ago.
    old_enough: bool,
}

impl Seen {
    fn of(release: &Release, min_age: Duration, now: i64) -> Seen {
        Seen {
            version: release.written(),
            tag: release.tag.clone(),
            published: release.published.map(timestamp::format_rfc3339),
            age_seconds: release.age(now).map(|age| age.as_secs()),
            old_enough: release.old_enough(min_age, now),
        }
    }

    /// `1.36.0 (5d old)`, `2.8.0 (3h old, under --min-age 24h)`.
    fn describe(&self, min_age: &str) -> String {
        let age = self.age_seconds.map_or("age unknown".to_string(), |age| {
            format!("{} old", timestamp::human(Duration::from_secs(age)))
        });
        if self.old_enough {
            format!("{} ({age})", self.version)
        } else {
            format!("{} ({age}, under --min-age {min_age})", self.version)
        }
    }
}

/// One tool's line of `outdated`.
#[derive(Serialize)]
struct Row {
    tool: String,
    pinned: String,
    /// The newest release (pre-releases only with `--pre`).
    latest: Option<Seen>,
    /// The newest release of the pinned major.minor.
    latest_patch: Option<Seen>,
    /// What `lock update TOOL@latest` pins now: the newest release at least `--min-age` old.
    candidate: Option<String>,
    /// A candidate newer than the pin exists.
    outdated: bool,
}

/// What the listings say about one tool.
struct Verdict {
    releases: Vec<Release>,
    pinned: semver::Version,
}

/// Each tool read, with what its listings say.
type Found<'a> = Vec<(&'a Tool, Verdict)>;

/// The tools to look at: those named, else every tool whose template lists `releases`.
fn tools_to_check<'a>(toolchain: &'a Toolchain, names: &[String]) -> Result<Vec<&'a Tool>> {
    let listed = |tool: &Tool| {
        tool.template
            .as_ref()
            .is_some_and(|template| !template.releases.is_empty())
    };
    if names.is_empty() {
        let mut tools = Vec::new();
        for tool in &toolchain.lock()?.tools {
            if listed(tool) {
                tools.push(tool);
            } else {
                toolchain.output.warn(&format!(
                    "{} {}: its template lists no `releases`; not checked",
                    tool.name, tool.version
                ));
            }
        }
        return Ok(tools);
    }
    names
        .iter()
        .map(|name| {
            let tool = toolchain.lock()?.tool(name)?;
            if !listed(tool) {
                return Err(OpError::config(format!(
                    "{}: tool `{name}` has no `releases` in its template, so its upstream releases are unknown",
                    toolchain.lock()?.origin
                ))
                .with_hint("add e.g. releases = \"github:OWNER/REPO\" to its [tools.NAME.template]; README.md, \"Keeping pins current\"")
                .into());
            }
            Ok(tool)
        })
        .collect()
}

/// Reads each tool's listings. A listing that cannot be read is reported and the others go on;
/// the first such error is returned beside the results.
fn read_all<'a>(
    toolchain: &Toolchain,
    tools: &[&'a Tool],
) -> Result<(Found<'a>, Option<anyhow::Error>)> {
    let mut lister = Lister::new(&toolchain.settings, &toolchain.output);
    runtime()?.block_on(async {
        let mut found = Vec::new();
        let mut first_error = None;
        for tool in tools {
            let label = format!("{} {}", tool.name, tool.version);
            let Some(pinned) = version::parse(&tool.version) else {
                toolchain.output.warn(&format!(
                    "{label}: the pinned version is not a version semver can order; not checked"
                ));
                continue;
            };
            let sources = &tool.template.as_ref().expect("checked").releases;
            match lister.list(sources, &tool.version, &label).await {
                Ok(releases) => found.push((*tool, Verdict { releases, pinned })),
                Err(error)
                    if crate::error::exit_code(&error) == Code::Download as i32
                        && tools.len() > 1 =>
                {
                    // The first is the exit error, printed last; later ones are warnings.
                    match first_error {
                        None => first_error = Some(error),
                        Some(_) => toolchain.output.warn(&format!("{error:#}")),
                    }
                }
                Err(error) => return Err(error),
            }
        }
        anyhow::Ok((found, first_error))
    })
}

/// `op toolchain outdated`.
pub fn run(toolchain: &Toolchain, args: OutdatedArgs) -> Result<()> {
    let min_age = parse_min_age(&args.latest.min_age)?;
    let tools = tools_to_check(toolchain, &args.tools)?;
    let (found, failure) = read_all(toolchain, &tools)?;
    let now = timestamp::now();
    let pre = args.latest.pre;
    let rows: Vec<Row> = found
        .iter()
        .map(|(tool, verdict)| {
            let candidate = releases::candidate(&verdict.releases, pre, min_age, now);
            Row {
                tool: tool.name.clone(),
                pinned: tool.version.clone(),
                latest: releases::newest(&verdict.releases, pre)
                    .map(|release| Seen::of(release, min_age, now)),
                latest_patch: releases::newest_patch(&verdict.releases, &verdict.pinned, pre)
                    .map(|release| Seen::of(release, min_age, now)),
                candidate: candidate.map(Release::written),
                outdated: candidate.is_some_and(|release| {
                    version::compare(&release.version, &verdict.pinned) == Ordering::Greater
                }),
            }
        })
        .collect();
    if args.json {
        #[derive(Serialize)]
        struct Body<'a> {
            lock: String,
            tools: &'a [Row],
        }
        toolchain.output.json(
            "toolchain outdated",
            &Body {
                lock: toolchain.lock()?.origin.to_string(),
                tools: &rows,
            },
        )?;
    } else {
        table(toolchain, &rows, &args.latest);
    }
    if let Some(error) = failure {
        return Err(error);
    }
    let behind: Vec<String> = rows
        .iter()
        .filter(|row| row.outdated)
        .map(|row| {
            format!(
                "{} {} -> {}",
                row.tool,
                row.pinned,
                row.candidate.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if behind.is_empty() {
        toolchain.output.info(&format!(
            "{} checked: every pin is current (releases younger than {} not counted)",
            crate::output::count(rows.len(), "tool"),
            args.latest.min_age
        ));
        return Ok(());
    }
    Err(OpError::new(
        Code::Outdated,
        format!(
            "{} a newer release: {}",
            if behind.len() == 1 {
                "1 tool has".to_string()
            } else {
                format!("{} tools have", behind.len())
            },
            behind.join(", ")
        ),
    )
    .with_hint("`op toolchain lock update --all` pins them (TOOL@latest for one tool)")
    .into())
}

fn table(toolchain: &Toolchain, rows: &[Row], latest: &LatestArgs) {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            let describe = |seen: &Option<Seen>| {
                seen.as_ref()
                    .map_or("-".to_string(), |seen| seen.describe(&latest.min_age))
            };
            let status = match (&row.candidate, row.outdated) {
                (Some(candidate), true) => format!("outdated: latest pins {candidate}"),
                _ => "current".to_string(),
            };
            [
                row.tool.clone(),
                row.pinned.clone(),
                describe(&row.latest),
                describe(&row.latest_patch),
                status,
            ]
        })
        .collect();
    let header = ["TOOL", "PINNED", "LATEST", "LATEST PATCH", "STATUS"];
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if index == 4 {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:width$}  "));
            }
        }
        text
    };
    toolchain.output.data(&line(header));
    for row in &cells {
        toolchain
            .output
            .data(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
}

/// `lock update` specs with `TOOL@latest` (and `--all`, every tool with `releases`) turned into
/// `TOOL@VERSION`: the newest release at least `--min-age` old. A tool already at that release
/// (or past it) is left out.
pub fn resolve_specs(
    toolchain: &Toolchain,
    specs: &[String],
    all: bool,
    latest: &LatestArgs,
) -> Result<Vec<String>> {
    let min_age = parse_min_age(&latest.min_age)?;
    let wanted: Vec<String> = if all {
        tools_to_check(toolchain, &[])?
            .iter()
            .map(|tool| tool.name.clone())
            .collect()
    } else {
        specs
            .iter()
            .filter_map(|spec| spec.strip_suffix("@latest").map(str::to_string))
            .collect()
    };
    if wanted.is_empty() {
        return Ok(specs.to_vec());
    }
    let tools = tools_to_check(toolchain, &wanted)?;
    let mut lister = Lister::new(&toolchain.settings, &toolchain.output);
    let now = timestamp::now();
    let mut chosen = Vec::new();
    runtime()?.block_on(async {
        for tool in &tools {
            let label = format!("{} {}", tool.name, tool.version);
            let sources = &tool.template.as_ref().expect("checked").releases;
            let listed = lister.list(sources, &tool.version, &label).await?;
            let Some(release) = releases::candidate(&listed, latest.pre, min_age, now) else {
                if all {
                    toolchain.output.info(&format!(
                        "{label}: no release is at least --min-age {} old yet; left as it is",
                        latest.min_age
                    ));
                    continue;
                }
                let newest = releases::newest(&listed, latest.pre)
                    .map_or("no release at all".to_string(), |newest| {
                        Seen::of(newest, min_age, now).describe(&latest.min_age)
                    });
                return Err(OpError::config(format!(
                    "{label}: no release is at least --min-age {} old (newest: {newest})",
                    latest.min_age
                ))
                .with_hint("wait, or lower --min-age (0 takes the newest release)")
                .into());
            };
            let newer = version::parse(&tool.version).is_none_or(|pinned| {
                version::compare(&release.version, &pinned) == Ordering::Greater
            });
            if !newer {
                toolchain.output.info(&format!(
                    "{}: {} is already the newest release at least --min-age {} old{}",
                    tool.name,
                    tool.version,
                    latest.min_age,
                    if release.written() == tool.version {
                        String::new()
                    } else {
                        format!(" ({} is)", release.written())
                    }
                ));
                continue;
            }
            toolchain.output.info(&format!(
                "{}: latest is {}",
                tool.name,
                Seen::of(release, min_age, now).describe(&latest.min_age)
            ));
            chosen.push((tool.name.clone(), release.written()));
        }
        anyhow::Ok(())
    })?;
    if all {
        return Ok(chosen
            .into_iter()
            .map(|(name, written)| format!("{name}@{written}"))
            .collect());
    }
    // Each TOOL@latest becomes TOOL@VERSION, or goes when the pin is already there.
    Ok(specs
        .iter()
        .filter_map(|spec| match spec.strip_suffix("@latest") {
            Some(name) => chosen
                .iter()
                .find(|(tool, _)| tool == name)
                .map(|(_, written)| format!("{name}@{written}")),
            None => Some(spec.clone()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_ages() {
        let age = |text: &str| parse_min_age(text).map(|age| age.as_secs()).ok();
        assert_eq!(age("0"), Some(0));
        assert_eq!(age("24h"), Some(86_400));
        assert_eq!(age("3d"), Some(3 * 86_400));
        assert_eq!(age("1h30m"), Some(5400));
        for bad in ["", "3", "-1h", "1w", "4000d", "soon"] {
            assert_eq!(age(bad), None, "{bad}");
        }
    }
}
