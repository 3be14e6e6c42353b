//! HTTP request metrics: a count and a latency histogram per (method, matched route[, status]).
//!
//! Invariant: the `route` label is the route template the router matched (`/api/v1/collections/{name}`),
//! never the raw path, so collection names and point ids cannot multiply the series; requests that
//! match no route are labelled `route="unmatched"`, and methods outside the standard set
//! `method="OTHER"`. The label sets are therefore bounded by the routes the server has.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// Upper bounds (seconds) of the latency buckets: 100 µs to 10 s, covering a cached read to a large
/// batch waiting for fsync.
pub const LATENCY_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Labels of the request counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

/// Labels of the latency histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The HTTP metric families; cheap to clone (the families are shared).
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily,
}

impl HttpMetrics {
    /// New families, registered in `registry` as `vectorizer_http_requests_total` and
    /// `vectorizer_http_request_duration_seconds`.
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "vectorizer_http_requests",
            "HTTP requests answered, by method, matched route and status code",
            requests.clone(),
        );
        registry.register(
            "vectorizer_http_request_duration_seconds",
            "Time from receiving a request to sending its response headers, by method and matched route",
            duration.clone(),
        );
        Self { requests, duration }
    }

    /// Records one answered request.
    pub fn observe(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        self.requests.get_or_create(&RequestLabels { method, route: route.to_owned(), status }).inc();
        self.duration.get_or_create(&RouteLabels { method, route: route.to_owned() }).observe(seconds);
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The `method` label: the standard methods by name, anything else `OTHER`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Middleware: times every request and counts it under its matched route.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or("unmatched");
    state.metrics.http.observe(method, route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}
