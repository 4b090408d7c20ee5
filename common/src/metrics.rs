//! Prometheus metrics in the OpenMetrics text format (the
//! `prometheus-client` crate), built fresh from current state at each
//! scrape: agents and the controller fill one of these and render it.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// The content type of `render`'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Default)]
pub struct Metrics {
    registry: Registry,
    gauges: HashMap<&'static str, Family<Labels, Gauge<f64, AtomicU64>>>,
    counters: HashMap<&'static str, Family<Labels, Counter<f64, AtomicU64>>>,
}

fn labels(l: &[(&str, &str)]) -> Labels {
    l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Metrics {
    /// A value that goes up and down. (`help` gets its full stop from the
    /// encoder.)
    pub fn gauge(&mut self, name: &'static str, help: &str, l: &[(&str, &str)], value: f64) {
        let registry = &mut self.registry;
        let family = self.gauges.entry(name).or_insert_with(|| {
            let f = Family::default();
            registry.register(name, help, f.clone());
            f
        });
        family.get_or_create(&labels(l)).set(value);
    }

    /// A running total (the name gets `_total`).
    pub fn counter(&mut self, name: &'static str, help: &str, l: &[(&str, &str)], value: f64) {
        let registry = &mut self.registry;
        let family = self.counters.entry(name).or_insert_with(|| {
            let f = Family::default();
            registry.register(name, help, f.clone());
            f
        });
        family.get_or_create(&labels(l)).inc_by(value);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_gauges_and_counters_with_labels() {
        let mut m = super::Metrics::default();
        m.gauge("skiff_containers", "Containers by state", &[("state", "running")], 2.0);
        m.gauge("skiff_containers", "Containers by state", &[("state", "paused")], 0.0);
        m.counter("skiff_events", "Events recorded", &[], 7.0);
        let text = m.render();
        assert!(text.contains("skiff_containers{state=\"running\"} 2.0"), "{text}");
        assert!(text.contains("skiff_containers{state=\"paused\"} 0.0"), "{text}");
        assert!(
            text.contains("# TYPE skiff_events counter") && text.contains("skiff_events_total{} 7.0"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
