//! A program on a pseudo-terminal of its own, as a learner's terminal runs it: what it
//! writes is the screen (read by a thread, `\r` dropped), keys go in through the master,
//! and Ctrl-C reaches it as SIGINT (`setsid -c` makes the terminal its controlling one).
//! Every wait has a deadline; the program is killed if it outlives the test.
#![allow(dead_code)]

use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, ioctl_tiocgptpeer, openpt, unlockpt};
use rustix::termios::{LocalModes, Winsize, tcgetattr, tcsetwinsize};

pub struct Pty {
    master: std::fs::File,
    screen: Arc<Mutex<String>>,
    child: Child,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Pty {
    /// Starts `program ARGS` (its environment set by `setup`) on a new 50×160 terminal.
    pub fn spawn(program: &str, args: &[&str], setup: impl FnOnce(&mut Command)) -> Pty {
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = openpt(flags).expect("a pseudo-terminal");
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        tcsetwinsize(
            &master,
            Winsize {
                ws_row: 50,
                ws_col: 160,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .unwrap();
        let terminal: OwnedFd = ioctl_tiocgptpeer(&master, flags).unwrap();
        let mut command = Command::new("setsid");
        command
            .args(["--ctty", "--wait", program])
            .args(args)
            .stdin(Stdio::from(terminal.try_clone().unwrap()))
            .stdout(Stdio::from(terminal.try_clone().unwrap()))
            .stderr(Stdio::from(terminal));
        setup(&mut command);
        let child = command
            .spawn()
            .expect("setsid (util-linux) starts the program");
        // `command` holds the terminal's last copies in this process: once it is dropped,
        // reading the master fails (EIO) when the program and its children have exited.
        drop(command);
        let master = std::fs::File::from(master);
        let screen = Arc::new(Mutex::new(String::new()));
        let reader = {
            let mut master = master.try_clone().unwrap();
            let screen = screen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match std::io::Read::read(&mut master, &mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let text = String::from_utf8_lossy(&buf[..n]).replace('\r', "");
                            screen.lock().unwrap().push_str(&text);
                        }
                    }
                }
            })
        };
        Pty {
            master,
            screen,
            child,
            reader: Some(reader),
        }
    }

    /// Everything the program wrote so far.
    pub fn screen(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    /// How much it wrote so far: a mark to wait for what comes after it.
    pub fn mark(&self) -> usize {
        self.screen.lock().unwrap().len()
    }

    /// Waits until `text` shows after `mark`; returns where it ends. Panics with the
    /// screen if it did not within `deadline`, or if the program exited first.
    /// (Looked for every 5 ms, so that a bench can time what it waits for.)
    pub fn wait_for(&mut self, mark: usize, text: &str, deadline: Duration) -> usize {
        let until = Instant::now() + deadline;
        let find = |screen: &Mutex<String>| {
            let screen = screen.lock().unwrap();
            let found = screen.get(mark..).and_then(|s| s.find(text));
            found.map(|at| mark + at + text.len())
        };
        loop {
            if let Some(end) = find(&self.screen) {
                return end;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // What it wrote last may still be on its way through the reader.
                std::thread::sleep(Duration::from_millis(200));
                if let Some(end) = find(&self.screen) {
                    return end;
                }
                panic!(
                    "exited ({status}) before {text:?} showed:\n{}",
                    self.screen()
                );
            }
            if Instant::now() >= until {
                let screen = self.screen();
                panic!(
                    "{text:?} did not show within {deadline:?}:\n{}",
                    screen.get(mark..).unwrap_or(&screen)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits for the program to exit within `deadline` (killed and the test failed if not).
    pub fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader ends once the terminal's last user is gone: its last output
                // is in the screen then (not joined: a stray descendant must not hang us).
                let drained = Instant::now() + Duration::from_secs(2);
                while self.reader.as_ref().is_some_and(|r| !r.is_finished())
                    && Instant::now() < drained
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return status;
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "still running {deadline:?} later; killed:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the terminal is back in its line mode (echo, lines): what a program that
    /// read keys one by one must leave behind.
    pub fn in_line_mode(&self) -> bool {
        let modes = tcgetattr(&self.master).unwrap().local_modes;
        modes.contains(LocalModes::ICANON | LocalModes::ECHO)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
