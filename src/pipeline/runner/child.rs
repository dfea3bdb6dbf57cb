//! The one place pipeline commands start children, and what SIGINT/SIGTERM/SIGHUP do to `op`.
//!
//! While a child runs (inherited or captured output alike), these signals are relayed to it and
//! `op` ends as soon as the child has: with the child's exit code, or as if killed by the signal
//! when the child was, or 128+N when it exited 0. Between children `op` ends at once, as the
//! signal's default action would. `op` may be PID 1 in its container, where the kernel drops a
//! signal nobody handles, so it catches them itself and exits with 128+N there.
//!
//! The runner runs one child at a time; this module relies on that.

use std::io;
use std::process::{Command, ExitStatus, Output};

use anyhow::Result;

use crate::error::ChildExit;

/// A started child whose signals are looked after; [`Child::wait`] or [`Child::wait_with_output`]
/// ends it.
pub struct Child {
    /// `None` once waited for.
    inner: Option<std::process::Child>,
}

/// How a child ended, and the signal (if any) `op` received while it ran.
pub struct Outcome {
    status: ExitStatus,
    received: Option<Received>,
}

/// A signal `op` received while a child was its current one.
#[derive(Clone, Copy, Debug)]
struct Received {
    signal: i32,
    /// The child had already exited (not yet reaped) when the signal came: its status is its
    /// own, not an answer to the signal, so `op` ends as it would between children.
    late: bool,
}

/// Catches SIGINT/SIGTERM/SIGHUP from now on (once per process; again is a no-op).
pub fn listen() -> io::Result<()> {
    signals::listen()
}

/// Spawns `command`, relaying signals to it from now until it has been waited for.
pub fn spawn(command: &mut Command) -> io::Result<Child> {
    signals::listen()?;
    signals::starting();
    let spawned = command.spawn();
    signals::started(spawned.as_ref().ok().map(std::process::Child::id));
    Ok(Child {
        inner: Some(spawned?),
    })
}

impl Child {
    /// Its stdin, when spawned with `Stdio::piped()`.
    pub fn stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.inner.as_mut().and_then(|child| child.stdin.take())
    }

    pub fn wait(mut self) -> io::Result<Outcome> {
        let status = match self.inner.take() {
            Some(mut child) => child.wait(),
            None => Err(waited()),
        };
        ended(status)
    }

    /// Waits while reading its stdout and stderr (those spawned with `Stdio::piped()`).
    pub fn wait_with_output(mut self) -> io::Result<(Outcome, Vec<u8>, Vec<u8>)> {
        let (status, stdout, stderr) = match self.inner.take().map(|child| child.wait_with_output())
        {
            Some(Ok(Output {
                status,
                stdout,
                stderr,
            })) => (Ok(status), stdout, stderr),
            Some(Err(error)) => (Err(error), Vec::new(), Vec::new()),
            None => (Err(waited()), Vec::new(), Vec::new()),
        };
        Ok((ended(status)?, stdout, stderr))
    }
}

fn waited() -> io::Error {
    io::Error::other("the child was already waited for")
}

/// The child has been reaped (or waiting for it failed).
fn ended(status: io::Result<ExitStatus>) -> io::Result<Outcome> {
    let received = signals::ended();
    match status {
        Ok(status) => Ok(Outcome { status, received }),
        Err(error) => {
            if let Some(received) = received {
                signals::terminate(received.signal);
            }
            Err(error)
        }
    }
}

impl Drop for Child {
    /// A child dropped unwaited (an early return) no longer gets the signals.
    fn drop(&mut self) {
        if self.inner.is_some() {
            signals::ended();
        }
    }
}

