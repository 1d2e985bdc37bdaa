//! What the Temporal server's persistence did: the dev server runs every persistence call
//! through one SQLite connection, so the calls a burst needed (and what else queued for
//! that connection meanwhile) say where the server's time went.

use std::{collections::BTreeMap, time::Duration};

/// Persistence calls so far by operation (summed over services and namespaces), from the
/// server's Prometheus endpoint in `POMBO_BENCH_TEMPORAL_METRICS` (set by `make bench`);
/// empty without it. Read after a pause: the server adds its counts to what it exports
/// once a second, so what came just before is counted.
pub async fn settled_calls() -> BTreeMap<String, f64> {
    let Ok(url) = std::env::var("POMBO_BENCH_TEMPORAL_METRICS") else {
        return BTreeMap::new();
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let Ok(text) = async { reqwest::get(&url).await?.text().await }.await else {
        return BTreeMap::new();
    };
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let Some(labels) = line.strip_prefix("persistence_requests{") else {
            continue;
        };
        let (Some(operation), Some(value)) = (
            labels
                .split("operation=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next()),
            line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()),
        ) else {
            continue;
        };
        *calls.entry(operation.to_owned()).or_default() += value;
    }
    calls
}

/// All calls between two readings per `items`, then the operations called most:
/// `12.3: Op 2.0 · Op 1.1 · …`.
pub fn busiest(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    items: usize,
) -> String {
    let mut per_item: Vec<(f64, &str)> = after
        .iter()
        .map(|(op, n)| {
            let delta = n - before.get(op).copied().unwrap_or_default();
            (delta / items as f64, op.as_str())
        })
        .collect();
    // The total counts every operation, the list only those worth naming.
    let total: f64 = per_item.iter().map(|(per, _)| per).sum();
    per_item.retain(|(per, _)| *per >= 0.05);
    per_item.sort_by(|a, b| b.0.total_cmp(&a.0));
    if per_item.is_empty() {
        return "n/a".to_owned();
    }
    let most = per_item
        .iter()
        .take(6)
        .map(|(per, op)| format!("{op} {per:.1}"))
        .collect::<Vec<_>>()
        .join(" · ");
    format!("{total:.1}: {most}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busiest_lists_the_largest_increases_per_item_and_drops_the_negligible() {
        let before = BTreeMap::from([("A".to_owned(), 10.0), ("B".to_owned(), 5.0)]);
        let after = BTreeMap::from([
            ("A".to_owned(), 30.0),
            ("B".to_owned(), 5.0),
            ("C".to_owned(), 40.0),
            ("D".to_owned(), 0.4),
            ("E".to_owned(), 0.4),
        ]);
        // D and E are too small to name, not to count.
        assert_eq!(busiest(&before, &after, 10), "6.1: C 4.0 · A 2.0");
        assert_eq!(busiest(&after, &after, 10), "n/a");
    }
}
