//! A `watch::Client` following a real relay (`Source::Relay`): it serves
//! the relay's revision, picks up commits through the change stream, keeps
//! its last good state through an outage, reconnects to a restarted relay,
//! and sends its token; and `flagctl watch --relay`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flagctl::eval::Context;
use flagctl::watch::{
    BuildError, Client, Event, Origin, Refresh, RejectReason, RelayError, SourceError, StartError,
};

use crate::common::cli::Repo;
use crate::harness::Relay;

/// Long enough for a loaded machine; the poll (30 s) never gets a chance.
const WAIT: Duration = Duration::from_secs(10);

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

fn alice() -> Context {
    Context::new("alice")
}

fn applied(revision: &str) -> impl FnMut(&Event) -> bool + '_ {
    move |event| matches!(event, Event::Applied(change) if change.revision == revision)
}

#[test]
fn a_client_follows_a_relay_through_changes_an_outage_and_a_restart() {
    let repo = Repo::new();
    let relay = Relay::start(&repo, &["--env", "prod"]);
    let client = Client::builder()
        .environment("prod")
        .relay(&relay.base, None)
        .build()
        .expect("the relay serves prod");
    let first = repo.head();
    assert_eq!(client.current().revision(), first);
    assert_eq!(client.status().origin, Origin::Source);
    // `alice` is a target of `on`.
    assert!(client.bool_value("new-checkout", &alice(), false));
    let events = client.subscribe();

    // A commit reaches the relay, whose stream tells the client to fetch.
    repo.flagctl(&["disable", "new-checkout", "--env", "prod", "--yes"])
        .ok();
    let disabled = repo.head();
    let event = events.wait_for(WAIT, applied(&disabled));
    assert!(event.is_some(), "{:#?}\n{}", client.status(), relay.log());
    assert!(!client.bool_value("new-checkout", &alice(), true));
    assert!(matches!(client.refresh(), Ok(Refresh::Unchanged)));

    // The relay goes away: the last good state keeps serving, the failure
    // is reported.
    let port = relay.port();
    drop(relay);
    let failure = events.wait_for(WAIT, |event| matches!(event, Event::SourceError(_)));
    let Some(Event::SourceError(failure)) = failure else {
        panic!("no source error: {:#?}", client.status());
    };
    assert!(
        matches!(&*failure.error, SourceError::Relay { .. }),
        "{:?}",
        failure.error
    );
    let status = client.status();
    assert!(status.source_failing, "{status:#?}");
    assert_eq!(status.revision, disabled);
    assert!(!client.bool_value("new-checkout", &alice(), true));
    assert!(client.refresh().is_err());

    // Changed while the relay was down, then a relay on the same port: the
    // client reconnects and catches up.
    repo.flagctl(&["enable", "new-checkout", "--env", "prod", "--yes"])
        .ok();
    let enabled = repo.head();
    let listen = format!("127.0.0.1:{port}");
    let relay = Relay::try_start_on(&repo, &listen, &["--env", "prod"])
        .unwrap_or_else(|error| panic!("{error}"));
    let event = events.wait_for(Duration::from_secs(30), applied(&enabled));
    assert!(event.is_some(), "{:#?}\n{}", client.status(), relay.log());
    assert!(client.bool_value("new-checkout", &alice(), false));
    assert!(!client.status().source_failing);

    // And it follows the new relay's stream.
    repo.flagctl(&["disable", "new-checkout", "--env", "prod", "--yes"])
        .ok();
    let again = repo.head();
    assert!(
        events.wait_for(WAIT, applied(&again)).is_some(),
        "{:#?}",
        client.status()
    );
    // Dropping the client interrupts the stream's blocking read (the next
    // heartbeat is up to 15 s away) and joins its thread.
    let started = Instant::now();
    drop(client);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(relay);
}

