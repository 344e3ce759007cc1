//! `flagctl serve` end to end: the real binary on a free loopback port,
//! against temporary git repositories, spoken to over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod clients;
#[path = "../common/mod.rs"]
mod common;
mod follow;
#[allow(dead_code, reason = "each test uses a different part")]
mod harness;

use std::time::Duration;

use serde_json::json;

use common::cli::Repo;
use harness::Relay;

#[test]
fn a_single_flag_is_evaluated_with_its_variant_reason_and_revision() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let head = repo.head();
    let answer = relay.evaluate(
        "new-checkout",
        json!({"targetingKey": "user-42", "country": "DE"}),
        None,
    );
    assert_eq!(answer.status, 200, "{answer:#?}");
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("x-flagctl-revision"), Some(head.as_str()));
    let body = answer.json();
    assert_eq!(body["key"], "new-checkout");
    assert!(body["value"].is_boolean(), "{body}");
    assert!(body["variant"].is_string(), "{body}");
    assert_eq!(body["metadata"]["revision"], head.as_str());
    assert_eq!(body["metadata"]["environment"], "prod");
    assert_eq!(body["metadata"]["owner"], "payments");
    assert!(
        relay
            .stop(Duration::from_secs(10))
            .is_some_and(|status| status.success())
    );
}

fn ok(repo: &Repo, args: &[&str]) {
    let run = repo.flagctl(args);
    assert_eq!(run.code, 0, "{run:#?}");
}

/// Writes `path` under `flags/` and commits it with plain git.
fn commit_file(repo: &Repo, path: &str, text: &str, message: &str) -> String {
    repo.write(&format!("flags/{path}"), text);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", message]);
    repo.head()
}

/// Waits up to `timeout` for `check` to hold, polling every 20 ms.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

#[test]
fn reasons_are_openfeatures_and_numbers_keep_their_json_kind() {
    let repo = Repo::new();
    commit_file(
        &repo,
        "base/max-items.yaml",
        "key: max-items\ntype: number\nvariants: { small: 10, large: 20 }\ndefault: small\n",
        "Add max-items",
    );
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let user = json!({"targetingKey": "user-42"});
    let integer = relay.evaluate("max-items", user.clone(), None).json();
    assert!(integer["value"].is_u64(), "{integer}");
    assert_eq!(integer["value"], 10);
    assert_eq!(integer["reason"], "STATIC");
    assert_eq!(integer["variant"], "small");
    let float = relay
        .evaluate("search-ranking-boost", user.clone(), None)
        .json();
    assert!(float["value"].is_f64(), "{float}");
    assert_eq!(float["reason"], "DEFAULT");
    let rule = relay
        .evaluate(
            "search-ranking-boost",
            json!({"targetingKey": "u", "platform": "ios", "app_version": "4.3.0"}),
            None,
        )
        .json();
    assert_eq!(rule["reason"], "TARGETING_MATCH");
    assert_eq!(rule["value"], 1.5);
    let object = relay
        .evaluate(
            "api-rate-limits",
            json!({"targetingKey": "u", "plan": "pro"}),
            None,
        )
        .json();
    assert_eq!(object["value"], json!({"rpm": 6000, "burst": 1000}));
    let target = relay
        .evaluate("new-checkout", json!({"targetingKey": "alice"}), None)
        .json();
    assert_eq!(target["reason"], "TARGETING_MATCH");
    assert_eq!(target["value"], true);
    let split = relay.evaluate("new-checkout", user, None).json();
    assert_eq!(split["reason"], "SPLIT");
    let allowed = ["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED"];
    let bulk = relay
        .post_json(
            "/ofrep/v1/evaluate/flags",
            &[],
            &json!({"context": {"targetingKey": "z"}}),
        )
        .json();
    for flag in bulk["flags"].as_array().unwrap() {
        assert!(
            allowed.contains(&flag["reason"].as_str().unwrap()),
            "{flag}"
        );
        assert!(flag["variant"].is_string(), "{flag}");
    }
}