impl Outcome {
    /// The exit code `op` passes on: the child's, or 128+N when signal N killed it.
    pub fn code(&self) -> i32 {
        signals::code(&self.status)
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Ends `op` if a signal came while the child ran (see the module comment); otherwise `Ok`
    /// on success and [`ChildExit`] with [`Outcome::code`] on failure.
    pub fn check(self) -> Result<()> {
        if let Some(Received { signal, late }) = self.received {
            if late {
                signals::terminate(signal);
            }
            signals::stop_after(signal, &self.status);
        }
        if self.success() {
            Ok(())
        } else {
            Err(ChildExit(self.code()).into())
        }
    }
}

#[cfg(unix)]
mod signals {
    use std::io::{self, IsTerminal, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

    use rustix::process::{Pid, Signal, kill_process};
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    use super::Received;

    const HANDLED: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

    /// Whom a signal is for right now.
    enum Slot {
        /// No child: the signal ends `op`.
        Idle,
        /// A child is being spawned: signals wait for its pid.
        Starting(Vec<i32>),
        /// A child runs: signals go to it; the first is remembered.
        Running {
            pid: Pid,
            received: Option<Received>,
        },
    }

    static SLOT: Mutex<Slot> = Mutex::new(Slot::Idle);
    static LISTENING: OnceLock<Result<(), String>> = OnceLock::new();

    fn slot() -> MutexGuard<'static, Slot> {
        SLOT.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Catches the signals from now on, on a thread of their own (once per process).
    pub fn listen() -> io::Result<()> {
        LISTENING
            .get_or_init(|| {
                let mut signals = Signals::new(HANDLED).map_err(|error| error.to_string())?;
                // Ctrl-C on a terminal reaches the whole foreground process group, the child
                // included: relaying it too would interrupt the child twice.
                let relay_interrupt = !io::stdin().is_terminal();
                std::thread::Builder::new()
                    .name("signals".into())
                    .spawn(move || {
                        for signal in signals.forever() {
                            deliver(signal, relay_interrupt);
                        }
                    })
                    .map(drop)
                    .map_err(|error| error.to_string())
            })
            .clone()
            .map_err(|error| io::Error::other(format!("cannot handle signals: {error}")))
    }

    fn deliver(signal: i32, relay_interrupt: bool) {
        let mut slot = slot();
        match &mut *slot {
            // Holding the slot, so that no child starts while `op` ends.
            Slot::Idle => terminate(signal),
            Slot::Starting(pending) => pending.push(signal),
            Slot::Running { pid, received } => {
                received.get_or_insert_with(|| Received {
                    signal,
                    late: has_exited(*pid),
                });
                if signal != SIGINT || relay_interrupt {
                    relay(*pid, signal);
                }
            }
        }
    }

    fn relay(pid: Pid, signal: i32) {
        if let Some(signal) = Signal::from_named_raw(signal) {
            // The child may have exited: a zombie ignores it. Between its reaping and `ended`
            // the pid is free, but pids are handed out in turn, so it is not reused that soon.
            let _ = kill_process(pid, signal);
        }
    }

    pub fn starting() {
        *slot() = Slot::Starting(Vec::new());
    }

    /// After a spawn: `pid` runs (and gets the signals that came meanwhile), or the spawn failed
    /// (and a signal that came meanwhile ends `op`).
    pub fn started(pid: Option<u32>) {
        let mut slot = slot();
        let pending = match std::mem::replace(&mut *slot, Slot::Idle) {
            Slot::Starting(pending) => pending,
            _ => Vec::new(),
        };
        let Some(pid) = pid
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(Pid::from_raw)
        else {
            if let Some(&signal) = pending.first() {
                terminate(signal);
            }
            return;
        };
        for &signal in &pending {
            relay(pid, signal);
        }
        *slot = Slot::Running {
            pid,
            received: pending.first().map(|&signal| Received {
                signal,
                late: false,
            }),
        };
    }

    /// The child is gone: back to idle; returns the signal received while it ran.
    pub fn ended() -> Option<Received> {
        match std::mem::replace(&mut *slot(), Slot::Idle) {
            Slot::Running { received, .. } => received,
            Slot::Starting(pending) => pending.first().map(|&signal| Received {
                signal,
                late: false,
            }),
            Slot::Idle => None,
        }
    }

    /// Whether the child has exited already (a zombie, or reaped by now): `waitid` with
    /// `WNOWAIT` looks without reaping, so the waiting thread still gets its status.
    fn has_exited(pid: Pid) -> bool {
        use rustix::process::{WaitId, WaitIdOptions, waitid};
        match waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG,
        ) {
            Ok(status) => status.is_some(),
            Err(error) => error == rustix::io::Errno::CHILD,
        }
    }

    pub fn code(status: &ExitStatus) -> i32 {
        status
            .code()
            .or_else(|| status.signal().map(|signal| 128 + signal))
            .unwrap_or(1)
    }

    /// `op` received `signal` while the child ran, and the child has ended with `status`.
    pub fn stop_after(signal: i32, status: &ExitStatus) -> ! {
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        match status.signal() {
            Some(killed) if HANDLED.contains(&killed) => terminate(killed),
            _ if status.success() => std::process::exit(128 + signal),
            _ => std::process::exit(code(status)),
        }
    }

    /// Ends `op` as `signal`'s default action would; as PID 1 (which that action would not end),
    /// exits with 128+N instead.
    pub fn terminate(signal: i32) -> ! {
        if !rustix::process::getpid().is_init() {
            // Resets the signal to its default action and raises it: the parent sees a death by
            // signal, which a shell running a script needs to stop at Ctrl-C.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
        std::process::exit(128 + signal)
    }
}

#[cfg(not(unix))]
mod signals {
    //! On Windows, Ctrl-C reaches every process attached to the console, the child included.

    use std::io;
    use std::process::ExitStatus;

    pub fn listen() -> io::Result<()> {
        Ok(())
    }

    pub fn starting() {}

    pub fn started(_pid: Option<u32>) {}

    pub fn ended() -> Option<super::Received> {
        None
    }

    pub fn code(status: &ExitStatus) -> i32 {
        status.code().unwrap_or(1)
    }

    pub fn stop_after(_signal: i32, status: &ExitStatus) -> ! {
        std::process::exit(code(status))
    }

    pub fn terminate(signal: i32) -> ! {
        std::process::exit(128 + signal)
    }
}
