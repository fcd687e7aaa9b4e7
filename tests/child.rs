//! Long-running `closest` commands under test (`watch`, `serve`, `mcp`): a child process whose
//! output lines arrive on channels, stopped with SIGINT or killed when the test ends, and a
//! minimal HTTP/1.1 client for 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// A running `closest`; killed on drop if the test did not stop it.
pub(crate) struct Running {
    child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: Receiver<String>,
    pub stderr: Receiver<String>,
    /// Every stderr line seen so far (for failure messages).
    pub seen_stderr: Vec<String>,
}

impl Running {
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_closest"))
            .args(args)
            .env("HF_HUB_OFFLINE", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("closest starts");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        let stdin = child.stdin.take();
        Running {
            child,
            stdin,
            stdout,
            stderr,
            seen_stderr: Vec::new(),
        }
    }

    /// Waits for a stderr line that `matches`, up to `limit`; returns it.
    pub(crate) fn wait_stderr(
        &mut self,
        limit: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen_stderr.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no matching line on stderr within {limit:?}; stderr so far:\n{}",
                    self.seen_stderr.join("\n")
                ),
            }
        }
    }

    /// The next stdout line, up to `limit`.
    pub(crate) fn next_stdout(&mut self, limit: Duration) -> String {
        match self.stdout.recv_timeout(limit) {
            Ok(line) => line,
            Err(_) => {
                while let Ok(line) = self.stderr.try_recv() {
                    self.seen_stderr.push(line);
                }
                panic!(
                    "no stdout line within {limit:?}; stderr so far:\n{}",
                    self.seen_stderr.join("\n")
                )
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit, up to `limit`.
    pub(crate) fn interrupt(&mut self, limit: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT failed");
        self.wait(limit)
    }

    /// Closes stdin and waits for the exit, up to `limit`.
    pub(crate) fn finish(&mut self, limit: Duration) -> ExitStatus {
        drop(self.stdin.take());
        self.wait(limit)
    }

    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "closest did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// An HTTP answer: status code and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    pub body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port` on a fresh connection, as a client on this
/// machine sends it (`Host: 127.0.0.1:port`).
pub(crate) fn http(port: u16, method: &str, target: &str, body: Option<(&str, &[u8])>) -> Answer {
    let host = format!("Host: 127.0.0.1:{port}");
    http_with(port, method, target, &[&host], body)
}

/// [`http`] with the given header lines (`Name: value`) instead of the `Host` line.
pub(crate) fn http_with(
    port: u16,
    method: &str,
    target: &str,
    headers: &[&str],
    body: Option<(&str, &[u8])>,
) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n");
    if let Some((content_type, bytes)) = body {
        request.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    if let Some((_, bytes)) = body {
        // A server refusing a large body may answer and close before reading it all.
        let _ = stream.write_all(bytes);
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// Starts `closest serve` on a free port and returns it with its port.
pub(crate) fn serve(args: &[&str]) -> (Running, u16) {
    let mut all = vec!["serve", "--port", "0"];
    all.extend_from_slice(args);
    let mut server = Running::start(&all);
    let line = server.wait_stderr(Duration::from_secs(120), |line| {
        line.contains("on http://127.0.0.1:")
    });
    let port = line
        .rsplit_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (server, port)
}
