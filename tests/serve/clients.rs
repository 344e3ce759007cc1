//! OpenFeature's own clients against the real relay: the Python SDK with
//! `openfeature-provider-ofrep`, the server-side JavaScript SDK with
//! `@openfeature/ofrep-provider`, and the web SDK with
//! `@openfeature/ofrep-web-provider` (bulk evaluation, then the change
//! stream, under node with the `eventsource` package).
//!
//! `tests/clients/install.sh` installs the pinned packages into
//! `<target>/client-cache` (or `$FLAGCTL_TEST_CLIENT_CACHE`) once per test
//! process. When a registry cannot be
//! reached the tests print `SKIPPED: <reason>` and pass, except under CI
//! (`CI` set), where they fail. The client programs in `tests/clients/` print
//! one JSON object per evaluation; the tests compare them with what the
//! relay itself answers over OFREP and with values known from `flags/`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::cli::Repo;
use crate::harness::{self, Relay};

/// A token of the relay's tokens file (`TOKEN: prod`).
const TOKEN: &str = "client-tests-0123456789abcdef";

/// How long one client program may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------
// Installation

/// Why the clients are not there.
#[derive(Debug)]
enum Missing {
    /// A registry could not be reached: skip (fail under CI).
    Unreachable(String),
    /// Anything else: fail.
    Broken(String),
}

/// The installed clients' cache directory, or `None` after printing why
/// the test is skipped.
fn clients() -> Option<&'static Path> {
    static INSTALLED: OnceLock<Result<PathBuf, Missing>> = OnceLock::new();
    match INSTALLED.get_or_init(install) {
        Ok(cache) => Some(cache),
        Err(Missing::Unreachable(reason)) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: {reason}");
            None
        }
        Err(Missing::Unreachable(reason)) => {
            panic!("CI reaches the package registries, yet: {reason}")
        }
        Err(Missing::Broken(reason)) => panic!("{reason}"),
    }
}

fn install() -> Result<PathBuf, Missing> {
    let cache = match std::env::var_os("FLAGCTL_TEST_CLIENT_CACHE") {
        Some(cache) => PathBuf::from(cache),
        None => {
            let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
            target.parent().unwrap_or(target).join("client-cache")
        }
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/install.sh");
    let mut command = Command::new("bash");
    command.arg(&script).arg(&cache);
    let run = run(command, Duration::from_secs(900));
    match run.status.and_then(|status| status.code()) {
        Some(0) => Ok(cache),
        Some(75) => Err(Missing::Unreachable(format!(
            "the OpenFeature clients cannot be installed, a package registry is out of reach:\n{}",
            last_lines(&run.stderr, 8)
        ))),
        _ => Err(Missing::Broken(format!(
            "installing the OpenFeature clients failed ({}):\n{}{}",
            run.describe_status(),
            run.stdout,
            run.stderr
        ))),
    }
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

// ---------------------------------------------------------------------------
// Running client programs

/// What a program did within its time.
struct Finished {
    /// `None`: killed after the timeout.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn describe_status(&self) -> String {
        match self.status {
            Some(status) => status.to_string(),
            None => "killed after its timeout".to_owned(),
        }
    }

    /// Asserts a clean exit; each stdout line as JSON.
    #[track_caller]
    fn lines(&self, what: &str) -> Vec<Value> {
        assert!(
            self.status.is_some_and(|status| status.success()),
            "{what}: {}\nstdout:\n{}\nstderr:\n{}",
            self.describe_status(),
            self.stdout,
            self.stderr
        );
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|error| {
                    panic!(
                        "{what} printed a line that is not JSON ({error}): {line}\nstderr:\n{}",
                        self.stderr
                    )
                })
            })
            .collect()
    }
}

