//! The daemon's event bus (`GET /events`): every lifecycle change of a
//! container, image, volume or network is published here in dockerd's JSON
//! shape. Live subscribers get events through a broadcast channel; the last
//! [`RING`] events are kept so `since` can replay the recent past.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;

use berth::api::models::ImageDeleteResponseItem;
use berth::image::ImageStore;

use crate::containers::Container;
use crate::containers::mounts::MountPointRecord;
use crate::execs::Exec;
use crate::network::NetworkRecord;

/// How many past events `since` can reach back (dockerd keeps 256; the
/// contract asks for more so a busy test run still replays).
pub const RING: usize = 1024;

/// dockerd's `events.Actor`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Actor {
    /// The object's ID (a volume's name).
    #[serde(rename = "ID")]
    pub id: String,
    /// Key-value details, sorted as Go's JSON encoder sorts map keys.
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// dockerd's `events.Message`, field for field and in its order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    /// Deprecated copy of `Action` (container and image events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Deprecated copy of the actor's ID (container and image events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Deprecated: the container's image (container events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `container`, `image`, `volume`, `network` or `daemon`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// What happened: `create`, `start`, `die`, `exec_create: sh -c …`, ….
    #[serde(rename = "Action")]
    pub action: String,
    /// What it happened to.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local` here (no swarm).
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Message {
    /// A message stamped now, with dockerd's deprecated fields filled where
    /// dockerd fills them.
    pub fn new(kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let legacy = kind == "container" || kind == "image";
        Message {
            status: legacy.then(|| action.to_owned()),
            // Go's omitempty: a prune event's empty ID is left out.
            id: (legacy && !id.is_empty()).then(|| id.to_owned()),
            from: if legacy {
                attributes.get("image").cloned()
            } else {
                None
            },
            kind: kind.to_owned(),
            action: action.to_owned(),
            actor: Actor {
                id: id.to_owned(),
                attributes,
            },
            scope: "local".to_owned(),
            time: nanos.div_euclid(1_000_000_000),
            time_nano: nanos,
        }
    }
}

