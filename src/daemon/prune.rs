//! Prune: Docker's prune filters (`until`, `label`, `label!`) and the
//! container and image prunes (moby 20.10 `daemon/prune.go`,
//! `daemon/images/image_prune.go`). What a prune reports as reclaimed is
//! measured on disk ([`crate::disk_usage`]): the allocated blocks of what was
//! removed, a layer still used by a kept image not counted (nor removed).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};

use berth::api::models::ImageDeleteResponseItem;
use berth::image::ImageStore;
use berth::image::store::ImageUser;

use crate::containers::ContainerService;
use crate::containers::Status;
use crate::disk_usage::{freed_of_gone, scan_each};
use crate::error::{ApiError, ApiResult};

/// The filters every prune shares.
#[derive(Debug, Clone, Default)]
pub struct PruneFilters {
    /// `until=`: only what was created before this.
    pub until: Option<DateTime<Utc>>,
    /// `label=k[=v]`: every one must hold.
    pub labels: Vec<String>,
    /// `label!=k[=v]`: what all of them hold is kept.
    pub not_labels: Vec<String>,
}

/// `key` or `key=value` against a label map (Docker's `MatchKVList` item).
fn label_holds(filter: &str, labels: &HashMap<String, String>) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|l| l == v),
        None => labels.contains_key(filter),
    }
}

impl PruneFilters {
    /// Decodes the `filters` map, refusing keys outside `accepted` with
    /// dockerd's message.
    pub fn parse(filters: &HashMap<String, Vec<String>>, accepted: &[&str]) -> ApiResult<Self> {
        if let Some(bad) = filters.keys().find(|k| !accepted.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!("Invalid filter '{bad}'")));
        }
        let until = match filters.get("until").map(Vec::as_slice) {
            None | Some([]) => None,
            Some([v]) => Some(parse_until(v, Utc::now())?),
            Some(_) => return Err(ApiError::invalid("more than one until filter specified")),
        };
        Ok(PruneFilters {
            until,
            labels: filters.get("label").cloned().unwrap_or_default(),
            not_labels: filters.get("label!").cloned().unwrap_or_default(),
        })
    }

    /// Whether something created at `created` with `labels` is selected (moby's `matchLabels` and `until` checks).
    pub fn matches(&self, created: DateTime<Utc>, labels: &HashMap<String, String>) -> bool {
        if self.until.is_some_and(|u| created > u) {
            return false;
        }
        if !self.labels.iter().all(|l| label_holds(l, labels)) {
            return false;
        }
        // moby keeps what matches every `label!` value.
        self.not_labels.is_empty() || !self.not_labels.iter().all(|l| label_holds(l, labels))
    }
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    let ns = total as i128;
    Some(if neg { -ns } else { ns })
}

/// moby's `timetypes.GetTimestamp` + `ParseTimestamps`: a Go duration
/// (meaning that long before `now`), an RFC 3339 time or date (UTC when no
/// zone is given), or Unix seconds with an optional fraction.
pub fn parse_until(value: &str, now: DateTime<Utc>) -> ApiResult<DateTime<Utc>> {
    if let Some(ns) = go_duration(value) {
        return Ok(now - chrono::Duration::nanoseconds(ns as i64));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, fmt) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    if let (Ok(s), true) = (
        secs.parse::<i64>(),
        frac.chars().all(|c| c.is_ascii_digit()) && frac.len() <= 9,
    ) {
        let nanos: u32 = format!("{frac:0<9}").parse().unwrap_or(0);
        if let Some(t) = Utc.timestamp_opt(s, nanos).single() {
            return Ok(t);
        }
    }
    Err(ApiError::invalid(format!(
        "failed to parse value as time or duration: \"{value}\""
    )))
}

/// What a container prune removed: IDs and bytes freed.
#[derive(Debug, Default)]
pub struct PrunedContainers {
    /// Removed container IDs.
    pub deleted: Vec<String>,
    /// Bytes freed on disk.
    pub reclaimed: u64,
}

/// Containers a prune removes at once: a removal mostly waits on the kernel
/// (cgroup rmdir in every v1 hierarchy, unlinking the state dir), so a few at a
/// time overlap those waits; more only contend for the same locks.
const PRUNE_CONCURRENCY: usize = 8;

/// `POST /containers/prune`: removes every container that is not running
/// (nor paused, nor being removed) and matches `filters`.
pub async fn prune_containers(
    containers: &ContainerService,
    filters: &PruneFilters,
) -> ApiResult<PrunedContainers> {
    use futures_util::stream::{self, StreamExt};
    let candidates = containers.all().into_iter().filter(|c| {
        !matches!(c.state().status, Status::Running | Status::Removing)
            && filters.matches(
                c.def.created,
                &c.def.config.labels.clone().unwrap_or_default(),
            )
    });
    let removed: Vec<ApiResult<Option<(String, u64)>>> = stream::iter(candidates)
        .map(|c| async move {
            let dir = c.state_dir.clone();
            let scans = tokio::task::spawn_blocking(move || scan_each([dir])).await?;
            match containers.remove(&c, false, false).await {
                Ok(()) => {
                    let freed = tokio::task::spawn_blocking(move || freed_of_gone(scans)).await?;
                    Ok(Some((c.def.id.clone(), freed)))
                }
                // Started meanwhile, or removed by someone else: not ours to report.
                Err(e) => {
                    tracing::debug!(id = %c.def.id, error = %e.message, "prune skips a container");
                    Ok(None)
                }
            }
        })
        .buffered(PRUNE_CONCURRENCY)
        .collect()
        .await;
    let mut out = PrunedContainers::default();
    for (id, freed) in removed
        .into_iter()
        .collect::<ApiResult<Vec<_>>>()?
        .into_iter()
        .flatten()
    {
        out.deleted.push(id);
        out.reclaimed += freed;
    }
    Ok(out)
}

