//! Durations kept as a log-spaced histogram, so an hour's times to send can be stored in a
//! roll-up and added to other hours' without keeping every value: bucket `i` (≥ 1) holds
//! values in `[γ^(i-1), γ^i)` milliseconds with γ = 1.04, bucket 0 those under 1 ms. A
//! percentile is read as its bucket's geometric middle: within 2% of the exact value, at
//! about 110 buckets per decade of time that actually occurs. Written as `i:count,…`.

use std::collections::BTreeMap;

use sea_orm::DbBackend;

const GAMMA: f64 = 1.04;

/// A set of durations in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durations {
    buckets: BTreeMap<u32, u64>,
    count: u64,
}

impl Durations {
    fn bucket(ms: f64) -> u32 {
        if ms.is_nan() || ms < 1.0 {
            0
        } else {
            // At most ~700 for a year in milliseconds: far from u32's limit.
            (ms.ln() / GAMMA.ln()).floor() as u32 + 1
        }
    }

    /// The value a bucket stands for: its geometric middle (0 for the bucket under 1 ms).
    fn value(bucket: u32) -> f64 {
        if bucket == 0 {
            0.0
        } else {
            GAMMA.powf(f64::from(bucket) - 0.5)
        }
    }

    /// The SQL of the bucket [`Durations::record`] puts the duration `ms` (an expression,
    /// in milliseconds) in, so that a query returns counts per bucket rather than every
    /// value; `NULL` stays `NULL`. `ln` is PostgreSQL's and, on SQLite, one of the math
    /// functions `.cargo/config.toml` builds it with. On SQLite `ms` is written once (its
    /// timestamps are text, parsed at each mention): under 1 ms is raised to 0.99, whose
    /// bucket comes out 0, and SQLite's `max` of a `NULL` is `NULL`. PostgreSQL's
    /// `greatest` skips a `NULL`, so there it is a `CASE`.
    pub(crate) fn bucket_sql(backend: DbBackend, ms: &str) -> String {
        let ln_gamma = format!("CAST('{:?}' AS DOUBLE PRECISION)", GAMMA.ln());
        match backend {
            DbBackend::Postgres => format!(
                "CASE WHEN {ms} < 1 THEN 0 ELSE CAST(floor(ln({ms}) / {ln_gamma}) AS BIGINT) + 1 END"
            ),
            _ => format!("CAST(floor(ln(max({ms}, 0.99)) / {ln_gamma}) AS BIGINT) + 1"),
        }
    }

    /// `n` durations in `bucket`, as [`Durations::bucket_sql`] counted them.
    pub(crate) fn record_bucket(&mut self, bucket: u32, n: u64) {
        *self.buckets.entry(bucket).or_default() += n;
        self.count += n;
    }

    pub fn record(&mut self, ms: f64) {
        *self.buckets.entry(Self::bucket(ms)).or_default() += 1;
        self.count += 1;
    }

    pub fn add(&mut self, other: &Durations) {
        for (bucket, n) in &other.buckets {
            *self.buckets.entry(*bucket).or_default() += n;
        }
        self.count += other.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `p`-th percentile (0..=1), nearest rank, rounded to the millisecond.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(Self::value(*bucket).round());
            }
        }
        None
    }

    /// `i:count,…`, buckets in order.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(self.buckets.len() * 6);
        for (bucket, n) in &self.buckets {
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str(&format!("{bucket}:{n}"));
        }
        text
    }

    /// [`Durations::encode`] read back; `None` for text it did not write.
    pub fn decode(text: &str) -> Option<Durations> {
        let mut durations = Durations::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (bucket, n) = part.split_once(':')?;
            let n: u64 = n.parse().ok()?;
            *durations.buckets.entry(bucket.parse().ok()?).or_default() += n;
            durations.count += n;
        }
        Some(durations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: impl IntoIterator<Item = f64>) -> Durations {
        let mut d = Durations::default();
        for v in values {
            d.record(v);
        }
        d
    }

    /// The database puts a duration in the bucket [`Durations::record`] would.
    #[tokio::test]
    async fn the_sql_bucket_is_the_one_record_uses() {
        use sea_orm::{ConnectionTrait, Statement};
        let db = crate::connect("sqlite::memory:").await.unwrap();
        let values = [
            -5.0,
            0.0,
            0.5,
            0.99,
            0.999,
            1.0,
            1.04,
            1.05,
            17.3,
            300.0,
            999.9,
            3_000.0,
            86_400_000.0,
        ];
        // And no duration, no bucket.
        for ms in values.map(Some).into_iter().chain([None]) {
            let row = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    format!(
                        "SELECT {} AS b",
                        Durations::bucket_sql(DbBackend::Sqlite, "CAST(?1 AS REAL)")
                    ),
                    [sea_orm::Value::Double(ms)],
                ))
                .await
                .unwrap()
                .unwrap();
            let bucket: Option<i64> = row.try_get("", "b").unwrap();
            let expected = ms.map(|ms| i64::from(Durations::bucket(ms)));
            assert_eq!(bucket, expected, "{ms:?} ms");
        }
    }

    #[test]
    fn percentiles_are_within_two_percent_of_the_exact_ones() {
        let values: Vec<f64> = (1..=10_000).map(|i| f64::from(i) * 1.7).collect();
        let d = of(values.iter().copied());
        for p in [0.5, 0.95, 0.99] {
            let exact = values[((p * values.len() as f64).ceil() as usize) - 1];
            let read = d.percentile(p).unwrap();
            assert!(
                (read - exact).abs() / exact < 0.02,
                "p{p}: {read} vs {exact}"
            );
        }
        assert_eq!(d.count(), 10_000);
        assert_eq!(of([0.3]).percentile(0.5), Some(0.0));
        assert_eq!(Durations::default().percentile(0.5), None);
    }

    #[test]
    fn hours_added_together_are_the_hours_recorded_together() {
        let (a, b) = ([5.0, 90.0, 1_200.0], [7.0, 90.0, 40_000.0]);
        let mut sum = of(a);
        sum.add(&of(b));
        assert_eq!(sum, of(a.into_iter().chain(b)));
        assert_eq!(Durations::decode(&sum.encode()), Some(sum));
        assert_eq!(Durations::decode(""), Some(Durations::default()));
        assert_eq!(Durations::decode("3:x"), None);
    }
}
