//! Background tools (moto server, `cargo lambda watch`) as child processes that never outlive
//! the stack: each runs in its own process group, so stopping it also stops what it started
//! (cargo lambda's function processes).

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A tool running in the background, its output going to a log file.
#[derive(Debug)]
pub struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts `command` in a new process group, stdout and stderr to `log`.
    pub fn spawn(name: &'static str, mut command: Command, log: &Path) -> Result<Self> {
        let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name} ({command:?})"))?;
        Ok(Self {
            name,
            child,
            log: log.to_path_buf(),
        })
    }

    /// Its process id.
    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Where its output goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails with the end of its log when it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); the end of its log {}:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log, 30)
            );
        }
        Ok(())
    }

    /// Waits until something accepts connections on `port`, or fails when the process exits or
    /// `timeout` passes.
    pub async fn wait_for_port(&mut self, port: u16, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on 127.0.0.1:{port} within {timeout:?}; its log {}:\n{}",
                    self.name,
                    self.log.display(),
                    log_tail(&self.log, 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the whole process group: SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let group = self.child.id() as libc::pid_t;
        signal_group(group, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                // The leader is gone; make sure nothing it started lingers.
                signal_group(group, libc::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(group, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `signal` to the children of `parent` running `program` that are in the middle of an
/// invocation: those that used CPU time within `window`, or are stopped (an idle Lambda instance
/// waits for its next invocation without using any, and is never stopped). Returns how many
/// there were.
pub fn signal_working(
    parent: libc::pid_t,
    program: &str,
    window: Duration,
    signal: libc::c_int,
) -> usize {
    let before: Vec<(libc::pid_t, Option<u64>)> = children(parent, program)
        .into_iter()
        .map(|pid| (pid, cpu_ticks(pid)))
        .collect();
    std::thread::sleep(window);
    let working: Vec<libc::pid_t> = before
        .into_iter()
        .filter(|&(pid, ticks)| {
            let stopped = stat_field(pid, 3).as_deref() == Some("T");
            stopped || matches!((ticks, cpu_ticks(pid)), (Some(a), Some(b)) if b > a)
        })
        .map(|(pid, _)| pid)
        .collect();
    for &pid in &working {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, signal);
        }
    }
    working.len()
}

/// The children of `parent` whose executable is named `program` (from `/proc`).
fn children(parent: libc::pid_t, program: &str) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            exe.as_deref().and_then(Path::file_name) == Some(std::ffi::OsStr::new(program))
                && parent_of(*pid) == Some(parent)
        })
        .collect()
}

/// The parent of `pid` (`/proc/<pid>/stat`'s fourth field).
fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    stat_field(pid, 4)?.parse().ok()
}

/// The CPU time `pid` used so far, user and system, in clock ticks (fields 14 and 15).
fn cpu_ticks(pid: libc::pid_t) -> Option<u64> {
    Some(stat_field(pid, 14)?.parse::<u64>().ok()? + stat_field(pid, 15)?.parse::<u64>().ok()?)
}

/// Field `n` (counted from 1, as proc(5) does) of `/proc/<pid>/stat`; fields are counted after
/// the command name, which may itself hold spaces and parentheses.
fn stat_field(pid: libc::pid_t, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name
        .split_whitespace()
        .nth(n.checked_sub(3)?)
        .map(String::from)
}

fn signal_group(group: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a process group.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// The last `lines` lines of a log file (or why it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// A TCP port that is free on 127.0.0.1 right now.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("cannot bind a local port")?;
    Ok(listener.local_addr()?.port())
}

/// Finds `program` on `PATH`, or explains how to get it.
pub fn require_tool(program: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "{program} is not on PATH. `make run` and `make test` install the pinned tools \
                 into .venv (requirements-dev.txt); to run etl-local directly, \
                 `make .venv/.installed` and put .venv/bin first on PATH"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_children_at_work_or_stopped_are_signalled() {
        // A parent with an idle child (sleep) and a busy one (yes).
        let mut parent = Command::new("sh")
            .args(["-c", "sleep 30 & yes > /dev/null & wait"])
            .spawn()
            .unwrap();
        let pid = parent.id() as libc::pid_t;
        let deadline = Instant::now() + Duration::from_secs(10);
        while children(pid, "yes").is_empty() || children(pid, "sleep").is_empty() {
            assert!(Instant::now() < deadline, "the children start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let window = Duration::from_millis(300);
        assert_eq!(signal_working(pid, "sleep", window, 0), 0, "idle");
        assert_eq!(signal_working(pid, "yes", window, libc::SIGSTOP), 1, "busy");
        // Stopped, it uses no CPU, and still counts as in the middle of something.
        assert_eq!(
            signal_working(pid, "yes", window, libc::SIGKILL),
            1,
            "stopped"
        );
        assert_eq!(signal_working(999_999, "yes", window, 0), 0, "not a parent");
        let sleeper = children(pid, "sleep");
        for child in sleeper {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(child, libc::SIGKILL);
            }
        }
        parent.wait().unwrap();
    }
}
