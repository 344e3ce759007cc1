//! Evaluating through the runtime client allocates nothing: the guard, the
//! engine, the counters, the typed accessors. (Exposures, which copy the
//! targeting key, are the documented exception.)
//!
//! One test in this file on purpose: the counting allocator sees every
//! thread, so nothing else may run while it counts (the client here has no
//! background thread).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::alloc::System;

use flagctl::eval::Context;
use flagctl::watch::Client;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn evaluating_through_the_client_allocates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("base")).unwrap();
    std::fs::write(root.join("flagctl.yaml"), "environments: [prod]\n").unwrap();
    std::fs::write(
        root.join("base/new-checkout.yaml"),
        "key: new-checkout\ntype: boolean\nrules:\n  - when: { attr: country, op: in, values: [DE, FR] }\n    serve: { rollout: { on: 50, off: 50 } }\ndefault: off\n",
    )
    .unwrap();
    std::fs::write(
        root.join("base/banner.yaml"),
        "key: banner\ntype: string\nvariants: { short: Hi, long: Hello there }\ndefault:\n  rollout: { short: 50, long: 50 }\n",
    )
    .unwrap();
    let client = Client::builder()
        .environment("prod")
        .directory(root)
        .background(false)
        .exposures(16)
        .build()
        .unwrap();
    let users: Vec<Context> = (0..100)
        .map(|i| {
            Context::new(format!("user-{i}")).with("country", if i % 2 == 0 { "DE" } else { "US" })
        })
        .collect();

    // arc-swap gives each thread a debt node on its first load (one
    // allocation per thread, for the thread's life): warm up.
    let cold = Region::new(GLOBAL);
    drop(client.current());
    let first = cold.change();
    assert!(first.allocations <= 1, "{first:?}");

    let mut served = 0usize;
    let region = Region::new(GLOBAL);
    for user in &users {
        let flags = client.current();
        served += usize::from(flags.bool_value("new-checkout", user, false));
        served += flags.string_value("banner", user, "").len();
        served += usize::from(flags.evaluate("missing", user).value().is_none());
        served += usize::from(client.bool_value("new-checkout", user, false));
        client.evaluate_with("banner", user, |evaluation| {
            served += evaluation.variant().map_or(0, str::len);
        });
    }
    let change = region.change();
    assert!(served > 0);
    assert_eq!(
        (
            change.allocations,
            change.reallocations,
            change.deallocations
        ),
        (0, 0, 0),
        "{change:?}"
    );
    assert_eq!(client.evaluation_counts().total(), 500);
}
