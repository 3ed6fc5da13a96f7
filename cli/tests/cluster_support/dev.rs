//! `zerodb dev` as a child process: start it, wait until it serves, stop
//! it with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use super::zerodb;

/// A running `zerodb dev` and what it printed until it served.
pub struct Dev {
    pub child: Child,
    stdout: BufReader<ChildStdout>,
    /// The start-up banner, up to and including the "Serving" line.
    pub banner: String,
}

impl Dev {
    /// Starts `zerodb dev` on `dir` with ports from `base` and waits until
    /// it serves. A failed start kills and reaps the child before panicking.
    #[allow(clippy::zombie_processes)]
    pub fn start(dir: &Path, base: u16) -> Dev {
        let mut child = zerodb()
            .args([
                "dev",
                "--base-port",
                &base.to_string(),
                "--metrics-base-port",
                "0",
                "--dir",
            ])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut banner = String::new();
        loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).unwrap_or(0);
            banner.push_str(&line);
            if line.contains("Serving") {
                return Dev {
                    child,
                    stdout,
                    banner,
                };
            }
            if read == 0 || Instant::now() >= deadline {
                // Do not leave the cluster running behind a failed test.
                let _ = child.kill();
                let _ = child.wait();
                panic!("dev did not start: {banner}");
            }
        }
    }

    /// Stops the cluster with SIGTERM, asserts it exited cleanly and returns
    /// what it printed after the banner.
    pub fn stop(mut self) -> String {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let mut rest = String::new();
        for line in (&mut self.stdout).lines() {
            rest.push_str(&line.unwrap_or_default());
            rest.push('\n');
        }
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit:?} {rest}");
        rest
    }
}

/// A test that panics before `stop` must not leave the cluster running.
impl Drop for Dev {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
