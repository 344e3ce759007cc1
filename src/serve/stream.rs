//! The change stream (OFREP ADR-0008): a Server-Sent Events connection per
//! provider that gets `{"type":"refetchEvaluation", "etag", "lastModified"}`
//! on every revision its environment applies, and heartbeat comments in
//! between. A client too slow to keep up is dropped (it reconnects and
//! re-fetches, as the ADR requires), never buffered without bound.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, broadcast, watch};

use super::state::{Notice, State};

/// Decrements the connected-clients gauge when a stream ends.
struct Connected {
    state: Arc<State>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.state.metrics.stream_clients.dec();
    }
}

struct Open {
    notices: broadcast::Receiver<Notice>,
    shutdown: watch::Receiver<bool>,
    _connected: Connected,
}

/// The SSE response for environment `environment`, holding `permit`.
pub(crate) fn open(
    state: &Arc<State>,
    environment: usize,
    permit: OwnedSemaphorePermit,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    state.metrics.stream_clients.inc();
    let open = Open {
        notices: state.environments[environment].notices.subscribe(),
        shutdown: state.shutdown.subscribe(),
        _connected: Connected {
            state: state.clone(),
            _permit: permit,
        },
    };
    let stream = futures_util::stream::unfold(open, |mut open| async move {
        if *open.shutdown.borrow() {
            return None;
        }
        tokio::select! {
            notice = open.notices.recv() => match notice {
                Ok(notice) => Some((Ok(event(&notice)), open)),
                // Lagged: too slow; closed: the relay is going away.
                Err(_) => None,
            },
            _ = open.shutdown.changed() => None,
        }
    });
    Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(state.options.heartbeat)
            .text("heartbeat"),
    )
}

/// One `refetchEvaluation` message.
fn event(notice: &Notice) -> Event {
    let data = json!({
        "type": "refetchEvaluation",
        "etag": format!("\"{}\"", notice.revision),
        "lastModified": notice.applied_at,
    });
    Event::default()
        .id(notice.id.to_string())
        .event("message")
        .data(data.to_string())
}