#[test]
fn a_token_protected_relay_is_followed_with_its_token_and_refuses_others() {
    let repo = Repo::new();
    let tokens = tempfile::tempdir().unwrap();
    let tokens_file = tokens.path().join("tokens.yaml");
    std::fs::write(
        &tokens_file,
        "prod-token-0123456789abcdef: prod\ndev-token-0123456789abcdef: dev\n",
    )
    .unwrap();
    let relay = Relay::start(
        &repo,
        &[
            "--env",
            "dev",
            "--env",
            "prod",
            "--tokens",
            tokens_file.to_str().unwrap(),
        ],
    );

    let client = Client::builder()
        .environment("prod")
        .relay(&relay.base, Some("prod-token-0123456789abcdef"))
        .build()
        .expect("the prod token reads prod");
    assert_eq!(client.current().revision(), repo.head());
    let events = client.subscribe();
    repo.flagctl(&["disable", "new-checkout", "--env", "prod", "--yes"])
        .ok();
    let disabled = repo.head();
    assert!(
        events.wait_for(WAIT, applied(&disabled)).is_some(),
        "{:#?}\n{}",
        client.status(),
        relay.log()
    );
    assert!(!client.bool_value("new-checkout", &alice(), true));

    // A commit that changes only dev moves the revision, not the content
    // (the snapshot's ETag): the client serves the new revision all the same.
    repo.flagctl(&["disable", "new-checkout", "--env", "dev", "--yes"])
        .ok();
    let dev_only = repo.head();
    let event = events.wait_for(WAIT, applied(&dev_only));
    let Some(Event::Applied(change)) = event else {
        panic!("{:#?}\n{}", client.status(), relay.log());
    };
    assert!(change.flags.is_empty(), "{change:?}");

    // A token the relay does not know, or none: a clear build error.
    for token in [Some("not-a-token"), None] {
        let error = Client::builder()
            .environment("prod")
            .relay(&relay.base, token)
            .build()
            .expect_err("refused");
        let BuildError::NoValidState {
            cause: StartError::Source(source),
            ..
        } = &error
        else {
            panic!("{error:?}");
        };
        let SourceError::Relay { url, source } = &**source else {
            panic!("{source:?}");
        };
        assert_eq!(url, &relay.base);
        assert!(
            matches!(&**source, RelayError::Refused { status: 401, .. }),
            "{source:?}"
        );
        let message = chain(&error);
        assert!(message.contains("was refused (401)"), "{message}");
    }

    // The dev token reads dev: a client of prod refuses that snapshot.
    let error = Client::builder()
        .environment("prod")
        .relay(&relay.base, Some("dev-token-0123456789abcdef"))
        .build()
        .expect_err("another environment");
    let rejection = match &error {
        BuildError::NoValidState { cause, .. } => cause.rejection().expect("refused"),
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(&rejection.reason, RejectReason::WrongEnvironment { found } if found == "dev"),
        "{rejection:?}"
    );
}

#[test]
fn flagctl_watch_follows_a_relay_with_a_token_file() {
    let repo = Repo::new();
    let dir = tempfile::tempdir().unwrap();
    let tokens_file = dir.path().join("tokens.yaml");
    std::fs::write(&tokens_file, "prod-token-0123456789abcdef: prod\n").unwrap();
    let relay = Relay::start(
        &repo,
        &["--env", "prod", "--tokens", tokens_file.to_str().unwrap()],
    );
    let token_file = dir.path().join("prod.token");
    std::fs::write(&token_file, "prod-token-0123456789abcdef\n").unwrap();

    let mut watch = repo
        .command(&[
            "watch",
            "--env",
            "prod",
            "--format",
            "json",
            "--relay",
            &relay.base,
            "--token-file",
            token_file.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sender.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let serving: serde_json::Value =
        serde_json::from_str(&lines.recv_timeout(Duration::from_secs(60)).unwrap()).unwrap();
    assert_eq!(serving["event"], "serving");
    assert_eq!(serving["revision"], repo.head());
    assert_eq!(serving["source"], format!("relay `{}`", relay.base));
    repo.flagctl(&["disable", "new-checkout", "--env", "prod", "--yes"])
        .ok();
    let applied: serde_json::Value =
        serde_json::from_str(&lines.recv_timeout(WAIT).unwrap()).unwrap();
    assert_eq!(applied["event"], "applied");
    assert_eq!(applied["revision"], repo.head());
    let _ = watch.kill();
    let _ = watch.wait();

    // A wrong token: exit 1, the relay's refusal and what to do.
    std::fs::write(&token_file, "wrong-token\n").unwrap();
    let run = repo.flagctl(&[
        "watch",
        "--env",
        "prod",
        "--relay",
        &relay.base,
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.starts_with("error: "), "{run:#?}");
    assert!(run.stderr.contains("was refused (401)"), "{run:#?}");
    assert!(run.stderr.contains("help: pass a token"), "{run:#?}");
    assert!(!run.stderr.contains("wrong-token"), "{run:#?}");

    // Not a URL, a token file without a relay, a relay for serve: usage.
    let run = repo.flagctl(&["watch", "--env", "prod", "--relay", "localhost:8016"]);
    assert_eq!(run.code, 2, "{run:#?}");
    let run = repo.flagctl(&["watch", "--env", "prod", "--token-file", "x"]);
    assert_eq!(run.code, 2, "{run:#?}");
    let run = repo.flagctl(&[
        "watch",
        "--env",
        "prod",
        "--relay",
        &relay.base,
        "--ref",
        "main",
    ]);
    assert_eq!(run.code, 2, "{run:#?}");
    let run = repo.flagctl(&["serve", "--env", "prod", "--relay", &relay.base]);
    assert_eq!(run.code, 2, "{run:#?}");
}
