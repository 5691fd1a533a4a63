//! Prometheus metrics (DESIGN §7), controller-runtime style: counters end in `_total`, units in
//! names, bounded labels. Per-playground gauges are computed at scrape time from the
//! controller's cache, so a deleted playground's series disappear with it.

use std::time::Instant;

use bp_generator::BuilderPlayground;
use bp_generator::api::Phase;
use kube::ResourceExt;
use kube::runtime::reflector::Store;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// The operator's metrics.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: IntCounterVec,
    pub reconcile_errors: IntCounterVec,
    pub reconcile_duration: Histogram,
    pub generator_jobs: IntCounterVec,
    pub generator_duration: Histogram,
    pub time_to_ready: Histogram,
    pub api_requests: IntCounterVec,
    /// 1 while this replica reconciles (holds the leader Lease, or runs without election).
    pub leader: prometheus::IntGauge,
}

impl Metrics {
    /// Registers every series. `store` is the controller's cache of playgrounds.
    pub fn new(store: Store<BuilderPlayground>) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new("bp_reconcile_total", "Reconciliations of BuilderPlaygrounds, by result."),
            &["result"],
        )?;
        let reconcile_errors = IntCounterVec::new(
            Opts::new("bp_reconcile_errors_total", "Failed reconciliations, by reason."),
            &["reason"],
        )?;
        let reconcile_duration = Histogram::with_opts(
            HistogramOpts::new("bp_reconcile_duration_seconds", "Time one reconciliation takes.")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
        )?;
        let generator_jobs = IntCounterVec::new(
            Opts::new("bp_generator_jobs_total", "Generator Jobs observed finished, by result."),
            &["result"],
        )?;
        let generator_duration = Histogram::with_opts(
            HistogramOpts::new(
                "bp_generator_duration_seconds",
                "Time from a generator Job's start to its PodSpec delivered (its completion, or its ConfigMap seen first).",
            )
                .buckets(vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0]),
        )?;
        let time_to_ready = Histogram::with_opts(
            HistogramOpts::new(
                "bp_time_to_ready_seconds",
                "Time from a playground's creation (or spec change) to all its services ready.",
            )
            .buckets(vec![1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0]),
        )?;
        let api_requests = IntCounterVec::new(
            Opts::new("bp_api_requests_total", "Requests the operator sent to the Kubernetes API, by method."),
            &["method"],
        )?;
        // Every known label value at 0 from the start: a rate or an alert on them has a series
        // before the first event.
        for result in ["success", "error"] {
            reconciles.with_label_values(&[result]);
        }
        for reason in crate::error::REASONS {
            reconcile_errors.with_label_values(&[reason]);
        }
        for result in ["success", "failure"] {
            generator_jobs.with_label_values(&[result]);
        }
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(reconcile_errors.clone()))?;
        registry.register(Box::new(reconcile_duration.clone()))?;
        registry.register(Box::new(generator_jobs.clone()))?;
        registry.register(Box::new(generator_duration.clone()))?;
        registry.register(Box::new(time_to_ready.clone()))?;
        registry.register(Box::new(api_requests.clone()))?;
        let leader = prometheus::IntGauge::new(
            "bp_leader",
            "1 while this replica reconciles: it holds the leader Lease, or runs without leader election.",
        )?;
        registry.register(Box::new(leader.clone()))?;
        registry.register(Box::new(PlaygroundCollector::new(store)?))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Metrics {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            generator_jobs,
            generator_duration,
            time_to_ready,
            api_requests,
            leader,
        })
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Starts timing a reconciliation; the time is recorded when the guard drops.
    pub fn reconcile_timer(&self) -> ReconcileTimer {
        ReconcileTimer { start: Instant::now(), histogram: self.reconcile_duration.clone() }
    }
}

