//! `/metrics`: the relay's own request counters and latency histogram,
//! and, read at scrape time from the clients, evaluations by environment,
//! flag, variant and reason, reloads, refusals, the served revision and
//! its age. The evaluation path gains nothing for them: the counts are the
//! clients' own per-variant counters.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::state::State;
use crate::watch::Origin;

/// The label value under which evaluations of unknown keys are counted:
/// never the requested key, so a client cannot grow the label set.
pub(crate) const UNKNOWN_FLAG: &str = "(unknown)";

type RouteStatus = [(&'static str, String); 2];
type RouteOnly = [(&'static str, &'static str); 1];

/// The relay's own metrics, updated per request.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    latency: Family<RouteOnly, Histogram>,
    pub(crate) stream_clients: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RouteStatus, Counter>::default();
        let latency = Family::<RouteOnly, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.000_025, 2.0, 18))) as fn() -> Histogram,
        );
        let stream_clients = Gauge::default();
        registry.register(
            "flagctl_serve_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "flagctl_serve_request_duration_seconds",
            "Time from request to response headers, by route",
            latency.clone(),
        );
        registry.register(
            "flagctl_serve_stream_clients",
            "Change-stream (SSE) clients connected",
            stream_clients.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            stream_clients,
        }
    }

    /// Counts one answered request.
    pub(crate) fn record(&self, route: &'static str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&[("route", route.to_owned()), ("status", status.to_string())])
            .inc();
        self.latency
            .get_or_create(&[("route", route)])
            .observe(elapsed.as_secs_f64());
    }
}

/// The whole exposition, the clients' figures read now.
pub(crate) fn render(state: &Arc<State>) -> Result<String, std::fmt::Error> {
    let mut text = String::with_capacity(4096);
    prometheus_client::encoding::text::encode_registry(&mut text, &state.metrics.registry)?;
    let mut scrape = Registry::default();
    scrape.register_collector(Box::new(Clients(state.clone())));
    prometheus_client::encoding::text::encode_registry(&mut text, &scrape)?;
    prometheus_client::encoding::text::encode_eof(&mut text)?;
    Ok(text)
}

/// The classic Prometheus text format (0.0.4) of an OpenMetrics
/// exposition: counter families are named with their `_total` suffix, an
/// info family becomes a gauge named `…_info`, and there is no `# EOF`.
/// Parsers of the classic format (Prometheus' own before content
/// negotiation, `prometheus_client.parser`) then see the right types.
pub(crate) fn to_classic(openmetrics: &str) -> String {
    let mut text = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                other => ("", other),
            };
            if let Some(help) = help.take() {
                let description = help.split_once(' ').map_or("", |(_, text)| text);
                text.push_str(&format!("# HELP {name}{suffix} {description}\n"));
            }
            text.push_str(&format!("# TYPE {name}{suffix} {kind}\n"));
            continue;
        }
        if let Some(help) = help.take() {
            text.push_str("# HELP ");
            text.push_str(help);
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// The clients' figures, read at scrape time.
struct Clients(Arc<State>);

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clients")
    }
}

impl Collector for Clients {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = &self.0;
        let statuses: Vec<_> = state
            .environments
            .iter()
            .map(|environment| (environment, environment.client.status()))
            .collect();

        let mut family = encoder.encode_descriptor(
            "flagctl_serve_evaluations",
            "Flag evaluations by environment, flag, variant and reason (OpenFeature's names); unknown keys count under flag=\"(unknown)\"",
            None,
            MetricType::Counter,
        )?;
        for (environment, _) in &statuses {
            let counts = environment.client.evaluation_counts();
            for (flag, counts) in &counts.flags {
                for ((variant, reason), count) in &counts.by_reason {
                    let labels = [
                        ("environment", environment.name.as_str()),
                        ("flag", flag.as_str()),
                        ("variant", variant.as_deref().unwrap_or("")),
                        ("reason", reason.openfeature()),
                    ];
                    ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
                }
            }
            if counts.not_found > 0 {
                let labels = [
                    ("environment", environment.name.as_str()),
                    ("flag", UNKNOWN_FLAG),
                    ("variant", ""),
                    ("reason", "ERROR"),
                ];
                ConstCounter::new(counts.not_found).encode(family.encode_family(&labels)?)?;
            }
        }

        type Read = fn(&crate::watch::Status) -> u64;
        let counters: [(&str, &str, Read); 3] = [
            (
                "flagctl_serve_reloads",
                "New revisions applied after startup",
                |status| status.reloads,
            ),
            (
                "flagctl_serve_rejections",
                "Revisions refused (invalid, unreadable); the previous state kept serving",
                |status| status.rejections,
            ),
            (
                "flagctl_serve_source_errors",
                "Failures to read the source (a failure repeated on every poll counts once)",
                |status| status.source_errors,
            ),
        ];
        for (name, help, read) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (environment, status) in &statuses {
                let labels = [("environment", environment.name.as_str())];
                ConstCounter::new(read(status)).encode(family.encode_family(&labels)?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "flagctl_serve_revision",
            "The revision each environment serves",
            None,
            MetricType::Info,
        )?;
        for (environment, status) in &statuses {
            let labels = [
                ("environment", environment.name.as_str()),
                ("revision", status.revision.as_str()),
                ("origin", status.origin.as_str()),
            ];
            family.encode_info(&labels)?;
        }

        let mut family = encoder.encode_descriptor(
            "flagctl_serve_revision_age_seconds",
            "Seconds since the served revision started serving",
            None,
            MetricType::Gauge,
        )?;
        let now = SystemTime::now();
        for (environment, status) in &statuses {
            let age = now
                .duration_since(status.loaded_at)
                .unwrap_or_default()
                .as_secs_f64();
            let labels = [("environment", environment.name.as_str())];
            ConstGauge::new(age).encode(family.encode_family(&labels)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "flagctl_serve_ready",
            "1 when the environment serves a valid state from its source, else 0",
            None,
            MetricType::Gauge,
        )?;
        for (environment, status) in &statuses {
            let labels = [("environment", environment.name.as_str())];
            let ready = i64::from(status.origin == Origin::Source);
            ConstGauge::new(ready).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
