//! `flagctl serve` end to end: the real binary on a free loopback port,
//! against temporary git repositories, spoken to over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "../common/mod.rs"]
mod common;
mod follow;
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