/// Reads all of `from` on a thread.
fn drain(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `command` to its end, killing it after `timeout`.
fn run(mut command: Command, timeout: Duration) -> Finished {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = harness::wait_timeout(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A program whose stdout is read line by line while it runs (killed when
/// dropped).
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// Every line read so far, for failure messages.
    seen: Vec<String>,
}

impl Running {
    fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(drain(child.stderr.take().unwrap()));
        Running {
            child,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    /// The next stdout line as JSON, waiting at most until `deadline`.
    fn next(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.checked_duration_since(Instant::now())?;
        let line = self.lines.recv_timeout(left).ok()?;
        self.seen.push(line.clone());
        Some(serde_json::from_str(&line).unwrap_or_else(|error| {
            panic!(
                "the client printed a line that is not JSON ({error}): {line}\n{}",
                self.report()
            )
        }))
    }

    /// Reads lines until one has `kind`, returning those before it.
    #[track_caller]
    fn until(&mut self, kind: &str, deadline: Instant) -> Vec<Value> {
        let mut before = Vec::new();
        loop {
            match self.next(deadline) {
                Some(line) if line["kind"] == kind => return before,
                Some(line) => before.push(line),
                None => panic!("no `{kind}` line in time\n{}", self.report()),
            }
        }
    }

    /// Waits for the exit (killing the program after `timeout`).
    fn finish(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = harness::wait_timeout(&mut self.child, timeout);
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        status
    }

    /// What it printed so far, and its stderr once it exited.
    fn report(&mut self) -> String {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default();
        format!("stdout:\n{}\nstderr:\n{stderr}", self.seen.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The repository, the cases and what they must give

/// The example root plus an integer flag, a disabled string flag without an
/// off variant (nothing is served: the caller's default applies) and the
/// kill switch `recommendations-panel` pulled in prod.
fn repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "flags/base/max-items.yaml",
        "key: max-items\ntype: number\nvariants: { small: 10, large: 20 }\nrules:\n  - name: pro\n    when: { attr: plan, op: eq, value: pro }\n    serve: large\ndefault: small\n",
    );
    repo.write(
        "flags/base/theme.yaml",
        "key: theme\ntype: string\nenabled: false\nvariants: { light: \"#ffffff\", dark: \"#000000\" }\ndefault: dark\n",
    );
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "Add max-items and theme"]);
    let run = repo.flagctl(&["disable", "recommendations-panel", "--env", "prod", "--yes"]);
    assert_eq!(run.code, 0, "{run:#?}");
    repo
}

/// A tokens file giving [`TOKEN`] `prod`.
fn tokens_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.yaml");
    std::fs::write(&path, format!("{TOKEN}: prod\n")).unwrap();
    (dir, path)
}

/// What a client must report for a case.
#[derive(Clone, Debug)]
enum Expect {
    /// What the relay serves (value, variant and reason as its own OFREP
    /// answer has them), and `Some` value when known from `flags/`.
    Served(Option<Value>, &'static str),
    /// The caller's default with no error, and this reason.
    CodeDefault(&'static str),
    /// The caller's default, reason `ERROR` and this error code.
    Error(&'static str),
}

#[derive(Clone, Debug)]
struct Case {
    flag: &'static str,
    /// `boolean`, `string`, `integer`, `float` or `object`.
    method: &'static str,
    default: Value,
    context: Value,
    expect: Expect,
}

fn case(
    flag: &'static str,
    method: &'static str,
    default: Value,
    context: &Value,
    expect: Expect,
) -> Case {
    Case {
        flag,
        method,
        default,
        context: context.clone(),
        expect,
    }
}

/// The evaluations every per-flag client runs.
#[rustfmt::skip]
fn common_cases() -> Vec<Case> {
    use Expect::{CodeDefault, Error, Served};
    let user = json!({"targetingKey": "user-42", "country": "DE"});
    let alice = json!({"targetingKey": "alice"});
    let pro = json!({"targetingKey": "u", "plan": "pro"});
    let ios = json!({"targetingKey": "u", "platform": "ios", "app_version": "4.3.0"});
    let no_key = json!({"country": "DE"});
    vec![
        case("new-checkout", "boolean", json!(false), &alice, Served(Some(json!(true)), "TARGETING_MATCH")),
        case("new-checkout", "boolean", json!(true), &user, Served(None, "SPLIT")),
        case("checkout-button-color", "string", json!("none"), &user, Served(None, "SPLIT")),
        case("max-items", "integer", json!(0), &pro, Served(Some(json!(20)), "TARGETING_MATCH")),
        case("max-items", "integer", json!(0), &user, Served(Some(json!(10)), "DEFAULT")),
        case("search-ranking-boost", "float", json!(0.5), &ios, Served(Some(json!(1.5)), "TARGETING_MATCH")),
        case("search-ranking-boost", "float", json!(0.5), &user, Served(Some(json!(1.0)), "DEFAULT")),
        case("api-rate-limits", "object", json!({}), &pro, Served(Some(json!({"rpm": 6000, "burst": 1000})), "TARGETING_MATCH")),
        case("legacy-export", "boolean", json!(false), &user, Served(Some(json!(true)), "STATIC")),
        case("recommendations-panel", "boolean", json!(true), &user, Served(Some(json!(false)), "DISABLED")),
        case("no-such-flag", "boolean", json!(true), &user, Error("FLAG_NOT_FOUND")),
        case("no-such-flag", "object", json!({"fallback": 1}), &user, Error("FLAG_NOT_FOUND")),
        case("new-checkout", "string", json!("fallback"), &alice, Error("TYPE_MISMATCH")),
        case("new-checkout", "boolean", json!(true), &no_key, Error("TARGETING_KEY_MISSING")),
        case("theme", "string", json!("fallback"), &user, CodeDefault("DISABLED")),
    ]
}

/// The flags the web client reads from its one bulk evaluation (its
/// context is fixed: [`WEB_CONTEXT`]).
#[rustfmt::skip]
fn web_cases() -> Vec<Case> {
    use Expect::{CodeDefault, Error, Served};
    let none = Value::Null;
    vec![
        case("checkout-button-color", "string", json!("none"), &none, Served(None, "SPLIT")),
        case("max-items", "integer", json!(0), &none, Served(Some(json!(20)), "TARGETING_MATCH")),
        case("search-ranking-boost", "float", json!(0.5), &none, Served(Some(json!(1.5)), "TARGETING_MATCH")),
        case("api-rate-limits", "object", json!({}), &none, Served(Some(json!({"rpm": 6000, "burst": 1000})), "TARGETING_MATCH")),
        case("legacy-export", "boolean", json!(false), &none, Served(Some(json!(true)), "STATIC")),
        case("recommendations-panel", "boolean", json!(true), &none, Served(Some(json!(false)), "DISABLED")),
        case("theme", "string", json!("fallback"), &none, CodeDefault("DISABLED")),
        case("no-such-flag", "boolean", json!(true), &none, Error("FLAG_NOT_FOUND")),
        case("new-checkout", "string", json!("fallback"), &none, Error("TYPE_MISMATCH")),
        // Last: the flag the test then disables.
        case("new-checkout", "boolean", json!(false), &none, Served(Some(json!(true)), "TARGETING_MATCH")),
    ]
}

fn cases_file(cases: &[Case]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    let cases: Vec<Value> = cases
        .iter()
        .map(|case| json!({"flag": case.flag, "method": case.method, "default": case.default, "context": case.context}))
        .collect();
    std::fs::write(file.path(), Value::Array(cases).to_string()).unwrap();
    file
}

/// Whether `value` has the JSON kind `method` asks for.
fn kind_fits(method: &str, value: &Value) -> bool {
    match method {
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "float" => value.is_f64(),
        "object" => value.is_object() || value.is_array(),
        _ => false,
    }
}

/// Whether two values are equal; unless `strict`, numbers are compared as
/// JavaScript does (`1` is `1.0`).
fn same(left: &Value, right: &Value, strict: bool) -> bool {
    match (left, right) {
        _ if strict => left == right,
        (Value::Number(left), Value::Number(right)) => left.as_f64() == right.as_f64(),
        (Value::Array(left), Value::Array(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .zip(right)
                    .all(|(left, right)| same(left, right, strict))
        }
        (Value::Object(left), Value::Object(right)) => {
            left.len() == right.len()
                && left.iter().all(|(key, value)| {
                    right
                        .get(key)
                        .is_some_and(|other| same(value, other, strict))
                })
        }
        _ => left == right,
    }
}

/// Checks what a client reported for `case` (one line of its output)
/// against `direct`, the relay's own OFREP answer for the same evaluation.
#[track_caller]
fn check(client: &str, case: &Case, line: &Value, direct: &Value) {
    let what = format!(
        "{client}, {} as {} for {}: got {line}; the relay answers {direct}",
        case.flag, case.method, case.context
    );
    assert_eq!(line["flag"], case.flag, "{what}");
    assert_eq!(line["method"], case.method, "{what}");
    match &case.expect {
        Expect::Served(known, reason) => {
            assert_eq!(line["errorCode"], Value::Null, "{what}");
            assert_eq!(line["reason"], *reason, "{what}");
            assert_eq!(line["reason"], direct["reason"], "{what}");
            assert_eq!(line["variant"], direct["variant"], "{what}");
            assert!(
                line["variant"]
                    .as_str()
                    .is_some_and(|variant| !variant.is_empty()),
                "{what}"
            );
            // Python keeps the JSON kind (20, not 20.0; 1.0, not 1); node's
            // numbers have one kind and print 1.0 as 1.
            let strict = client == "python";
            assert!(same(&line["value"], &direct["value"], strict), "{what}");
            if let Some(known) = known {
                assert!(same(&line["value"], known, strict), "{what}");
            }
            if strict || !matches!(case.method, "integer" | "float") {
                assert!(kind_fits(case.method, &line["value"]), "{what}");
            }
        }
        Expect::CodeDefault(reason) => {
            assert_eq!(line["errorCode"], Value::Null, "{what}");
            assert_eq!(line["value"], case.default, "{what}");
            assert_eq!(line["reason"], *reason, "{what}");
            // Nothing served: no `value` (the caller's default applies),
            // an empty `variant` (the Python provider needs the member).
            assert_eq!(direct["reason"], *reason, "{what}");
            assert!(direct.get("value").is_none(), "{what}");
            assert_eq!(direct["variant"], "", "{what}");
        }
        Expect::Error(code) => {
            assert_eq!(line["value"], case.default, "{what}");
            assert_eq!(line["reason"], "ERROR", "{what}");
            assert_eq!(line["errorCode"], *code, "{what}");
            // The relay's own errors (not the client's type checks, and
            // none in a bulk answer) carry `key` and `errorCode`.
            if matches!(*code, "FLAG_NOT_FOUND" | "TARGETING_KEY_MISSING") && !direct.is_null() {
                assert_eq!(direct["key"], case.flag, "{what}");
                assert_eq!(direct["errorCode"], *code, "{what}");
            }
        }
    }
}

/// Runs a per-flag client over `cases` and checks every line.
fn run_cases(
    client: &str,
    mut command: Command,
    cases: &[Case],
    relay: &Relay,
    token: Option<&str>,
) {
    let file = cases_file(cases);
    command.arg(&relay.base).arg(file.path());
    if let Some(token) = token {
        command.arg(token);
    }
    let finished = run(command, CLIENT_TIMEOUT);
    let lines = finished.lines(client);
    assert_eq!(
        lines.len(),
        cases.len(),
        "{client}: one line per case\nstdout:\n{}\nstderr:\n{}",
        finished.stdout,
        finished.stderr
    );
    for (case, line) in cases.iter().zip(&lines) {
        let direct = relay
            .evaluate(case.flag, case.context.clone(), token)
            .json();
        check(client, case, line, &direct);
    }
}

fn python(cache: &Path) -> Command {
    let mut command = Command::new(cache.join("py/bin/python"));
    command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/ofrep_python.py"));
    command
}

fn node(cache: &Path, program: &str) -> Command {
    let mut command = Command::new("node");
    command.arg(cache.join("node").join(program));
    command
}

// ---------------------------------------------------------------------------
// The tests

#[test]
fn clients_python_sdk_with_the_ofrep_provider_reads_every_type() {
    let Some(cache) = clients() else { return };
    let repo = repo();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let mut cases = common_cases();
    // Python's typed accessors: an integer is not a float, nor a float an
    // integer (the provider checks `isinstance`).
    let user = json!({"targetingKey": "u"});
    let mismatch = Expect::Error("TYPE_MISMATCH");
    cases.push(case(
        "max-items",
        "float",
        json!(0.5),
        &user,
        mismatch.clone(),
    ));
    cases.push(case(
        "search-ranking-boost",
        "integer",
        json!(7),
        &user,
        mismatch,
    ));
    run_cases("python", python(cache), &cases, &relay, None);
}

#[test]
fn clients_node_server_sdk_with_the_ofrep_provider_reads_every_type_with_a_token() {
    let Some(cache) = clients() else { return };
    let repo = repo();
    let (_dir, tokens) = tokens_file();
    let tokens = tokens.to_str().unwrap();
    let relay = Relay::start(&repo, &["--env", "prod", "--tokens", tokens]);
    let mut cases = common_cases();
    for case in &mut cases {
        if case.flag == "theme" {
            // @openfeature/ofrep-provider 0.1.3 (ofrep-core 0.1.x) takes a
            // success without `value` for a malformed answer: the caller's
            // default all the same, but as a GENERAL error, not DISABLED.
            case.expect = Expect::Error("GENERAL");
        }
    }
    let alice = json!({"targetingKey": "alice"});
    let mismatch = Expect::Error("TYPE_MISMATCH");
    cases.push(case("new-checkout", "object", json!({}), &alice, mismatch));
    let server = || node(cache, "ofrep_server.mjs");
    run_cases("node server", server(), &cases, &relay, Some(TOKEN));

    // With a token the relay does not know: 401, the caller's default.
    let wrong = "not-the-relays-token-at-all";
    let refused = [case(
        "new-checkout",
        "boolean",
        json!(false),
        &alice,
        Expect::Error("GENERAL"),
    )];
    let direct = relay.evaluate("new-checkout", alice.clone(), Some(wrong));
    assert_eq!(direct.status, 401, "{direct:#?}");
    run_cases("node server", server(), &refused, &relay, Some(wrong));
}

/// The web client's context.
fn web_context() -> Value {
    json!({"targetingKey": "alice", "plan": "pro", "platform": "ios", "app_version": "4.3.0"})
}

#[test]
fn clients_web_sdk_with_the_ofrep_web_provider_follows_the_change_stream() {
    let Some(cache) = clients() else { return };
    let repo = repo();
    let (_dir, tokens) = tokens_file();
    let tokens = tokens.to_str().unwrap();
    let relay = Relay::start(&repo, &["--env", "prod", "--tokens", tokens]);
    let cases = web_cases();
    let script = tempfile::NamedTempFile::new().unwrap();
    let flag =
        |case: &Case| json!({"flag": case.flag, "method": case.method, "default": case.default});
    let (watch, others) = cases.split_last().unwrap();
    let script_text = json!({
        "context": web_context(),
        "cases": others.iter().map(flag).collect::<Vec<_>>(),
        "watch": flag(watch),
        "timeoutMs": 60_000,
    });
    std::fs::write(script.path(), script_text.to_string()).unwrap();
    let mut command = node(cache, "ofrep_web.mjs");
    command.arg(&relay.base).arg(script.path()).arg(TOKEN);
    let mut client = Running::spawn(command);

    // One bulk evaluation for the context, read back from the provider.
    let initial: Vec<Value> = client
        .until("ready", Instant::now() + CLIENT_TIMEOUT)
        .into_iter()
        .filter(|line| line["kind"] == "evaluation")
        .collect();
    let bearer = format!("Bearer {TOKEN}");
    let request = json!({"context": web_context()});
    let bulk = relay
        .post_json(
            "/ofrep/v1/evaluate/flags",
            &[("Authorization", &bearer)],
            &request,
        )
        .json();
    let in_bulk = |key: &str| {
        let flags = bulk["flags"].as_array().unwrap();
        let found = flags.iter().find(|flag| flag["key"] == key);
        found.cloned().unwrap_or(Value::Null)
    };
    assert_eq!(initial.len(), cases.len(), "{}", client.report());
    for (case, line) in cases.iter().zip(&initial) {
        check("web", case, line, &in_bulk(case.flag));
    }

    // It connected to the stream the bulk answer names by a `requestUri`
    // relative to the relay. Polling is off: a change can only come from
    // there.
    let stream = bulk["eventStreams"][0]["endpoint"]["requestUri"].as_str();
    assert!(
        stream.is_some_and(|uri| uri.starts_with("/ofrep/v1/events/")),
        "{bulk}"
    );
    let connected = eventually(Duration::from_secs(20), || {
        let metrics = relay.get("/metrics", &[]).body;
        metrics.contains("flagctl_serve_stream_clients 1")
    });
    assert!(
        connected,
        "the web provider never opened the stream\n{}",
        client.report()
    );

    // A commit: announced on the stream, re-fetched, seen by the client.
    let run = repo.flagctl(&["disable", "new-checkout", "--env", "prod", "--yes"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let committed = Instant::now();
    let deadline = committed + Duration::from_secs(15);
    let mut events = Vec::new();
    let changed = loop {
        let Some(line) = client.next(deadline) else {
            panic!(
                "the web client saw no change within 15 s\n{}",
                client.report()
            )
        };
        match line["kind"].as_str() {
            Some("event") => events.push(line),
            Some("evaluation") if line["phase"] == "changed" && line["value"] == false => {
                break line;
            }
            Some("timeout") => panic!("the web client gave up\n{}", client.report()),
            _ => {}
        }
    };
    let seen_after = committed.elapsed();
    let configuration = events
        .iter()
        .find(|event| event["event"] == "PROVIDER_CONFIGURATION_CHANGED");
    let changed_flags = configuration.and_then(|event| event["flagsChanged"].as_array());
    assert!(
        changed_flags.is_some_and(|flags| flags.contains(&json!("new-checkout"))),
        "no ConfigurationChanged event naming new-checkout: {events:?}\n{}",
        client.report()
    );
    assert_eq!(changed["variant"], "off", "{changed}");
    assert_eq!(changed["reason"], "DISABLED", "{changed}");
    assert_eq!(changed["errorCode"], Value::Null, "{changed}");
    let direct = relay.evaluate("new-checkout", web_context(), Some(TOKEN));
    assert_eq!(
        direct.header("x-flagctl-revision"),
        Some(repo.head().as_str())
    );
    check(
        "web",
        &case(
            "new-checkout",
            "boolean",
            json!(false),
            &Value::Null,
            Expect::Served(Some(json!(false)), "DISABLED"),
        ),
        &changed,
        &direct.json(),
    );
    assert!(
        seen_after < Duration::from_secs(5),
        "the change took {seen_after:?}"
    );
    let status = client.finish(Duration::from_secs(20));
    assert!(
        status.is_some_and(|status| status.success()),
        "{status:?}\n{}",
        client.report()
    );
    eprintln!("web client: the change reached it after {seen_after:?}; events: {events:?}");
}

/// Waits up to `timeout` for `check` to hold, polling every 50 ms.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// `/metrics` as Prometheus reads it: both of `prometheus_client`'s parsers
/// (the classic text format and OpenMetrics) see every family with its type.
#[test]
fn metrics_are_read_by_prometheus_clients_parsers() {
    let Some(cache) = clients() else { return };
    let repo = repo();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    relay.evaluate("new-checkout", json!({"targetingKey": "alice"}), None);
    relay.evaluate("no-such-flag", json!({"targetingKey": "alice"}), None);
    for (kind, accept) in [
        ("classic", "text/plain"),
        ("openmetrics", "application/openmetrics-text;version=1.0.0"),
    ] {
        let answer = relay.get("/metrics", &[("Accept", accept)]);
        assert_eq!(answer.status, 200);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &answer.body).unwrap();
        let mut command = Command::new(cache.join("py/bin/python"));
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/metrics_parse.py"))
            .arg(file.path())
            .arg(kind);
        let finished = run(command, Duration::from_secs(60));
        assert!(
            finished.status.is_some_and(|status| status.success()),
            "{kind}: {}\n{}",
            finished.stderr,
            answer.body
        );
        let families: Vec<Value> = finished
            .stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let family = |name: &str| {
            families
                .iter()
                .find(|family| family["name"] == name)
                .unwrap_or_else(|| panic!("{kind}: no family `{name}` in {families:#?}"))
        };
        let revision = if kind == "classic" {
            "flagctl_serve_revision_info"
        } else {
            "flagctl_serve_revision"
        };
        for (name, kind_expected) in [
            ("flagctl_serve_evaluations", "counter"),
            ("flagctl_serve_requests", "counter"),
            ("flagctl_serve_request_duration_seconds", "histogram"),
            ("flagctl_serve_rejections", "counter"),
            ("flagctl_serve_stream_clients", "gauge"),
            ("flagctl_serve_revision_age_seconds", "gauge"),
        ] {
            assert_eq!(family(name)["type"], kind_expected, "{kind}: {name}");
        }
        let info = family(revision);
        assert_eq!(
            info["samples"][0][1]["revision"],
            repo.head().as_str(),
            "{kind}: {info}"
        );
        let evaluations = &family("flagctl_serve_evaluations")["samples"];
        let alice = evaluations
            .as_array()
            .unwrap()
            .iter()
            .find(|sample| sample[1]["flag"] == "new-checkout")
            .unwrap_or_else(|| panic!("{kind}: {evaluations}"));
        assert_eq!(alice[0], "flagctl_serve_evaluations_total");
        assert_eq!(alice[1]["reason"], "TARGETING_MATCH");
        assert_eq!(alice[2], 1.0);
        assert!(
            evaluations
                .as_array()
                .unwrap()
                .iter()
                .any(|sample| sample[1]["flag"] == "(unknown)"),
            "{kind}: {evaluations}"
        );
    }
}