/// The bus. Cheap to publish to; shared through `Arc`.
pub struct Events {
    ring: Mutex<VecDeque<Arc<Message>>>,
    tx: broadcast::Sender<Arc<Message>>,
    /// Where image events find the image's labels (dockerd copies them).
    images: std::sync::OnceLock<ImageStore>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Events {
    /// An empty bus.
    pub fn new() -> Events {
        let (tx, _) = broadcast::channel(RING);
        Events {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            tx,
            images: std::sync::OnceLock::new(),
        }
    }

    /// Gives image events the store to read labels from (set once at start).
    pub fn use_images(&self, store: ImageStore) {
        let _ = self.images.set(store);
    }

    /// Publishes `msg` to the ring and to live subscribers.
    pub fn publish(&self, msg: Message) {
        let msg = Arc::new(msg);
        // Under the ring lock, so a subscriber's replay and its live stream
        // neither overlap nor leave a gap.
        let mut ring = self.ring.lock().expect("event ring lock");
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(msg.clone());
        let _ = self.tx.send(msg);
    }

    /// Publishes an event of any type.
    pub fn log(&self, kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        self.publish(Message::new(kind, action, id, attributes));
    }

    /// A container event: the container's labels, `image` and `name`, plus
    /// `extra` (dockerd's LogContainerEventWithAttributes).
    pub fn container(&self, c: &Container, action: &str, extra: &[(&str, &str)]) {
        let mut a: BTreeMap<String, String> = c
            .def
            .config
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        a.insert(
            "image".into(),
            c.def.config.image.clone().unwrap_or_default(),
        );
        a.insert("name".into(), c.name());
        a.extend(attrs(extra));
        self.log("container", action, &c.def.id, a);
    }

    /// An image event; `name` is the reference acted on (or the ID). The
    /// image's labels come along while it still exists, as with dockerd.
    pub fn image(&self, id: &str, name: &str, action: &str) {
        let mut a: BTreeMap<String, String> = self
            .images
            .get()
            .and_then(|s| s.resolve(id).ok())
            .and_then(|r| r.config.labels)
            .map(|l| l.into_iter().collect())
            .unwrap_or_default();
        a.insert("name".into(), name.to_owned());
        self.log("image", action, id, a);
    }

    /// One `action` event per distinct image behind `names` (load, save),
    /// named by ID as dockerd names them; unresolvable names are skipped.
    pub fn images_by_name(&self, store: &ImageStore, names: &[String], action: &str) {
        let mut seen = std::collections::BTreeSet::new();
        for n in names {
            if let Ok(r) = store.resolve(n)
                && seen.insert(r.id.clone())
            {
                self.image(&r.id, &r.id, action);
            }
        }
    }

    /// dockerd's events for an image removal of `id`: `untag` per removed
    /// reference, `delete` per deleted image, each named by ID.
    pub fn image_removal(&self, id: &str, items: &[ImageDeleteResponseItem]) {
        for item in items {
            if item.untagged.is_some() {
                self.image(id, id, "untag");
            }
            if let Some(d) = &item.deleted {
                self.image(d, d, "delete");
            }
        }
    }

    /// The events of an image prune: per deleted image (one of `images`, the
    /// IDs there were before; the layers listed with them get no event), an
    /// `untag` for each reference removed before it, then `delete`, as
    /// dockerd 20.10 publishes them.
    pub fn image_prune(&self, items: &[ImageDeleteResponseItem], images: &HashSet<String>) {
        let mut untags = 0;
        for item in items {
            if item.untagged.is_some() {
                untags += 1;
            }
            if let Some(id) = item.deleted.as_ref().filter(|d| images.contains(*d)) {
                for _ in 0..std::mem::take(&mut untags) {
                    self.image(id, id, "untag");
                }
                self.image(id, id, "delete");
            }
        }
    }

    /// The `prune` event closing a prune of `kind` objects, with the bytes reclaimed.
    pub fn prune(&self, kind: &str, reclaimed: u64) {
        let reclaimed = reclaimed.to_string();
        self.log(kind, "prune", "", attrs(&[("reclaimed", &reclaimed)]));
    }

    /// A volume event (`driver` is always `local` here).
    pub fn volume(&self, name: &str, action: &str, extra: &[(&str, &str)]) {
        let mut a = attrs(&[("driver", "local")]);
        a.extend(attrs(extra));
        self.log("volume", action, name, a);
    }

    /// An exec's event on its container: `exec_create` and `exec_start`
    /// carry the command (dockerd's `exec_start: <entrypoint> <args…>`, the
    /// space kept when there are no arguments), `exec_die` the exit code.
    pub fn exec(&self, e: &Exec, action: &str, exit_code: Option<i64>) {
        let action = match e.cmd.split_first() {
            Some((first, rest)) if exit_code.is_none() => {
                format!("{action}: {first} {}", rest.join(" "))
            }
            _ => action.to_owned(),
        };
        let code = exit_code.map(|c| c.to_string());
        let mut extra = vec![("execID", e.id.as_str())];
        extra.extend(code.as_deref().map(|c| ("exitCode", c)));
        self.container(&e.container, &action, &extra);
    }

    /// A volume's `mount` into a starting container, with dockerd's attributes.
    pub fn volume_mount(&self, r: &MountPointRecord, container: &str) {
        let extra = [
            ("container", container),
            ("destination", &r.destination),
            ("propagation", &r.propagation),
            ("read/write", if r.rw { "true" } else { "false" }),
        ];
        self.volume(&r.name, "mount", &extra);
    }

    /// A network event; `container` for connect and disconnect.
    pub fn network(&self, n: &NetworkRecord, action: &str, container: Option<&str>) {
        let mut a = attrs(&[("name", &n.name), ("type", n.driver.as_str())]);
        if let Some(c) = container {
            a.insert("container".into(), c.to_owned());
        }
        self.log("network", action, &n.id, a);
    }

    /// The buffered events at or after `since_nanos` and a receiver for every
    /// later one.
    pub fn subscribe(
        &self,
        since_nanos: Option<i64>,
    ) -> (Vec<Arc<Message>>, broadcast::Receiver<Arc<Message>>) {
        let ring = self.ring.lock().expect("event ring lock");
        let past = match since_nanos {
            Some(since) => ring
                .iter()
                .filter(|m| m.time_nano >= since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (past, self.tx.subscribe())
    }

    /// How many `/events` streams are open (`/info`'s `NEventsListener`).
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// The `filters` of `GET /events`, matched as moby's daemon/events/filter.go.
#[derive(Debug, Default)]
pub struct Filter(HashMap<String, Vec<String>>);

impl Filter {
    /// Wraps decoded `filters`.
    pub fn new(filters: HashMap<String, Vec<String>>) -> Filter {
        Filter(filters)
    }

    fn values(&self, key: &str) -> Option<&[String]> {
        self.0.get(key).map(Vec::as_slice).filter(|v| !v.is_empty())
    }

    fn exact(&self, key: &str, source: &str) -> bool {
        self.values(key)
            .is_none_or(|vs| vs.iter().any(|v| v == source))
    }

    fn fuzzy(&self, key: &str, source: &str) -> bool {
        self.values(key)
            .is_none_or(|vs| vs.iter().any(|v| source.starts_with(v.as_str())))
    }

    fn by_name(&self, key: &str, m: &Message) -> bool {
        let name = m.actor.attributes.get("name").map_or("", String::as_str);
        self.fuzzy(key, &m.actor.id) || self.fuzzy(key, name)
    }

    fn event(&self, m: &Message) -> bool {
        // dockerd: `exec_create`, `exec_start` and `health_status` match the
        // actions that carry a suffix (`exec_start: sh`).
        let prefixed = self.values("event").is_some_and(|vs| {
            vs.iter()
                .any(|v| matches!(v.as_str(), "exec_create" | "exec_start" | "health_status"))
        });
        if prefixed {
            self.fuzzy("event", &m.action)
        } else {
            self.exact("event", &m.action)
        }
    }

    fn image(&self, m: &Message) -> bool {
        let Some(vs) = self.values("image") else {
            return true;
        };
        let attr = if m.kind == "image" { "name" } else { "image" };
        let name = m.actor.attributes.get(attr).map_or("", String::as_str);
        [
            m.actor.id.as_str(),
            name,
            strip_tag(&m.actor.id),
            strip_tag(name),
        ]
        .iter()
        .any(|s| vs.iter().any(|v| v == s))
    }

    fn labels(&self, m: &Message) -> bool {
        let Some(vs) = self.values("label") else {
            return true;
        };
        vs.iter().all(|v| {
            let (k, want) = match v.split_once('=') {
                Some((k, w)) => (k, Some(w)),
                None => (v.as_str(), None),
            };
            m.actor
                .attributes
                .get(k)
                .is_some_and(|have| want.is_none_or(|w| w == have))
        })
    }

    /// Whether `m` passes every filter.
    pub fn matches(&self, m: &Message) -> bool {
        self.event(m)
            && self.exact("type", &m.kind)
            && self.exact("scope", &m.scope)
            && self.by_name("container", m)
            && self.by_name("volume", m)
            && self.by_name("network", m)
            && self.by_name("daemon", m)
            && self.image(m)
            && self.labels(m)
    }
}

/// `busybox:latest` → `busybox`; digests go too (moby's stripTag).
fn strip_tag(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(n, _)| n);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// The IDs of every image in `store` (empty when it cannot be listed: the
/// events then leave out the deletes, never the operation).
pub fn image_ids(store: &ImageStore) -> HashSet<String> {
    match store.list(true, &HashMap::new(), false) {
        Ok(list) => list.into_iter().map(|i| i.id).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "listing images for the prune's events");
            HashSet::new()
        }
    }
}

/// `repo` → `repo:latest`; a reference with a tag or digest as is.
pub fn with_tag(reference: &str) -> String {
    if reference.contains('@') || strip_tag(reference) != reference {
        reference.to_owned()
    } else {
        format!("{reference}:latest")
    }
}

/// Parses dockerd's `seconds[.fraction]` timestamps into Unix nanoseconds,
/// with Go's strconv error wording.
pub fn parse_timestamp(value: &str) -> Result<i64, String> {
    let parse = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))
    };
    let (secs, frac) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs = parse(secs)?;
    let nanos = match frac {
        None => 0,
        Some(f) => {
            let n = parse(f)?;
            let digits = i32::try_from(f.len()).unwrap_or(i32::MAX);
            // Scaled to nanoseconds as dockerd does for any fraction length.
            (n as f64 * 10f64.powi(9 - digits)) as i64
        }
    };
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: &str, action: &str, id: &str, a: &[(&str, &str)]) -> Message {
        Message::new(kind, action, id, attrs(a))
    }

    #[test]
    fn shape_matches_dockerd() {
        let m = msg(
            "container",
            "start",
            "abc",
            &[("image", "busybox"), ("name", "x")],
        );
        let text = serde_json::to_string(&m).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
        let order = [
            "status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["from"], "busybox");
        let n = serde_json::to_value(msg("network", "create", "n1", &[("name", "x")])).unwrap();
        assert!(n.get("status").is_none() && n.get("id").is_none() && n.get("from").is_none());
        let p = serde_json::to_value(msg("container", "prune", "", &[("reclaimed", "0")])).unwrap();
        assert_eq!(p["status"], "prune");
        assert!(p.get("id").is_none());
        let i = serde_json::to_value(msg("image", "tag", "sha256:1", &[("name", "b:1")])).unwrap();
        assert_eq!(i["status"], "tag");
        assert!(i.get("from").is_none());
    }

    #[test]
    fn timestamps_parse_like_dockerd() {
        assert_eq!(parse_timestamp("12").unwrap(), 12_000_000_000);
        assert_eq!(parse_timestamp("12.5").unwrap(), 12_500_000_000);
        assert_eq!(parse_timestamp("1.000000007").unwrap(), 1_000_000_007);
        assert_eq!(
            parse_timestamp("abc").unwrap_err(),
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
    }

    #[test]
    fn filters_follow_moby() {
        let f = |pairs: &[(&str, &[&str])]| {
            Filter::new(
                pairs
                    .iter()
                    .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                    .collect(),
            )
        };
        let c = msg(
            "container",
            "exec_start: sh -c true",
            "abcdef",
            &[("image", "busybox:latest"), ("name", "web"), ("foo", "bar")],
        );
        assert!(f(&[]).matches(&c));
        assert!(f(&[("event", &["exec_start"])]).matches(&c));
        assert!(!f(&[("event", &["start"])]).matches(&c));
        assert!(f(&[("container", &["we"])]).matches(&c));
        assert!(f(&[("container", &["abc"])]).matches(&c));
        assert!(!f(&[("container", &["db"])]).matches(&c));
        assert!(f(&[("image", &["busybox"])]).matches(&c));
        assert!(f(&[("label", &["foo=bar"])]).matches(&c));
        assert!(f(&[("label", &["foo"])]).matches(&c));
        assert!(!f(&[("label", &["foo=baz"])]).matches(&c));
        assert!(!f(&[("type", &["image"])]).matches(&c));
        let n = msg(
            "network",
            "connect",
            "n1",
            &[("name", "bridge"), ("container", "abcdef")],
        );
        assert!(!f(&[("container", &["abc"])]).matches(&n));
        assert!(f(&[("network", &["bridge"])]).matches(&n));
    }

    #[test]
    fn ring_replays_since_and_forgets_the_oldest() {
        let bus = Events::new();
        for i in 0..RING + 5 {
            bus.log("volume", "create", &format!("v{i}"), BTreeMap::new());
        }
        let (past, _rx) = bus.subscribe(Some(0));
        assert_eq!(past.len(), RING);
        assert_eq!(past[0].actor.id, "v5");
        let (none, _rx) = bus.subscribe(None);
        assert!(none.is_empty());
    }
}