/// Records the reconcile duration on drop, whichever way the reconciliation ends.
pub struct ReconcileTimer {
    start: Instant,
    histogram: Histogram,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

/// `bp_playgrounds{phase}`, `bp_playground_ready{namespace,name}`,
/// `bp_playground_services_ready{namespace,name}` and `bp_playground_services{namespace,name}`,
/// read from the cache at scrape time.
struct PlaygroundCollector {
    store: Store<BuilderPlayground>,
    by_phase: IntGaugeVec,
    ready: IntGaugeVec,
    services_ready: IntGaugeVec,
    services: IntGaugeVec,
    descs: Vec<Desc>,
}

impl PlaygroundCollector {
    fn new(store: Store<BuilderPlayground>) -> Result<Self, prometheus::Error> {
        let by_phase = IntGaugeVec::new(Opts::new("bp_playgrounds", "BuilderPlaygrounds by phase."), &["phase"])?;
        let ready = IntGaugeVec::new(
            Opts::new("bp_playground_ready", "1 when every service of the playground is ready."),
            &["namespace", "name"],
        )?;
        let services_ready = IntGaugeVec::new(
            Opts::new("bp_playground_services_ready", "Ready services of the playground."),
            &["namespace", "name"],
        )?;
        let services = IntGaugeVec::new(
            Opts::new("bp_playground_services", "Services of the playground (once its PodSpec is rendered)."),
            &["namespace", "name"],
        )?;
        let descs = [&by_phase, &ready, &services_ready, &services]
            .iter()
            .flat_map(|c| c.desc().into_iter().cloned())
            .collect();
        Ok(PlaygroundCollector { store, by_phase, ready, services_ready, services, descs })
    }
}

impl Collector for PlaygroundCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.ready.reset();
        self.services_ready.reset();
        self.services.reset();
        for phase in Phase::ALL {
            self.by_phase.with_label_values(&[phase.as_str()]).set(0);
        }
        for pg in self.store.state() {
            let namespace = pg.namespace().unwrap_or_default();
            let name = pg.name_any();
            let status = pg.status.as_ref();
            let phase = status.and_then(|s| s.phase).unwrap_or(Phase::Pending);
            self.by_phase.with_label_values(&[phase.as_str()]).inc();
            let ready = status
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                .is_some_and(|c| c.status == "True");
            self.ready.with_label_values(&[&namespace, &name]).set(i64::from(ready));
            let services = status.map_or(0, |s| s.service_statuses.iter().filter(|v| v.ready).count());
            self.services_ready.with_label_values(&[&namespace, &name]).set(services as i64);
            let total = status.map_or(0, |s| s.service_statuses.len());
            self.services.with_label_values(&[&namespace, &name]).set(total as i64);
        }
        let mut families = self.by_phase.collect();
        families.extend(self.ready.collect());
        families.extend(self.services_ready.collect());
        families.extend(self.services.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;
    use crate::status::{Exposure, Stage, compute};
    use bp_generator::{RenderOptions, render};
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateRunning, ContainerStatus, Pod, PodStatus};
    use kube::runtime::{reflector, watcher};

    /// The per-playground series are read from the cache when scraped: one of two services
    /// ready, so not ready, and the total beside the ready count. Counters of known labels
    /// start at 0.
    #[test]
    fn playground_series_come_from_the_cache() {
        let mut pg = playground();
        let rendered = render(&pg, &RenderOptions::default()).unwrap();
        let running = ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() };
        let cs = |name: &str, ready: bool| ContainerStatus {
            name: name.into(),
            ready,
            state: Some(running.clone()),
            ..Default::default()
        };
        let pod = Pod {
            status: Some(PodStatus {
                container_statuses: Some(vec![cs("el", true), cs("el-healthmon", false)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let stage = Stage::Deployed {
            job: "j".into(),
            configmap: "c".into(),
            rendered: &rendered,
            pod: Some(&pod),
            exposure: Exposure::NoPorts,
        };
        pg.status = Some(compute(&stage, None, Some(1), "T"));
        let (reader, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(pg));
        let page = Metrics::new(reader).unwrap().render();
        for line in [
            r#"bp_playground_services{name="l1",namespace="dev"} 2"#,
            r#"bp_playground_services_ready{name="l1",namespace="dev"} 1"#,
            r#"bp_playground_ready{name="l1",namespace="dev"} 0"#,
            r#"bp_playgrounds{phase="Deploying"} 1"#,
            r#"bp_playgrounds{phase="Running"} 0"#,
            r#"bp_reconcile_errors_total{reason="Undecodable"} 0"#,
            r#"bp_reconcile_errors_total{reason="KubeApiError"} 0"#,
            r#"bp_reconcile_total{result="error"} 0"#,
            r#"bp_generator_jobs_total{result="failure"} 0"#,
        ] {
            assert!(page.lines().any(|l| l == line), "{line} in:\n{page}");
        }
    }
}