#[test]
fn bad_requests_get_ofrep_errors_never_a_500() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let path = "/ofrep/v1/evaluate/flags/new-checkout";
    let json_type = [("Content-Type", "application/json")];

    let unknown = relay.evaluate("no-such-flag", json!({"targetingKey": "u"}), None);
    assert_eq!(unknown.status, 404, "{unknown:#?}");
    assert_eq!(unknown.json()["key"], "no-such-flag");
    assert_eq!(unknown.json()["errorCode"], "FLAG_NOT_FOUND");
    assert!(unknown.header("x-flagctl-revision").is_some());

    let malformed = relay.post(path, &json_type, "{not json");
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["errorCode"], "PARSE_ERROR");
    assert_eq!(malformed.json()["key"], "new-checkout");

    let not_object = relay.post(path, &json_type, r#"{"context": ["a"]}"#);
    assert_eq!(not_object.status, 400);
    assert_eq!(not_object.json()["errorCode"], "INVALID_CONTEXT");

    let no_key = relay.post(path, &json_type, r#"{"context": {}}"#);
    assert_eq!(no_key.status, 400);
    assert_eq!(no_key.json()["errorCode"], "TARGETING_KEY_MISSING");

    let wrong_type = relay.post(path, &[("Content-Type", "text/plain")], "{}");
    assert_eq!(wrong_type.status, 415);
    assert_eq!(wrong_type.json()["errorCode"], "PARSE_ERROR");

    let started = std::time::Instant::now();
    let big = format!(
        r#"{{"context": {{"targetingKey": "{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let too_large = relay.post(path, &json_type, &big);
    assert_eq!(too_large.status, 413, "{:?}", too_large.body);
    assert!(started.elapsed() < Duration::from_secs(10));

    let bulk_bad = relay.post("/ofrep/v1/evaluate/flags", &json_type, "[]");
    assert_eq!(bulk_bad.status, 400);
    assert_eq!(bulk_bad.json()["errorCode"], "PARSE_ERROR");

    let no_route = relay.get("/ofrep/v2/nothing", &[]);
    assert_eq!(no_route.status, 404);
    assert!(no_route.json()["errorDetails"].is_string());

    for answer in [
        &unknown,
        &malformed,
        &not_object,
        &no_key,
        &wrong_type,
        &too_large,
    ] {
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{answer:#?}"
        );
    }
    let metrics = relay.get("/metrics", &[]).body;
    assert!(!metrics.contains("status=\"500\""), "{metrics}");
}

#[test]
fn bulk_evaluation_has_an_etag_of_the_evaluated_flags_and_a_change_stream() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let bulk = |context: serde_json::Value, etag: Option<&str>| {
        let headers: Vec<(&str, &str)> = etag
            .map(|etag| vec![("If-None-Match", etag)])
            .unwrap_or_default();
        relay.post_json(
            "/ofrep/v1/evaluate/flags",
            &headers,
            &json!({"context": context}),
        )
    };
    let first = bulk(json!({"targetingKey": "user-42"}), None);
    assert_eq!(first.status, 200);
    let etag = first.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let body = first.json();
    assert_eq!(body["flags"].as_array().unwrap().len(), 9);
    assert_eq!(body["metadata"]["revision"], repo.head().as_str());
    // The revision is the answer's, not each flag's: an entry changes only
    // when its evaluation does.
    assert!(
        body["flags"]
            .as_array()
            .unwrap()
            .iter()
            .all(|flag| flag["metadata"].get("revision").is_none())
    );
    let stream = &body["eventStreams"][0];
    assert_eq!(stream["type"], "sse");
    assert!(
        stream["endpoint"]["requestUri"]
            .as_str()
            .unwrap()
            .starts_with("/ofrep/v1/events/")
    );

    let again = bulk(json!({"targetingKey": "user-42"}), Some(&etag));
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    // Another user gets other evaluations: the ETag follows the context.
    let alice = bulk(json!({"targetingKey": "alice"}), Some(&etag));
    assert_eq!(alice.status, 200);
    assert_ne!(alice.header("etag"), Some(etag.as_str()));

    // A new revision changes it too.
    ok(
        &repo,
        &["disable", "new-checkout", "--env", "prod", "--yes"],
    );
    assert!(eventually(Duration::from_secs(5), || {
        bulk(json!({"targetingKey": "user-42"}), Some(&etag)).status == 200
    }));
}

#[test]
fn a_disable_commit_is_served_and_announced_on_the_stream_within_a_second() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let bulk = relay
        .post_json(
            "/ofrep/v1/evaluate/flags",
            &[],
            &json!({"context": {"targetingKey": "alice"}}),
        )
        .json();
    let uri = bulk["eventStreams"][0]["endpoint"]["requestUri"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = harness::Stream::open(relay.port(), &uri);
    assert!(stream.head.starts_with("HTTP/1.1 200"), "{}", stream.head);
    assert!(
        stream
            .head
            .to_ascii_lowercase()
            .contains("content-type: text/event-stream")
    );
    assert_eq!(
        relay
            .evaluate("new-checkout", json!({"targetingKey": "alice"}), None)
            .json()["value"],
        true
    );

    ok(
        &repo,
        &["disable", "new-checkout", "--env", "prod", "--yes"],
    );
    let committed = std::time::Instant::now();
    let head = repo.head();
    let event = stream.next_event(Duration::from_secs(5)).expect("an event");
    let announced = committed.elapsed();
    assert!(
        announced < Duration::from_secs(1),
        "announced after {announced:?}"
    );
    assert_eq!(event.event.as_deref(), Some("message"));
    assert!(event.id.is_some());
    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["type"], "refetchEvaluation");
    assert_eq!(data["etag"], format!("\"{head}\""));
    assert!(data["lastModified"].as_u64().unwrap() > 1_700_000_000);

    let answer = relay.evaluate("new-checkout", json!({"targetingKey": "alice"}), None);
    assert_eq!(answer.header("x-flagctl-revision"), Some(head.as_str()));
    let body = answer.json();
    assert_eq!(body["value"], false);
    assert_eq!(body["reason"], "DISABLED");
    assert_eq!(body["variant"], "off");
}

