//! `GET /metrics` on `slo-host serve`: parsed by a real Prometheus text parser, it carries
//! every series (per objective and per host), and its objective values equal the RPC answers
//! of the same instant. Only a caller with `metrics.read` (or `host.admin`) may read it.

mod common;

use std::collections::BTreeMap;

use common::*;
use prometheus_parse::{Sample, Scrape, Value as Metric};
use serde_json::{json, Value};
use slo_host::artifacts::SLO_PLUGIN_PATH;

const SCRAPER: &str = "scrape-token";

/// `GET /metrics` with `token`: the status and the text.
fn scrape_with(server: &Served, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(format!("{}/metrics", server.base));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = request.call().expect("the request is answered");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.body_mut().read_to_string().expect("text");
    if status == 200 {
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
    }
    (status, text)
}

fn scrape(server: &Served) -> (u16, String) {
    scrape_with(server, Some(SCRAPER))
}

fn parse(text: &str) -> Vec<Sample> {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("the Prometheus parser reads it")
        .samples
}

fn value(sample: &Sample) -> f64 {
    match &sample.value {
        Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
        other => panic!("{}: not a number: {other:?}", sample.metric),
    }
}

/// The samples of `metric` keyed by the value of `label`.
fn by_label(samples: &[Sample], metric: &str, label: &str) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter(|s| s.metric == metric)
        .map(|s| (s.labels.get(label).unwrap_or_default().to_owned(), value(s)))
        .collect()
}

fn list(server: &Served) -> Value {
    let (status, answer) = server.rpc("listObjectives", Some(ADMIN), json!({}));
    assert_eq!(status, 200, "{answer}");
    answer
}

