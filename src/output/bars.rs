//! Download progress: bars that fit the terminal's width, and the download phase around them
//! (a GitHub log group; on SIGINT or SIGTERM, the bars cleared and one line saying what stopped).
#![cfg_attr(
    unix,
    expect(clippy::print_stderr, reason = "this module is the printer")
)]

use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{Group, Output};
use crate::toolchain::cache::Entry;
use crate::toolchain::fetch::Progress;

/// Progress of one download, finished when the download ends either way.
pub trait Bar: Progress {
    fn finish(&self);
}

struct NoBar;

impl Progress for NoBar {
    fn start(&self, _total: Option<u64>) {}
    fn advance(&self, _bytes: u64) {}
}

impl Bar for NoBar {
    fn finish(&self) {}
}

struct TerminalBar {
    bar: ProgressBar,
    bars: Arc<MultiProgress>,
}

impl Progress for TerminalBar {
    fn start(&self, total: Option<u64>) {
        self.bar.reset();
        if let Some(total) = total {
            self.bar.set_length(total);
        }
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
}

impl Bar for TerminalBar {
    fn finish(&self) {
        self.bar.finish_and_clear();
        self.bars.remove(&self.bar);
    }
}

/// The bar's layout for a terminal `width` columns wide: the bar itself takes what the text
/// leaves (`wide_bar`), and narrower terminals drop the speed, then the sizes, so that a bar
/// stays on one line.
fn style(width: u16) -> ProgressStyle {
    let template = if width >= 80 {
        "{prefix:>24} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else if width >= 50 {
        "{prefix} [{wide_bar}] {bytes}/{total_bytes}"
    } else {
        "{prefix} [{wide_bar}] {percent:>3}%"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn stderr_width() -> u16 {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_rows, columns)| columns)
}

impl Output {
    pub fn download_bar(&self, entry: &Entry) -> Box<dyn Bar> {
        match &self.bars {
            None => Box::new(NoBar),
            Some(bars) => {
                let bar = bars.add(ProgressBar::hidden());
                bar.set_style(style(stderr_width()));
                bar.set_prefix(format!("{} {}", entry.tool, entry.version));
                bar.enable_steady_tick(Duration::from_millis(120));
                Box::new(TerminalBar {
                    bar,
                    bars: Arc::clone(bars),
                })
            }
        }
    }

    /// The downloads of `labels` begin: a log group in GitHub Actions, a verbose line, and
    /// until the returned phase is dropped, SIGINT/SIGTERM clear the bars and say that the
    /// downloads stopped before op exits (128 + the signal, as if killed by it).
    pub fn download_phase(&self, labels: &[String]) -> DownloadPhase {
        let title = format!("downloading {}", labels.join(", "));
        self.trace(&title);
        DownloadPhase {
            _group: self.group(&title),
            _interrupt: interrupt::Watch::start(self.bars.clone()),
        }
    }
}

/// See [`Output::download_phase`].
pub struct DownloadPhase {
    _group: Group,
    _interrupt: interrupt::Watch,
}

/// What to print when a download is interrupted.
fn interrupted_line() -> &'static str {
    "interrupted: the downloads stopped; a tool that had not finished was not installed"
}

#[cfg(unix)]
mod interrupt {
    use std::sync::Arc;

    use indicatif::MultiProgress;
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::{Handle, Signals};

    /// A thread waiting for SIGINT/SIGTERM while downloads run.
    pub struct Watch {
        handle: Option<Handle>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Watch {
        pub fn start(bars: Option<Arc<MultiProgress>>) -> Watch {
            let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
                return Watch {
                    handle: None,
                    thread: None,
                };
            };
            let handle = signals.handle();
            let thread = std::thread::spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    if let Some(bars) = &bars {
                        let _ = bars.clear();
                        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
                    }
                    eprintln!("{}", super::interrupted_line());
                    std::process::exit(128 + signal);
                }
            });
            Watch {
                handle: Some(handle),
                thread: Some(thread),
            }
        }
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            if let Some(handle) = self.handle.take() {
                handle.close();
            }
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(not(unix))]
mod interrupt {
    use std::sync::Arc;

    use indicatif::MultiProgress;

    /// Ctrl-C ends the process as usual on this platform.
    pub struct Watch;

    impl Watch {
        pub fn start(_bars: Option<Arc<MultiProgress>>) -> Watch {
            let _ = super::interrupted_line;
            Watch
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use indicatif::{ProgressDrawTarget, TermLike};

    use super::*;

    /// A terminal of a given width that records the lines drawn on it.
    #[derive(Debug)]
    struct Narrow {
        width: u16,
        lines: Arc<Mutex<Vec<String>>>,
    }

    impl TermLike for Narrow {
        fn width(&self) -> u16 {
            self.width
        }
        fn move_cursor_up(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.is_empty() {
                self.lines.lock().unwrap().push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_bar_stays_on_one_line_at_any_width() {
        for width in [40u16, 50, 79, 95, 160] {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let target = ProgressDrawTarget::term_like(Box::new(Narrow {
                width,
                lines: Arc::clone(&lines),
            }));
            let bar = ProgressBar::with_draw_target(Some(65_000_000), target);
            bar.set_style(style(width));
            bar.set_prefix("skaffold 2.14.0-linux");
            bar.set_position(12_345_678);
            bar.tick();
            let drawn = lines.lock().unwrap().clone();
            assert!(!drawn.is_empty(), "nothing drawn at {width}");
            for line in drawn {
                let columns = console::measure_text_width(&line);
                assert!(
                    columns <= usize::from(width),
                    "{columns} columns at width {width}: {line:?}"
                );
                assert!(
                    columns + 5 >= usize::from(width),
                    "the bar does not use the width {width}: {line:?}"
                );
            }
        }
    }
}