#[test]
fn an_invalid_commit_is_refused_while_the_last_good_state_keeps_serving() {
    let repo = Repo::new();
    let good = repo.head();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let bad = commit_file(
        &repo,
        "base/new-checkout.yaml",
        "key: new-checkout\ntype: boolean\ndefault: { rollout: { on: 60, off: 50 } }\n",
        "Break new-checkout",
    );
    assert!(eventually(Duration::from_secs(5), || {
        relay.get("/healthz", &[]).json()["environments"][0]["rejections"] == 1
    }));
    let answer = relay.evaluate("new-checkout", json!({"targetingKey": "alice"}), None);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-flagctl-revision"), Some(good.as_str()));
    assert_eq!(answer.json()["value"], true);

    let ready = relay.get("/readyz", &[]);
    assert_eq!(ready.status, 200, "a valid state is served: {ready:#?}");
    let detail = &ready.json()["environments"][0];
    assert_eq!(detail["revision"], good.as_str());
    assert_eq!(detail["latestRevision"], bad.as_str());
    assert_eq!(detail["lastError"]["kind"], "rejected");
    assert_eq!(detail["lastError"]["revision"], bad.as_str());
    assert!(
        detail["lastError"]["message"]
            .as_str()
            .unwrap()
            .contains("new-checkout"),
        "{detail}"
    );

    let metrics = relay.get("/metrics", &[]).body;
    assert!(
        metrics.contains("flagctl_serve_rejections_total{environment=\"prod\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "flagctl_serve_revision_info{{environment=\"prod\",revision=\"{good}\",origin=\"source\"}} 1"
        )),
        "{metrics}"
    );
}

#[test]
fn metrics_count_evaluations_by_flag_variant_and_reason_from_the_clients() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    for _ in 0..3 {
        relay.evaluate("new-checkout", json!({"targetingKey": "alice"}), None);
    }
    for key in ["a-1", "b-2", "c-3"] {
        relay.evaluate(key, json!({"targetingKey": "u"}), None);
    }
    let openmetrics = relay.get(
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )],
    );
    assert_eq!(openmetrics.status, 200);
    let kind = openmetrics.header("content-type").unwrap();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(
        openmetrics.body.trim_end().ends_with("# EOF"),
        "{}",
        openmetrics.body
    );
    assert!(
        openmetrics
            .body
            .contains("# TYPE flagctl_serve_evaluations counter")
    );
    let answer = relay.get("/metrics", &[]);
    assert_eq!(answer.status, 200);
    let kind = answer.header("content-type").unwrap();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = answer.body;
    assert!(
        text.contains("# TYPE flagctl_serve_evaluations_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE flagctl_serve_revision_info gauge"),
        "{text}"
    );
    assert!(!text.contains("# EOF"));
    assert!(
        text.contains(
            "flagctl_serve_evaluations_total{environment=\"prod\",flag=\"new-checkout\",variant=\"on\",reason=\"TARGETING_MATCH\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("flagctl_serve_evaluations_total{environment=\"prod\",flag=\"(unknown)\",variant=\"\",reason=\"ERROR\"} 3"),
        "{text}"
    );
    for key in ["a-1", "b-2", "c-3"] {
        assert!(
            !text.contains(key),
            "an unknown key became a label value: {text}"
        );
    }
    assert!(
        text.contains("flagctl_serve_requests_total{route=\"evaluate\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("flagctl_serve_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("flagctl_serve_revision_age_seconds{environment=\"prod\"}"),
        "{text}"
    );
    assert!(text.contains("flagctl_serve_stream_clients 0"), "{text}");
    assert!(
        text.contains("flagctl_serve_reloads_total{environment=\"prod\"} 0"),
        "{text}"
    );
}

const DEV_TOKEN: &str = "dev-token-0123456789abcdef";
const PROD_TOKEN: &str = "prod-token-0123456789abcdef";

fn tokens_file(repo: &Repo) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(PROD_TOKEN.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    let path = repo.home.path().join("tokens.yaml");
    std::fs::write(&path, format!("{DEV_TOKEN}: dev\nsha256:{hex}: prod\n")).unwrap();
    path.display().to_string()
}

#[test]
fn a_token_reads_exactly_its_environment() {
    let repo = Repo::new();
    let tokens = tokens_file(&repo);
    let relay = Relay::start(
        &repo,
        &["--env", "dev", "--env", "prod", "--tokens", &tokens],
    );
    let alice = json!({"targetingKey": "user-42"});

    let anonymous = relay.evaluate("new-checkout", alice.clone(), None);
    assert_eq!(anonymous.status, 401, "{anonymous:#?}");
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Bearer realm=\"flagctl\"")
    );
    let wrong = relay.evaluate(
        "new-checkout",
        alice.clone(),
        Some("not-a-token-at-all-0000"),
    );
    assert_eq!(wrong.status, 401);
    let basic = relay.post_json(
        "/ofrep/v1/evaluate/flags/new-checkout",
        &[("Authorization", "Basic ZGV2OmRldg==")],
        &json!({"context": alice}),
    );
    assert_eq!(basic.status, 401);

    let dev = relay.evaluate("new-checkout", alice.clone(), Some(DEV_TOKEN));
    assert_eq!(dev.status, 200);
    assert_eq!(dev.json()["metadata"]["environment"], "dev");
    // Nothing in the body switches environments.
    let sneaky = relay.post_json(
        "/ofrep/v1/evaluate/flags/new-checkout",
        &[("Authorization", &format!("Bearer {DEV_TOKEN}"))],
        &json!({"context": alice, "environment": "prod", "env": "prod"}),
    );
    assert_eq!(sneaky.json()["metadata"]["environment"], "dev");
    let prod = relay.post_json(
        "/ofrep/v1/evaluate/flags/new-checkout",
        &[("X-API-Key", PROD_TOKEN)],
        &json!({"context": alice}),
    );
    assert_eq!(prod.status, 200);
    assert_eq!(prod.json()["metadata"]["environment"], "prod");

    // Each token's stream channel is its own, carries no token, and serves its environment.
    let channel = |token: &str| {
        relay
            .post_json(
                "/ofrep/v1/evaluate/flags",
                &[("Authorization", &format!("Bearer {token}"))],
                &json!({"context": alice}),
            )
            .json()["eventStreams"][0]["endpoint"]["requestUri"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (dev_uri, prod_uri) = (channel(DEV_TOKEN), channel(PROD_TOKEN));
    assert_ne!(dev_uri, prod_uri);
    assert!(!dev_uri.contains(DEV_TOKEN) && !prod_uri.contains(PROD_TOKEN));
    let mut prod_stream = harness::Stream::open(relay.port(), &prod_uri);
    let mut dev_stream = harness::Stream::open(relay.port(), &dev_uri);
    assert!(prod_stream.head.starts_with("HTTP/1.1 200"));
    let unknown = relay.get("/ofrep/v1/events/0123456789abcdef", &[]);
    assert_eq!(unknown.status, 404);

    ok(
        &repo,
        &["disable", "new-checkout", "--env", "prod", "--yes"],
    );
    let event = prod_stream
        .next_event(Duration::from_secs(5))
        .expect("prod hears of it");
    assert!(event.data.contains("refetchEvaluation"));
    // dev's client applied the same commit too (its revision moved), so it may hear of it;
    // what it serves is dev's.
    let _ = dev_stream.next_event(Duration::from_millis(200));
    let dev = relay.evaluate(
        "new-checkout",
        json!({"targetingKey": "alice"}),
        Some(DEV_TOKEN),
    );
    assert_eq!(dev.json()["metadata"]["environment"], "dev");
    assert_eq!(dev.json()["value"], true);
    let prod = relay.evaluate(
        "new-checkout",
        json!({"targetingKey": "alice"}),
        Some(PROD_TOKEN),
    );
    assert_eq!(prod.json()["value"], false);

    let log = relay.log();
    assert!(
        !log.contains(DEV_TOKEN) && !log.contains(PROD_TOKEN),
        "{log}"
    );
}

#[test]
fn unsafe_or_inconsistent_options_are_refused_at_start() {
    let repo = Repo::new();
    let refused = |args: &[&str], code: i32, expected: &str| {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let run = repo.flagctl(&all);
        assert_eq!(run.code, code, "{args:?}: {run:#?}");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("help: "), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    };
    refused(
        &["--env", "dev", "--env", "prod"],
        2,
        "serving several environments needs tokens",
    );
    let run = repo.flagctl(&["serve", "--env", "prod", "--listen", "0.0.0.0:0"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("not a loopback address"),
        "{}",
        run.stderr
    );
    refused(
        &["--env", "prod", "--allow-anonymous", "dev"],
        2,
        "is not served",
    );
    refused(&["--env", "qa"], 1, "environment `qa` is not declared");
    let tokens = repo.home.path().join("bad-tokens.yaml");
    std::fs::write(&tokens, "dev-token-0123456789abcdef: dev\nshort: dev\n").unwrap();
    let tokens = tokens.display().to_string();
    refused(
        &["--env", "dev", "--tokens", &tokens],
        1,
        "bad-tokens.yaml:2:1: a token must be at least 16 characters",
    );
    let good = tokens_file(&repo);
    refused(
        &[
            "--env", "dev", "--env", "prod", "--env", "staging", "--tokens", &good,
        ],
        1,
        "no token in",
    );
    refused(
        &[
            "--env",
            "prod",
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.key",
        ],
        1,
        "cannot read certificates",
    );
}

#[test]
fn a_signed_push_webhook_makes_the_relay_look_now() {
    use hmac::{KeyInit, Mac};
    let repo = Repo::new();
    let remote = bare_remote(&repo);
    let secret = repo.home.path().join("hook.secret");
    std::fs::write(&secret, "s3cret-hook\n").unwrap();
    // Fetching once an hour: only the webhook can make it look now.
    let relay = Relay::start(
        &repo,
        &[
            "--env",
            "prod",
            "--remote",
            &format!("{remote}#main"),
            "--interval",
            "3600",
            "--webhook-secret-file",
            secret.to_str().unwrap(),
        ],
    );
    let before = repo.head();
    ok(
        &repo,
        &["disable", "new-checkout", "--env", "prod", "--yes"],
    );
    repo.git(&["push", "-q", "origin", "main"]);
    let pushed = repo.head();
    let served = || {
        relay.get("/healthz", &[]).json()["environments"][0]["revision"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(served(), before);
    let body = r#"{"ref":"refs/heads/main"}"#;
    let unsigned = relay.post("/admin/refresh", &[], body);
    assert_eq!(unsigned.status, 401);
    let forged = relay.post(
        "/admin/refresh",
        &[("X-Hub-Signature-256", "sha256=00")],
        body,
    );
    assert_eq!(forged.status, 401);
    let wrong_gitlab = relay.post("/admin/refresh", &[("X-Gitlab-Token", "nope")], body);
    assert_eq!(wrong_gitlab.status, 401);

    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret-hook").unwrap();
    mac.update(body.as_bytes());
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let github = relay.post(
        "/admin/refresh",
        &[
            ("X-Hub-Signature-256", &format!("sha256={signature}")),
            ("X-GitHub-Event", "push"),
        ],
        body,
    );
    assert_eq!(github.status, 202, "{github:#?}");
    assert_eq!(github.json()["refreshing"], json!(["prod"]));
    assert!(eventually(Duration::from_secs(10), || served() == pushed));
    let gitlab = relay.post("/admin/refresh", &[("X-Gitlab-Token", "s3cret-hook")], body);
    assert_eq!(gitlab.status, 202);
}

/// A bare clone of `repo`, set as its `origin`; its `file://` URL.
fn bare_remote(repo: &Repo) -> String {
    let bare = repo.home.path().join("remote.git");
    repo.git(&["clone", "-q", "--bare", ".", bare.to_str().unwrap()]);
    let url = format!("file://{}", bare.display());
    repo.git(&["remote", "add", "origin", &url]);
    repo.git(&["fetch", "-q", "origin"]);
    url
}

#[test]
fn two_replicas_following_one_remote_converge_and_answer_alike() {
    let repo = Repo::new();
    let remote = bare_remote(&repo);
    let source = format!("{remote}#main");
    let args = ["--env", "prod", "--remote", &source, "--interval", "0.2"];
    let first = Relay::start(&repo, &args);
    let second = Relay::start(&repo, &args);
    // A third party pushes.
    let pusher = Repo::clone_of(std::path::Path::new(remote.trim_start_matches("file://")));
    let run = pusher.flagctl(&["rollout", "new-checkout", "60", "--env", "prod", "--yes"]);
    assert_eq!(run.code, 0, "{run:#?}");
    pusher.git(&["push", "-q", "origin", "main"]);
    let pushed = pusher.head();
    for relay in [&first, &second] {
        assert!(
            eventually(Duration::from_secs(15), || {
                relay.get("/healthz", &[]).json()["environments"][0]["revision"] == pushed.as_str()
            }),
            "a replica did not reach {pushed}"
        );
    }
    for user in 0..50 {
        let context = json!({"targetingKey": format!("user-{user}"), "country": "DE"});
        let a = first.evaluate("new-checkout", context.clone(), None).json();
        let b = second.evaluate("new-checkout", context, None).json();
        assert_eq!(a, b);
        assert_eq!(a["metadata"]["revision"], pushed.as_str());
    }
}

#[test]
fn the_snapshot_of_the_tokens_environment_is_served_with_its_digest() {
    let repo = Repo::new();
    let tokens = tokens_file(&repo);
    let relay = Relay::start(
        &repo,
        &["--env", "dev", "--env", "prod", "--tokens", &tokens],
    );
    let auth = format!("Bearer {PROD_TOKEN}");
    assert_eq!(relay.get("/v1/snapshot", &[]).status, 401);
    let answer = relay.get("/v1/snapshot", &[("Authorization", &auth)]);
    assert_eq!(answer.status, 200);
    let snapshot = answer.json();
    assert_eq!(snapshot["environment"], "prod");
    assert_eq!(snapshot["source"]["commit"], repo.head().as_str());
    let etag = answer.header("etag").unwrap().to_owned();
    assert_eq!(
        etag,
        format!("\"{}\"", snapshot["digest"].as_str().unwrap())
    );
    // What `flagctl build` writes for the same revision.
    let built = repo.flagctl(&["build", "--env", "prod"]).ok();
    let built: serde_json::Value = serde_json::from_str(&built.stdout).unwrap();
    assert_eq!(built["digest"], snapshot["digest"]);
    let cached = relay.get(
        "/v1/snapshot",
        &[("Authorization", &auth), ("If-None-Match", &etag)],
    );
    assert_eq!(cached.status, 304);
}

#[test]
fn tls_serves_https() {
    let repo = Repo::new();
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = repo.home.path().join("cert.pem");
    let key = repo.home.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let relay = Relay::start(
        &repo,
        &[
            "--env",
            "prod",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(relay.base.starts_with("https://"), "{}", relay.base);
    let root = ureq::tls::Certificate::from_der(certified.cert.der()).to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[root]))
                .build(),
        )
        .build()
        .into();
    let answer = harness::request(
        &agent,
        "POST",
        &format!("{}/ofrep/v1/evaluate/flags/new-checkout", relay.base),
        &[("Content-Type", "application/json")],
        Some(br#"{"context": {"targetingKey": "alice"}}"#),
    );
    assert_eq!(answer.status, 200, "{answer:#?}");
    assert_eq!(answer.json()["value"], true);
}

#[test]
fn sigterm_closes_streams_and_exits_zero() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let mut stream = harness::Stream::open(relay.port(), "/ofrep/v1/events/public-prod");
    assert!(stream.head.starts_with("HTTP/1.1 200"), "{}", stream.head);
    let port = relay.port();
    let started = std::time::Instant::now();
    let status = relay
        .stop(Duration::from_secs(10))
        .expect("exits within 10 s");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(7));
    assert!(stream.closed_within(Duration::from_secs(2)));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn fifty_concurrent_connections_are_all_answered() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let url = format!("{}/ofrep/v1/evaluate/flags/new-checkout", relay.base);
    let threads: Vec<_> = (0..50)
        .map(|thread| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = harness::agent();
                (0..10)
                    .map(|request| {
                        let body = format!(
                            r#"{{"context": {{"targetingKey": "user-{thread}-{request}"}}}}"#
                        );
                        harness::request(
                            &agent,
                            "POST",
                            &url,
                            &[("Content-Type", "application/json")],
                            Some(body.as_bytes()),
                        )
                        .status
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    for thread in threads {
        assert!(thread.join().unwrap().iter().all(|status| *status == 200));
    }
}

#[test]
fn limits_answer_503_with_retry_after_and_idle_connections_are_closed() {
    use std::io::{Read, Write};
    let repo = Repo::new();
    let relay = Relay::start(
        &repo,
        &[
            "--env",
            "prod",
            "--max-in-flight",
            "1",
            "--request-timeout",
            "1",
        ],
    );
    // Holds the only slot: headers sent, the body never comes.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
    write!(
        slow,
        "POST /ofrep/v1/evaluate/flags/new-checkout HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let busy = relay.evaluate("new-checkout", json!({"targetingKey": "u"}), None);
    assert_eq!(busy.status, 503, "{busy:#?}");
    assert_eq!(busy.header("retry-after"), Some("1"));
    // The slow body times out with 408, and the slot is free again.
    let mut answer = String::new();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(
        relay
            .evaluate("new-checkout", json!({"targetingKey": "u"}), None)
            .status,
        200
    );
    // A connection that sends nothing is closed.
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buffer = [0u8; 64];
    let started = std::time::Instant::now();
    let _ = idle.read(&mut buffer);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "idle connection kept for {:?}",
        started.elapsed()
    );
}

#[test]
fn a_refetch_announcing_a_newer_revision_makes_a_lagging_replica_look_first() {
    let repo = Repo::new();
    let remote = bare_remote(&repo);
    let source = format!("{remote}#main");
    // Fetching once an hour: this replica lags behind the remote.
    let relay = Relay::start(
        &repo,
        &["--env", "prod", "--remote", &source, "--interval", "3600"],
    );
    ok(
        &repo,
        &["disable", "new-checkout", "--env", "prod", "--yes"],
    );
    repo.git(&["push", "-q", "origin", "main"]);
    let pushed = repo.head();
    let context = json!({"context": {"targetingKey": "alice"}});
    let plain = relay.post_json("/ofrep/v1/evaluate/flags", &[], &context);
    assert_ne!(plain.json()["metadata"]["revision"], pushed.as_str());
    // What a provider sends after a change event from a replica that is ahead.
    let refetch = relay.post_json(
        &format!("/ofrep/v1/evaluate/flags?flagConfigEtag=%22{pushed}%22&flagConfigLastModified=1796459184"),
        &[],
        &context,
    );
    assert_eq!(refetch.status, 200, "{refetch:#?}");
    assert_eq!(refetch.json()["metadata"]["revision"], pushed.as_str());
    assert_eq!(refetch.header("x-flagctl-revision"), Some(pushed.as_str()));

    // The snapshot (what Rust clients following a relay fetch) likewise.
    ok(&repo, &["enable", "new-checkout", "--env", "prod", "--yes"]);
    repo.git(&["push", "-q", "origin", "main"]);
    let pushed = repo.head();
    let snapshot = relay.get(&format!("/v1/snapshot?flagConfigEtag=%22{pushed}%22"), &[]);
    assert_eq!(snapshot.status, 200);
    assert_eq!(snapshot.json()["source"]["commit"], pushed.as_str());
}