#[test]
fn metrics_parse_carry_every_series_and_equal_the_rpc_answers() {
    let dir = fresh_dir("metrics");
    std::fs::copy(SLO_PLUGIN_PATH, dir.join("plugin.wasm")).unwrap();
    let server = serve(
        &dir,
        &["--token", &format!("{SCRAPER}=prometheus:metrics.read")],
    );
    for system in ["api", "db"] {
        server.admin(
            "systems",
            json!({ "id": system, "name": format!("The {system}") }),
        );
        for mode in ["strict", "self-only"] {
            let (status, answer) = server.rpc(
                "createObjective",
                Some(ADMIN),
                json!({"systemId": system, "target": 99.9, "windowDays": 30, "dependencyExclusion": mode}),
            );
            assert_eq!(status, 200, "{answer}");
        }
    }
    // A closed outage on api, an open one on db.
    for status in ["unhealthy", "healthy"] {
        server.admin("health", json!({"systemId": "api", "status": status}));
    }
    server.admin("health", json!({"systemId": "db", "status": "unhealthy"}));

    // The same instant: listObjectives answers the same before and after the scrape.
    let (text, answer) = (0..5)
        .find_map(|_| {
            let before = list(&server);
            let (status, text) = scrape(&server);
            assert_eq!(status, 200, "{text}");
            (list(&server) == before).then_some((text, before))
        })
        .expect("a stable answer");
    let samples = parse(&text);

    for metric in [
        "slo_objective_availability_ratio",
        "slo_objective_error_budget_remaining_ratio",
        "slo_objective_error_budget_consumed_minutes",
        "slo_objective_burn_rate",
        "slo_objective_alert_firing",
        "slo_objective_open_downtime",
        "slo_host_invocations_total",
        "slo_host_invocation_duration_seconds",
        "slo_host_sql_seconds_total",
        "slo_host_queue_depth",
        "slo_host_queue_oldest_due_age_seconds",
        "slo_host_dead_letters",
        "slo_host_swaps_total",
        "slo_host_rollbacks_total",
        "slo_host_serving_info",
    ] {
        assert!(
            samples.iter().any(|s| s.metric == metric),
            "{metric} is missing from:\n{text}"
        );
    }

    let availability = by_label(&samples, "slo_objective_availability_ratio", "objective_id");
    let remaining = by_label(
        &samples,
        "slo_objective_error_budget_remaining_ratio",
        "objective_id",
    );
    let consumed = by_label(
        &samples,
        "slo_objective_error_budget_consumed_minutes",
        "objective_id",
    );
    let open = by_label(&samples, "slo_objective_open_downtime", "objective_id");
    let rows = answer["objectives"].as_array().expect("objectives");
    assert_eq!(rows.len(), 4);
    for row in rows {
        let id = row["objective"]["id"].as_str().expect("id");
        let status = &row["status"];
        let percent = |field: &str| status[field].as_f64().expect(field) / 100.0;
        assert_eq!(availability[id], percent("currentAvailability"), "{id}");
        assert_eq!(
            remaining[id],
            percent("errorBudgetRemainingPercent"),
            "{id}"
        );
        assert_eq!(
            consumed[id],
            status["errorBudgetConsumedMinutes"].as_f64().unwrap(),
            "{id}"
        );
        assert_eq!(
            open[id],
            f64::from(u8::from(status["hasOpenDowntime"] == true)),
            "{id}"
        );
        let rates: BTreeMap<String, f64> = samples
            .iter()
            .filter(|s| {
                s.metric == "slo_objective_burn_rate" && s.labels.get("objective_id") == Some(id)
            })
            .map(|s| (s.labels.get("window").unwrap().to_owned(), value(s)))
            .collect();
        for (window, rate) in status["burnRates"].as_object().expect("burnRates") {
            assert_eq!(rates.get(window).copied(), rate.as_f64(), "{id} {window}");
        }
        let tiers: BTreeMap<String, f64> = samples
            .iter()
            .filter(|s| {
                s.metric == "slo_objective_alert_firing" && s.labels.get("objective_id") == Some(id)
            })
            .map(|s| (s.labels.get("tier").unwrap().to_owned(), value(s)))
            .collect();
        let alert = status["burnAlert"].as_str().unwrap();
        assert_eq!(tiers["page"], f64::from(u8::from(alert == "page")), "{id}");
        assert_eq!(
            tiers["ticket"],
            f64::from(u8::from(alert == "ticket")),
            "{id}"
        );
        let labelled = samples
            .iter()
            .find(|s| {
                s.metric == "slo_objective_open_downtime"
                    && s.labels.get("objective_id") == Some(id)
            })
            .unwrap();
        let system = row["objective"]["systemId"].as_str().unwrap();
        assert_eq!(labelled.labels.get("system_id"), Some(system));
        assert_eq!(
            labelled.labels.get("system_name"),
            Some(format!("The {system}").as_str())
        );
        assert_eq!(
            labelled.labels.get("mode"),
            row["objective"]["dependencyExclusion"].as_str()
        );
    }
    // db's outage is open: its objectives say so.
    assert_eq!(open.values().filter(|v| **v == 1.0).count(), 2);

    // Host series: the RPC calls above are counted by export and outcome, and the serving
    // version is the one /admin/status shows.
    let rpc_ok: f64 = samples
        .iter()
        .filter(|s| {
            s.metric == "slo_host_invocations_total"
                && s.labels.get("export") == Some("rpc.handle")
                && s.labels.get("outcome") == Some("ok")
        })
        .map(value)
        .sum();
    assert!(rpc_ok >= 4.0, "four creates and the reads: {rpc_ok}");
    let serving = samples
        .iter()
        .find(|s| s.metric == "slo_host_serving_info")
        .unwrap();
    assert_eq!(
        serving.labels.get("digest"),
        server.status()["plugin"]["digest"].as_str()
    );
    let histogram = samples
        .iter()
        .find(|s| s.metric == "slo_host_invocation_duration_seconds")
        .unwrap();
    assert!(
        matches!(histogram.value, Metric::Histogram(_)),
        "{histogram:?}"
    );
    let dead = by_label(&samples, "slo_host_dead_letters", "queue");
    assert!(dead.values().all(|n| *n == 0.0), "{dead:?}");

    // Access: a reader's token is refused, as is no token; the admin may read.
    let scrape_as = |token: Option<&str>| scrape_with(&server, token).0;
    assert_eq!(scrape_as(Some(READER)), 403);
    assert_eq!(scrape_as(None), 403);
    assert_eq!(scrape_as(Some(ADMIN)), 200);
}