/// What an image prune removed.
#[derive(Debug, Default)]
pub struct PrunedImages {
    /// Docker's `ImagesDeleted`: untagged references and deleted IDs.
    pub deleted: Vec<ImageDeleteResponseItem>,
    /// Bytes freed on disk.
    pub reclaimed: u64,
}

/// `POST /images/prune`: with `dangling_only` the untagged images nothing
/// builds on, else every image no container uses. Runs blocking.
///
/// An image a container uses, or is being created from (a pin taken by
/// [`ImageStore::resolve_pinned`]), is refused by the store's own removal
/// check, made under the store's lock: a concurrent `run` and prune
/// serialise there. Parents left without children are taken in a next round,
/// as dockerd's `prune` flag to `ImageDelete` does.
pub fn prune_images(
    images: &ImageStore,
    containers: &ContainerService,
    dangling_only: bool,
    filters: &PruneFilters,
) -> PrunedImages {
    let users = |id: &str| {
        containers.image_user(id).or_else(|| {
            images.is_pinned(id).then(|| ImageUser {
                container_id: String::new(),
                running: true,
            })
        })
    };
    let mut out = PrunedImages::default();
    let mut refused: HashSet<String> = HashSet::new();
    loop {
        let mut progress = false;
        for cand in images.prune_candidates() {
            if refused.contains(&cand.id) || cand.has_children {
                continue;
            }
            if dangling_only && cand.tagged {
                continue;
            }
            let created = Utc
                .timestamp_opt(cand.created, 0)
                .single()
                .unwrap_or_default();
            if !filters.matches(created, &cand.labels) {
                continue;
            }
            let parts = images.image_parts(&cand.id).unwrap_or_default();
            let scans = scan_each(parts);
            let names = if cand.references.is_empty() {
                vec![cand.id.clone()]
            } else {
                cand.references.clone()
            };
            let mut removed_any = false;
            for name in names {
                match images.remove(&name, false, &users) {
                    Ok(records) => {
                        removed_any = true;
                        out.deleted.extend(records);
                    }
                    Err(e) => {
                        tracing::debug!(image = %name, error = %e, "prune keeps an image");
                        refused.insert(cand.id.clone());
                    }
                }
            }
            if removed_any {
                progress = true;
                out.reclaimed += freed_of_gone(scans);
            }
            if images.exists(&cand.id) {
                refused.insert(cand.id.clone());
            }
        }
        if !progress {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    #[test]
    fn until_takes_durations_times_and_unix_seconds() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 7, 0, 0).unwrap();
        assert_eq!(
            parse_until("1h30m", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 22, 5, 30, 0).unwrap()
        );
        assert_eq!(
            parse_until("2026-11-20T10:00:00Z", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
        );
        assert_eq!(
            parse_until("2026-11-20", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
        );
        assert_eq!(
            parse_until("1700000000.5", now).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 500_000_000).unwrap()
        );
        let e = parse_until("soon", now).unwrap_err();
        assert_eq!(
            e.message,
            "failed to parse value as time or duration: \"soon\""
        );
    }

    #[test]
    fn filters_validate_keys_and_match_labels() {
        let e = PruneFilters::parse(&map(&[("dangling", "true")]), &["until", "label"]);
        assert_eq!(e.unwrap_err().message, "Invalid filter 'dangling'");
        let e = PruneFilters::parse(&map(&[("until", "1h"), ("until", "2h")]), &["until"]);
        assert_eq!(
            e.unwrap_err().message,
            "more than one until filter specified"
        );

        let f = PruneFilters::parse(
            &map(&[("label", "team"), ("label!", "keep=yes")]),
            &["label", "label!"],
        )
        .unwrap();
        let labels = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let t = Utc::now();
        assert!(f.matches(t, &labels(&[("team", "a")])));
        assert!(!f.matches(t, &labels(&[("team", "a"), ("keep", "yes")])));
        assert!(f.matches(t, &labels(&[("team", "a"), ("keep", "no")])));
        assert!(!f.matches(t, &labels(&[])));

        let old = PruneFilters {
            until: Some(t - chrono::Duration::hours(1)),
            ..Default::default()
        };
        assert!(!old.matches(t, &HashMap::new()));
        assert!(old.matches(t - chrono::Duration::hours(2), &HashMap::new()));
    }
}
