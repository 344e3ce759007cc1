//! Running the real `flagctl serve` on a free loopback port: start it,
//! wait for `listening on URL`, talk HTTP to it (ureq), read its change
//! stream from a raw socket, stop it with SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::cli::Repo;

/// A running relay.
pub struct Relay {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (or `https://`).
    pub base: String,
    /// Where its stderr (the log) goes.
    log: std::path::PathBuf,
    _log_dir: tempfile::TempDir,
}

/// What the relay answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl Relay {
    /// `flagctl serve --listen 127.0.0.1:0 ARGS` in `repo`, ready to answer.
    pub fn start(repo: &Repo, args: &[&str]) -> Relay {
        Relay::try_start(repo, args).unwrap_or_else(|error| panic!("{error}"))
    }

    /// Like [`Relay::start`], or what it printed when it did not start.
    pub fn try_start(repo: &Repo, args: &[&str]) -> Result<Relay, String> {
        Relay::try_start_on(repo, "127.0.0.1:0", args)
    }

    /// `flagctl serve --listen LISTEN ARGS` (a relay restarted on the port
    /// of one that stopped), or what it printed when it did not start.
    pub fn try_start_on(repo: &Repo, listen: &str, args: &[&str]) -> Result<Relay, String> {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("stderr.log");
        let mut command = repo.command(&["serve", "--listen", listen, "--log-format", "text"]);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            let status = wait_timeout(&mut child, Duration::from_secs(10));
            return Err(format!(
                "the relay did not start ({status:?}); stdout: {line:?}; stderr:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ));
        };
        Ok(Relay {
            child: Some(child),
            base: base.to_owned(),
            log,
            _log_dir: log_dir,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        request(
            &agent(),
            "GET",
            &format!("{}{path}", self.base),
            headers,
            None,
        )
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        request(
            &agent(),
            "POST",
            &format!("{}{path}", self.base),
            headers,
            Some(body.as_bytes()),
        )
    }

    /// `POST` with `Content-Type: application/json` and `headers`.
    pub fn post_json(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Answer {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        self.post(path, &all, &body.to_string())
    }

    /// Evaluates `flag` for `context` (single-flag OFREP).
    pub fn evaluate(&self, flag: &str, context: serde_json::Value, token: Option<&str>) -> Answer {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|value| vec![("Authorization", value)])
            .unwrap_or_default();
        self.post_json(
            &format!("/ofrep/v1/evaluate/flags/{flag}"),
            &headers,
            &serde_json::json!({ "context": context }),
        )
    }

    /// SIGTERM, then the exit status (within `timeout`).
    pub fn stop(mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take().unwrap();
        terminate(&child);
        wait_timeout(&mut child, timeout)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// Waits for `child` at most `timeout`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP client that reports every status as an answer, not an error.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// One request with `agent`.
pub fn request(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let result = match body {
        Some(body) => agent.run(builder.body(body.to_vec()).unwrap()),
        None => agent.run(builder.body(()).unwrap()),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// A change-stream connection read line by line.
pub struct Stream {
    reader: BufReader<TcpStream>,
    /// The response's status line and headers.
    pub head: String,
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl Stream {
    /// `GET request_uri` on the relay at `port`, headers read.
    pub fn open(port: u16, request_uri: &str) -> Stream {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            socket,
            "GET {request_uri} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(socket);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        Stream { reader, head }
    }

    /// The next event (comments and chunk sizes skipped), waiting at most
    /// `timeout`; `None` on timeout or when the stream ends.
    pub fn next_event(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        let mut event = SseEvent {
            id: None,
            event: None,
            data: String::new(),
        };
        let mut seen = false;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.reader
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(_) => return None,
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if seen {
                    return Some(event);
                }
                continue;
            }
            if let Some(value) = line.strip_prefix("data:") {
                event.data.push_str(value.trim_start());
                seen = true;
            } else if let Some(value) = line.strip_prefix("id:") {
                event.id = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("event:") {
                event.event = Some(value.trim().to_owned());
            }
            // Comments (`:`), chunk sizes of the chunked encoding: skipped.
        }
    }

    /// Whether the server closed the stream within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buffer = [0u8; 1024];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.reader
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.reader.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(error)
                    if error.kind() == std::io::ErrorKind::WouldBlock
                        || error.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
        false
    }
}
