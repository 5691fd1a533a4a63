//! `spec.lifetime`: when a playground is deleted. Pure; the reconciler shows the time in
//! `status.expiresAt`, comes back then, and deletes the playground.

use std::time::Duration;

use bp_generator::BuilderPlayground;
use bp_generator::duration;
use bp_generator::validate::MAX_LIFETIME_HOURS;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// When the playground is to be deleted: its creationTimestamp plus `spec.lifetime`. `None`
/// without a lifetime, with one the spec check refuses (its InvalidSpec status says why: a
/// playground is never deleted on a value nobody meant), or before the API server has set a
/// creationTimestamp.
pub fn expiry(pg: &BuilderPlayground) -> Option<Timestamp> {
    let nanos = duration::parse(pg.spec.lifetime.as_deref()?).ok()?;
    if nanos == 0 || nanos > MAX_LIFETIME_HOURS * 3_600_000_000_000 {
        return None;
    }
    let created = pg.metadata.creation_timestamp.as_ref()?.0;
    created.checked_add(SignedDuration::from_nanos(i64::try_from(nanos).ok()?)).ok()
}

/// How long from `now` until `expiry`; zero once it has passed.
pub fn left(expiry: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(expiry.duration_since(now)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::fixture::playground;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn created_at(at: &str, lifetime: Option<&str>) -> BuilderPlayground {
        let mut pg = playground();
        pg.metadata.creation_timestamp = Some(Time(at.parse().unwrap()));
        pg.spec.lifetime = lifetime.map(Into::into);
        pg
    }

    #[test]
    fn a_playground_expires_its_lifetime_after_its_creation() {
        let at = |lifetime: &str| expiry(&created_at("2026-11-30T12:00:00Z", Some(lifetime))).map(|t| t.to_string());
        assert_eq!(at("20s").as_deref(), Some("2026-11-30T12:00:20Z"));
        assert_eq!(at("2h30m").as_deref(), Some("2026-11-30T14:30:00Z"));
        assert_eq!(at("1.5s").as_deref(), Some("2026-11-30T12:00:01.5Z"));
        assert_eq!(at("87600h").as_deref(), Some("2036-11-27T12:00:00Z"), "ten years, leap days included");
        // What the spec check refuses never deletes anything.
        for refused in ["banana", "0", "0s", "-1h", "87601h"] {
            assert_eq!(at(refused), None, "{refused}");
        }
        assert_eq!(expiry(&created_at("2026-11-30T12:00:00Z", None)), None, "no lifetime");
        let mut unsaved = created_at("2026-11-30T12:00:00Z", Some("1h"));
        unsaved.metadata.creation_timestamp = None;
        assert_eq!(expiry(&unsaved), None, "not created yet");
    }

    #[test]
    fn the_time_left_is_never_negative() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(left(t("2026-11-30T12:00:20Z"), t("2026-11-30T12:00:00Z")), Duration::from_secs(20));
        assert_eq!(left(t("2026-11-30T12:00:20Z"), t("2026-11-30T12:00:19.75Z")), Duration::from_millis(250));
        assert_eq!(left(t("2026-11-30T12:00:20Z"), t("2026-11-30T12:00:20Z")), Duration::ZERO);
        assert_eq!(left(t("2026-11-30T12:00:20Z"), t("2026-11-30T13:00:00Z")), Duration::ZERO);
    }
}
