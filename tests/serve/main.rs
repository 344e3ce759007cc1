//! `flagctl serve` end to end: the real binary on a free loopback port,
//! against temporary git repositories, spoken to over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code, reason = "each test uses a different part")]
mod harness;

use std::time::Duration;

use serde_json::json;

use common::change::Repo;
use harness::Relay;

#[test]
fn a_single_flag_is_evaluated_with_its_variant_reason_and_revision() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let head = repo.head();
    let answer = relay.evaluate("new-checkout", json!({"targetingKey": "user-42", "country": "DE"}), None);
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
    assert!(relay.stop(Duration::from_secs(10)).is_some_and(|status| status.success()));
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
    let float = relay.evaluate("search-ranking-boost", user.clone(), None).json();
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
        .evaluate("api-rate-limits", json!({"targetingKey": "u", "plan": "pro"}), None)
        .json();
    assert_eq!(object["value"], json!({"rpm": 6000, "burst": 1000}));
    let target = relay.evaluate("new-checkout", json!({"targetingKey": "alice"}), None).json();
    assert_eq!(target["reason"], "TARGETING_MATCH");
    assert_eq!(target["value"], true);
    let split = relay.evaluate("new-checkout", user, None).json();
    assert_eq!(split["reason"], "SPLIT");
    let allowed = ["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED"];
    let bulk = relay
        .post_json("/ofrep/v1/evaluate/flags", &[], &json!({"context": {"targetingKey": "z"}}))
        .json();
    for flag in bulk["flags"].as_array().unwrap() {
        assert!(allowed.contains(&flag["reason"].as_str().unwrap()), "{flag}");
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
    let big = format!(r#"{{"context": {{"targetingKey": "{}"}}}}"#, "x".repeat(2 * 1024 * 1024));
    let too_large = relay.post(path, &json_type, &big);
    assert_eq!(too_large.status, 413, "{:?}", too_large.body);
    assert!(started.elapsed() < Duration::from_secs(10));

    let bulk_bad = relay.post("/ofrep/v1/evaluate/flags", &json_type, "[]");
    assert_eq!(bulk_bad.status, 400);
    assert_eq!(bulk_bad.json()["errorCode"], "PARSE_ERROR");

    let no_route = relay.get("/ofrep/v2/nothing", &[]);
    assert_eq!(no_route.status, 404);
    assert!(no_route.json()["errorDetails"].is_string());

    for answer in [&unknown, &malformed, &not_object, &no_key, &wrong_type, &too_large] {
        assert_eq!(answer.header("content-type"), Some("application/json"), "{answer:#?}");
    }
    let metrics = relay.get("/metrics", &[]).body;
    assert!(!metrics.contains("status=\"500\""), "{metrics}");
}

#[test]
fn bulk_evaluation_has_an_etag_of_the_evaluated_flags_and_a_change_stream() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let bulk = |context: serde_json::Value, etag: Option<&str>| {
        let headers: Vec<(&str, &str)> = etag.map(|etag| vec![("If-None-Match", etag)]).unwrap_or_default();
        relay.post_json("/ofrep/v1/evaluate/flags", &headers, &json!({"context": context}))
    };
    let first = bulk(json!({"targetingKey": "user-42"}), None);
    assert_eq!(first.status, 200);
    let etag = first.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let body = first.json();
    assert_eq!(body["flags"].as_array().unwrap().len(), 9);
    assert_eq!(body["metadata"]["revision"], repo.head().as_str());
    let stream = &body["eventStreams"][0];
    assert_eq!(stream["type"], "sse");
    assert!(stream["endpoint"]["requestUri"].as_str().unwrap().starts_with("/ofrep/v1/events/"));

    let again = bulk(json!({"targetingKey": "user-42"}), Some(&etag));
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    // Another user gets other evaluations: the ETag follows the context.
    let alice = bulk(json!({"targetingKey": "alice"}), Some(&etag));
    assert_eq!(alice.status, 200);
    assert_ne!(alice.header("etag"), Some(etag.as_str()));

    // A new revision changes it too.
    ok(&repo, &["disable", "new-checkout", "--env", "prod", "--yes"]);
    assert!(eventually(Duration::from_secs(5), || {
        bulk(json!({"targetingKey": "user-42"}), Some(&etag)).status == 200
    }));
}

#[test]
fn a_disable_commit_is_served_and_announced_on_the_stream_within_a_second() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let bulk = relay
        .post_json("/ofrep/v1/evaluate/flags", &[], &json!({"context": {"targetingKey": "alice"}}))
        .json();
    let uri = bulk["eventStreams"][0]["endpoint"]["requestUri"].as_str().unwrap().to_owned();
    let mut stream = harness::Stream::open(relay.port(), &uri);
    assert!(stream.head.starts_with("HTTP/1.1 200"), "{}", stream.head);
    assert!(stream.head.to_ascii_lowercase().contains("content-type: text/event-stream"));
    assert_eq!(relay.evaluate("new-checkout", json!({"targetingKey": "alice"}), None).json()["value"], true);

    ok(&repo, &["disable", "new-checkout", "--env", "prod", "--yes"]);
    let committed = std::time::Instant::now();
    let head = repo.head();
    let event = stream.next_event(Duration::from_secs(5)).expect("an event");
    let announced = committed.elapsed();
    assert!(announced < Duration::from_secs(1), "announced after {announced:?}");
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
    assert!(detail["lastError"]["message"].as_str().unwrap().contains("new-checkout"), "{detail}");

    let metrics = relay.get("/metrics", &[]).body;
    assert!(metrics.contains("flagctl_serve_rejections_total{environment=\"prod\"} 1"), "{metrics}");
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
    let answer = relay.get("/metrics", &[]);
    assert_eq!(answer.status, 200);
    assert!(answer.header("content-type").unwrap().contains("openmetrics-text"));
    let text = answer.body;
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
        assert!(!text.contains(key), "an unknown key became a label value: {text}");
    }
    assert!(text.contains("flagctl_serve_requests_total{route=\"evaluate\",status=\"200\"} 3"), "{text}");
    assert!(text.contains("flagctl_serve_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("flagctl_serve_revision_age_seconds{environment=\"prod\"}"), "{text}");
    assert!(text.contains("flagctl_serve_stream_clients 0"), "{text}");
    assert!(text.contains("flagctl_serve_reloads_total{environment=\"prod\"} 0"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}
