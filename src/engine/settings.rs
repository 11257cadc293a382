//! Session settings with libtorrent's names where the meaning is the same.
//!
//! Each setting has a type (int, bool, string), a default, and for integers
//! a valid range. Setting an unknown name, a value of the wrong type, or an
//! integer out of range is an error, never ignored.

use super::alerts::category;
use super::error::{Error, ErrorKind, Result};
use crate::proto::dht::{NodeEntry, NodeId};

/// What a DHT node keeps across sessions: its id (so the nodes that know it
/// keep routing to it) and the nodes of its routing table (so it can
/// bootstrap without a bootstrap node).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhtState {
    pub node_id: Option<NodeId>,
    pub nodes: Vec<NodeEntry>,
}

/// Most nodes kept in a saved state: a full routing table seldom holds more.
const MAX_SAVED_NODES: usize = 2000;

impl DhtState {
    /// `{"node-id": 20 bytes, "nodes": compact IPv4 nodes, "nodes6":
    /// compact IPv6 nodes}`, as libtorrent saves it under "dht".
    fn to_value<'a>(&'a self, bufs: &'a mut [Vec<u8>; 2]) -> crate::proto::bencode::Value<'a> {
        use crate::proto::bencode::Value;
        bufs[0] = crate::proto::dht::encode_compact_nodes(&self.nodes, false);
        bufs[1] = crate::proto::dht::encode_compact_nodes(&self.nodes, true);
        let mut pairs = vec![];
        if let Some(id) = &self.node_id {
            pairs.push(("node-id", Value::Bytes(&id.0)));
        }
        let [v4, v6] = bufs;
        pairs.push(("nodes", Value::Bytes(v4.as_slice())));
        if !v6.is_empty() {
            pairs.push(("nodes6", Value::Bytes(v6.as_slice())));
        }
        crate::proto::bencode::dict(pairs)
    }

    fn from_value(v: &crate::proto::bencode::Value<'_>) -> Result<DhtState> {
        let bad = |why: &str| Error::invalid_argument(format!("session state: dht: {why}"));
        let node_id = match v.get("node-id") {
            None => None,
            Some(b) => {
                let b = b.as_bytes().ok_or_else(|| bad("node-id is not a string"))?;
                Some(NodeId(b.try_into().map_err(|_| bad("node-id is not 20 bytes"))?))
            }
        };
        let mut nodes = Vec::new();
        for (key, ipv6, size) in [
            ("nodes", false, crate::proto::dht::COMPACT_NODE_V4),
            ("nodes6", true, crate::proto::dht::COMPACT_NODE_V6),
        ] {
            let Some(b) = v.get(key) else { continue };
            let b = b.as_bytes().ok_or_else(|| bad(&format!("{key} is not a string")))?;
            let list = crate::proto::dht::decode_compact_nodes(b, ipv6)
                .ok_or_else(|| bad(&format!("{key} is not a whole number of {size}-byte entries")))?;
            nodes.extend(list.into_iter().take(MAX_SAVED_NODES));
        }
        Ok(DhtState { node_id, nodes })
    }
}

/// The type of a setting's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingType {
    Int,
    Bool,
    Str,
}

macro_rules! settings {
    (
        ints { $($iname:ident = $idef:expr, [$imin:expr, $imax:expr], $idoc:literal;)* }
        bools { $($bname:ident = $bdef:expr, $bdoc:literal;)* }
        strs { $($sname:ident = $sdef:expr, $sdoc:literal;)* }
    ) => {
        /// Every setting of a session. Build with `Settings::default()` and
        /// the `set_*` functions (by name) or by assigning fields directly.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Settings {
            $(#[doc = $idoc] pub $iname: i64,)*
            $(#[doc = $bdoc] pub $bname: bool,)*
            $(#[doc = $sdoc] pub $sname: String,)*
            /// The DHT node id and routing table of an earlier session, read
            /// by `load_state`: not a setting (it has no name in `SETTINGS`),
            /// used once when a session starts.
            pub dht_state: Option<DhtState>,
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings {
                    $($iname: $idef,)*
                    $($bname: $bdef,)*
                    $($sname: String::from($sdef),)*
                    dht_state: None,
                }
            }
        }

        /// Name, type and one-line description of every setting.
        pub const SETTINGS: &[(&str, SettingType, &str)] = &[
            $((stringify!($iname), SettingType::Int, $idoc),)*
            $((stringify!($bname), SettingType::Bool, $bdoc),)*
            $((stringify!($sname), SettingType::Str, $sdoc),)*
        ];

        impl Settings {
            /// Sets an integer setting by name.
            pub fn set_int(&mut self, name: &str, v: i64) -> Result<()> {
                match name {
                    $(stringify!($iname) => {
                        if !($imin..=$imax).contains(&v) {
                            return Err(Error::invalid_argument(format!(
                                "setting '{}': {} is out of range [{}, {}]", name, v, $imin, $imax)));
                        }
                        self.$iname = v;
                        Ok(())
                    })*
                    _ => Err(wrong(name, SettingType::Int)),
                }
            }

            /// Sets a boolean setting by name.
            pub fn set_bool(&mut self, name: &str, v: bool) -> Result<()> {
                match name {
                    $(stringify!($bname) => { self.$bname = v; Ok(()) })*
                    _ => Err(wrong(name, SettingType::Bool)),
                }
            }

            /// Sets a string setting by name.
            pub fn set_str(&mut self, name: &str, v: &str) -> Result<()> {
                match name {
                    $(stringify!($sname) => { self.$sname = v.to_string(); Ok(()) })*
                    _ => Err(wrong(name, SettingType::Str)),
                }
            }

            /// Reads an integer setting by name.
            pub fn get_int(&self, name: &str) -> Option<i64> {
                match name { $(stringify!($iname) => Some(self.$iname),)* _ => None }
            }

            /// Reads a boolean setting by name.
            pub fn get_bool(&self, name: &str) -> Option<bool> {
                match name { $(stringify!($bname) => Some(self.$bname),)* _ => None }
            }

            /// Reads a string setting by name.
            pub fn get_str(&self, name: &str) -> Option<&str> {
                match name { $(stringify!($sname) => Some(self.$sname.as_str()),)* _ => None }
            }
        }
    };
}

impl Settings {
    /// The session state: every setting that differs from its default, as
    /// a bencoded `{"settings": {name: value}}` dictionary (booleans as
    /// 0/1), with the DHT's node id and nodes under "dht" when there is a
    /// `dht_state`, which `load_state` reads back.
    pub fn save_state(&self) -> Vec<u8> {
        use crate::proto::bencode::Value;
        let default = Settings::default();
        let mut map = std::collections::BTreeMap::new();
        for (name, kind, _) in SETTINGS {
            let v = match kind {
                SettingType::Int if self.get_int(name) != default.get_int(name) => {
                    Value::Int(self.get_int(name).unwrap_or(0))
                }
                SettingType::Bool if self.get_bool(name) != default.get_bool(name) => {
                    Value::Int(self.get_bool(name).unwrap_or(false) as i64)
                }
                SettingType::Str if self.get_str(name) != default.get_str(name) => {
                    Value::Bytes(self.get_str(name).unwrap_or("").as_bytes())
                }
                _ => continue,
            };
            map.insert(name.as_bytes(), v);
        }
        let mut nodes_bufs = [Vec::new(), Vec::new()];
        let mut top = vec![("settings", Value::Dict(map))];
        if let Some(dht) = &self.dht_state {
            top.push(("dht", dht.to_value(&mut nodes_bufs)));
        }
        crate::proto::bencode::dict(top).encode()
    }

    /// Applies a state saved by `save_state`. Every value is checked as
    /// the setters check it; names this version does not know are skipped
    /// (a newer version's state still loads). Nothing changes on error.
    pub fn load_state(&mut self, buf: &[u8]) -> Result<()> {
        use crate::proto::bencode::{decode_with, Limits};
        let bad = |why: String| Error::invalid_argument(format!("session state: {why}"));
        if buf.len() > 1 << 20 {
            return Err(bad(format!("{} bytes, more than 1 MiB", buf.len())));
        }
        let root =
            decode_with(buf, Limits { max_depth: 4, max_items: 10_000 }).map_err(|e| bad(e.to_string()))?;
        let dht_state = root.get("dht").map(DhtState::from_value).transpose()?;
        let map = root
            .get("settings")
            .and_then(|v| v.as_dict())
            .ok_or_else(|| bad("no 'settings' dictionary".into()))?;
        let mut next = self.clone();
        for (k, v) in map {
            let name = std::str::from_utf8(k).map_err(|_| bad("a setting name is not UTF-8".into()))?;
            let Some((_, kind, _)) = SETTINGS.iter().find(|(n, _, _)| *n == name) else { continue };
            let wrong_type = || bad(format!("setting '{name}' has a value of the wrong type"));
            match kind {
                SettingType::Int => next.set_int(name, v.as_int().ok_or_else(wrong_type)?)?,
                SettingType::Bool => match v.as_int() {
                    Some(0) => next.set_bool(name, false)?,
                    Some(1) => next.set_bool(name, true)?,
                    _ => return Err(wrong_type()),
                },
                SettingType::Str => next.set_str(name, v.as_str().ok_or_else(wrong_type)?)?,
            }
        }
        if dht_state.is_some() {
            next.dht_state = dht_state;
        }
        next.validate()?;
        *self = next;
        Ok(())
    }
}

/// The error for a name that is unknown, or known with another type.
fn wrong(name: &str, wanted: SettingType) -> Error {
    match SETTINGS.iter().find(|(n, _, _)| *n == name) {
        Some((_, t, _)) => {
            Error::invalid_argument(format!("setting '{name}' is of type {t:?}, not {wanted:?}"))
        }
        None => Error::new(ErrorKind::UnknownSetting, format!("unknown setting '{name}'")),
    }
}

settings! {
    ints {
        alert_mask = category::DEFAULT as i64, [0, u32::MAX as i64], "categories of alerts to queue (LT_ALERT_CATEGORY_* bits)";
        alert_queue_size = 2000, [1, 10_000_000], "alerts kept before newer ones are dropped";
        connections_limit = 200, [1, 65535], "peer connections in the whole session";
        download_rate_limit = 0, [0, 1i64 << 40], "bytes per second received from peers in the whole session, shared by all torrents (0: no limit)";
        upload_rate_limit = 0, [0, 1i64 << 40], "bytes per second sent to peers in the whole session, shared by all torrents (0: no limit)";
        active_downloads = 3, [-1, 1_000_000], "auto-managed torrents downloading at once (-1: no limit)";
        active_seeds = 5, [-1, 1_000_000], "auto-managed torrents seeding at once (-1: no limit)";
        active_limit = 500, [-1, 1_000_000], "auto-managed torrents running at once, downloading and seeding (-1: no limit)";
        max_peers_per_torrent = 100, [1, 65535], "peer connections per torrent";
        unchoke_slots_limit = 8, [0, 1000], "peers unchoked at once per torrent, one of them the optimistic slot; 0 = unlimited";
        max_out_request_queue = 500, [1, 5000], "most block requests outstanding to one peer";
        max_allowed_in_request_queue = 2000, [1, 20000], "most block requests a peer may queue with us";
        request_queue_time = 3, [1, 60], "seconds of download the request pipeline to a peer should cover";
        handshake_timeout = 10, [1, 3600], "seconds to complete a connection and handshake";
        peer_timeout = 120, [5, 3600], "seconds of silence after which a peer is disconnected";
        request_timeout = 60, [2, 3600], "seconds before an unanswered block request is given to another peer";
        num_want = 200, [0, 10000], "peers asked of a tracker per announce";
        min_announce_interval = 60, [1, 86400], "shortest interval between announces to one tracker, in seconds";
        stop_tracker_timeout = 3, [0, 60], "seconds to wait for trackers' replies to the stopped event at shutdown";
        tracker_receive_timeout = 20, [1, 600], "seconds to wait for a tracker's reply";
        max_queued_disk_bytes = 64 << 20, [1 << 20, 1i64 << 40], "received bytes that may wait to be hashed and written before peers stop requesting more";
        aio_threads = 4, [1, 64], "threads for disk I/O and hashing";
        network_threads = 2, [1, 64], "threads running the network engine";
        hashing_threads = 2, [1, 64], "parallel piece hash checks when checking files";
        max_failcount = 3, [1, 100], "connection failures before a peer is no longer dialled";
        max_hash_failures_per_peer = 3, [1, 1000], "hash failures a peer may take part in before it is banned";
        urlseed_timeout = 20, [1, 3600], "seconds a web seed may leave a request without an answer or a body without new bytes before the request fails";
        urlseed_wait_retry = 30, [1, 86_400], "seconds before a web seed that failed (HTTP error, connection error) is tried again, unless its reply said Retry-After";
        urlseed_max_request_bytes = 16 * 1024 * 1024, [16 * 1024, 1i64 << 30], "most bytes a web seed is asked for at once (contiguous blocks, split per file)";
        perf_download_rate_min = 0, [0, 1_000_000_000_000i64], "performance alert when a downloading torrent with peers unchoking us gets fewer payload bytes/s than this (0: off)";
        perf_download_rate_secs = 10, [1, 3600], "seconds the download rate must stay low before perf_download_rate_min alerts";
        perf_hash_failures_per_min = 0, [0, 1_000_000], "performance alert when more pieces than this fail the hash check within a minute (0: off)";
        perf_peer_rtt_ms = 0, [0, 3_600_000], "performance alert when a torrent's mean peer request-to-block time exceeds this (0: off)";
        perf_disk_queue_bytes = 0, [0, 1_000_000_000_000i64], "performance alert when more bytes than this wait to be hashed and written (0: off)";
        perf_alert_queue_percent = 0, [0, 100], "performance alert when the alert queue is fuller than this percentage (0: off)";
        max_metadata_size = 3 * 1024 * 10240, [1024, 1i64 << 31], "largest info dictionary fetched for a magnet link, in bytes (peers announcing more are disconnected; lt parses at most 10 MB of it)";
        stats_interval_ms = 0, [0, 86_400_000], "post a session_stats alert this often, in milliseconds (0: never)";
        dashboard_interval_ms = 1000, [100, 60_000], "milliseconds between the frames of the stats endpoint's GET /events stream (the dashboard's update rate) and between the rate samples it keeps for its chart";
        dht_announce_interval = 15 * 60, [10, 86_400], "seconds between DHT announces of one torrent (torrents are spread over it; a new or resumed torrent announces soon)";
        dht_max_peers_reply = 100, [0, 200], "most peers in one get_peers reply of our DHT node";
        dht_search_branching = 5, [1, 64], "DHT queries in flight at once per lookup";
        dht_max_fail_count = 20, [1, 1000], "unanswered DHT queries in a row before a node leaves the routing table";
        dht_max_torrents = 2000, [1, 10_000_000], "most info-hashes our DHT node stores peers for (the one with the fewest peers is dropped for a new one)";
        dht_max_peers = 500, [1, 100_000], "most peers our DHT node stores per info-hash";
        dht_block_timeout = 5 * 60, [0, 86_400], "seconds a node that exceeded dht_block_ratelimit is ignored";
        dht_block_ratelimit = 5, [1, 1_000_000], "DHT messages per second (averaged over 10 s) one IP may send before it is blocked";
        dht_upload_rate_limit = 8000, [0, 1i64 << 30], "bytes per second the DHT may send; messages beyond it are dropped (0: no limit)";
        utp_target_delay = 100, [1, 10_000], "uTP's LEDBAT target queuing delay in milliseconds: the congestion window grows below it and shrinks above";
        utp_gain_factor = 3000, [1, 64 * 1024], "bytes a uTP congestion window may grow by per round trip when the queuing delay is zero";
        utp_min_timeout = 500, [1, 60_000], "shortest uTP retransmission timeout in milliseconds";
        utp_syn_resends = 2, [0, 100], "times a uTP SYN is resent (spread over utp_connect_timeout) before the connect fails";
        utp_fin_resends = 2, [0, 100], "times a uTP FIN is resent before the connection is given up";
        utp_num_resends = 3, [0, 100], "times a uTP data packet is resent before the connection fails";
        utp_connect_timeout = 3000, [1, 600_000], "milliseconds a uTP connect may take";
        utp_loss_multiplier = 50, [1, 100], "percent of the uTP congestion window kept when a packet is lost";
        local_service_announce_interval = 5 * 60, [1, 86_400], "seconds in which local service discovery announces every running public torrent once (libtorrent's default: 5 minutes)";
        out_enc_policy = 1, [0, 2], "encryption (MSE) of connections we dial: 0 forced (encrypted only), 1 enabled (encrypted first, plain if that fails), 2 disabled (plain only)";
        in_enc_policy = 1, [0, 2], "encryption (MSE) of connections we accept: 0 forced (plain handshakes refused), 1 enabled (both), 2 disabled (encrypted handshakes refused)";
        allowed_enc_level = 3, [1, 3], "modes an encrypted handshake may agree on: 1 plaintext (only the handshake is obfuscated), 2 RC4 (the whole stream), 3 both";
    }
    bools {
        enable_dht = false, "run a DHT node on the listen interfaces' UDP sockets (off by default: lt never contacts a public node unless the application asks)";
        enable_lsd = false, "local service discovery (BEP 14): announce running public torrents by multicast on the listen interfaces' network and take the peers announced there; off by default, unlike libtorrent, because it tells the whole local network which torrents run";
        allow_multiple_connections_per_ip = true, "accept several peers from one IP address";
        ban_web_seeds = true, "remove a web seed that sent data failing the hash check (with a url_seed alert)";
        announce_to_all_tiers = false, "announce to one tracker of every tier instead of the first working one";
        announce_to_all_trackers = false, "announce to every tracker of a tier instead of the first working one";
        dht_restrict_routing_ips = true, "keep at most one DHT node per /24 (IPv4) or /64 (IPv6) in a routing table bucket";
        dht_restrict_search_ips = true, "query at most one node per IP address in a DHT lookup";
        dht_enforce_node_id = false, "keep DHT nodes whose id does not match their IP address (BEP 42) out of the routing table and lookups";
        dht_read_only = false, "BEP 43 read-only DHT node: queries say ro=1, incoming queries are not answered";
        prefer_rc4 = false, "when accepting an encrypted handshake that offers both modes, pick RC4 rather than plaintext";
        enable_outgoing_utp = true, "dial peers over uTP (BEP 29); with TCP also on, uTP goes first and TCP follows if it does not connect soon";
        enable_incoming_utp = true, "accept peers over uTP on the listen interfaces' UDP sockets";
        enable_outgoing_tcp = true, "dial peers over TCP";
        enable_incoming_tcp = true, "accept peers over TCP";
    }
    strs {
        listen_interfaces = "0.0.0.0:6881,[::]:6881", "comma-separated ip:port list to accept peers on (TCP and UDP), IPv4 and IPv6 by default as libtorrent; port 0 picks a free one, the same on every interface where it can";
        user_agent = concat!("lt/", env!("CARGO_PKG_VERSION")), "HTTP User-Agent for trackers and the client name in the extension handshake";
        peer_fingerprint = "-LT0010-", "prefix of our peer id (Azureus style)";
        dht_bootstrap_nodes = "", "comma-separated host:port DHT bootstrap nodes (empty by default, unlike libtorrent's: lt never contacts a public node unless the application asks)";
        stats_listen = "", "ip:port of an HTTP endpoint serving GET / (a live dashboard), GET /events (its Server-Sent Events stream), GET /metrics (Prometheus) and GET /stats (JSON); a bare port ('9100' or ':9100') means 127.0.0.1, loopback only; empty: off";
        stats_token = "", "when not empty, every request to the stats endpoint must carry this token, as the header 'Authorization: Bearer <token>' or the query parameter ?token=<token>; others get 401";
    }
}

/// Settings the session reads once, when it starts: the sizes of its thread
/// pools (`network_threads`, and `aio_threads` with `hashing_threads` for
/// the blocking pool), its listen and statistics sockets, the HTTP client's
/// User-Agent, the peer id made from `peer_fingerprint`, and whether a DHT
/// node runs and where it bootstraps (`enable_dht`, `dht_bootstrap_nodes`:
/// the node shares the listen sockets, made at start). Changing them
/// on a running session would be accepted and do nothing, so
/// `check_live_change` refuses it instead.
pub const FIXED_AT_START: &[&str] = &[
    "network_threads",
    "aio_threads",
    "hashing_threads",
    "listen_interfaces",
    "stats_listen",
    "user_agent",
    "peer_fingerprint",
    "enable_dht",
    "dht_bootstrap_nodes",
];

impl Settings {
    /// Checks that `next`, about to replace these running settings,
    /// changes none of `FIXED_AT_START`: the first one it changes is an
    /// `InvalidArgument` error naming it.
    pub fn check_live_change(&self, next: &Settings) -> Result<()> {
        for name in FIXED_AT_START {
            let (now, wanted) = match (self.get_int(name), next.get_int(name)) {
                (Some(a), Some(b)) => (a.to_string(), b.to_string()),
                _ if self.get_bool(name).is_some() => (
                    format!("{}", self.get_bool(name).unwrap_or_default()),
                    format!("{}", next.get_bool(name).unwrap_or_default()),
                ),
                _ => (
                    format!("'{}'", self.get_str(name).unwrap_or_default()),
                    format!("'{}'", next.get_str(name).unwrap_or_default()),
                ),
            };
            if now != wanted {
                return Err(Error::invalid_argument(format!(
                    "{name} cannot change on a running session (it is {now}, the new settings say {wanted}); \
                     set it before the session starts"
                )));
            }
        }
        Ok(())
    }

    /// Checks combinations that single setters cannot (features not built).
    pub fn validate(&self) -> Result<()> {
        parse_bootstrap_nodes(&self.dht_bootstrap_nodes)?;
        parse_listen_interfaces(&self.listen_interfaces)?;
        parse_stats_listen(&self.stats_listen)?;
        Ok(())
    }
}

/// Parses `stats_listen`: "ip:port", or a bare port ("9100", ":9100") that
/// means 127.0.0.1, so that an endpoint nobody bound on purpose to a public
/// address stays on loopback. `None` when empty (the endpoint is off).
pub fn parse_stats_listen(s: &str) -> Result<Option<std::net::SocketAddr>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let port = s.strip_prefix(':').unwrap_or(s);
    if let Ok(port) = port.parse::<u16>() {
        return Ok(Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))));
    }
    s.parse()
        .map(Some)
        .map_err(|_| Error::invalid_argument(format!("stats_listen: '{s}' is not an ip:port or a port")))
}

/// Parses `listen_interfaces` ("127.0.0.1:6881,[::1]:0").
pub fn parse_listen_interfaces(s: &str) -> Result<Vec<std::net::SocketAddr>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let addr = part
            .parse()
            .map_err(|_| Error::invalid_argument(format!("listen_interfaces: '{part}' is not an ip:port")))?;
        out.push(addr);
    }
    Ok(out)
}

/// Parses `dht_bootstrap_nodes` ("host:port,host:port"), checking each
/// entry's shape; host names are resolved when the node bootstraps.
pub fn parse_bootstrap_nodes(s: &str) -> Result<Vec<(String, u16)>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || Error::invalid_argument(format!("dht_bootstrap_nodes: '{part}' is not host:port"));
        if let Ok(addr) = part.parse::<std::net::SocketAddr>() {
            out.push((addr.ip().to_string(), addr.port()));
            continue;
        }
        let (host, port) = part.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 || host.contains(['[', ']', ' ']) {
            return Err(bad());
        }
        out.push((host.to_string(), port));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trip_and_bad_state() {
        let mut s = Settings::default();
        s.set_int("active_downloads", 7).unwrap();
        s.set_bool("announce_to_all_tiers", true).unwrap();
        s.set_str("user_agent", "x/1").unwrap();
        let blob = s.save_state();
        let mut back = Settings::default();
        back.load_state(&blob).unwrap();
        assert_eq!(back, s);
        let mut t = Settings::default();
        assert!(t.load_state(b"d8:settingsd16:active_downloadsi-5eee").is_err(), "range checked");
        assert!(t.load_state(b"d8:settingsd10:user_agenti1eee").is_err(), "type checked");
        assert!(t.load_state(b"garbage").is_err());
        assert_eq!(t, Settings::default(), "nothing changes on error");
        t.load_state(b"d8:settingsd9:not_knowni1eee").unwrap();
    }

    #[test]
    fn set_by_name_checks_name_type_and_range() {
        let mut s = Settings::default();
        s.set_int("connections_limit", 50).unwrap();
        assert_eq!(s.connections_limit, 50);
        assert_eq!(s.set_int("no_such_setting", 1).unwrap_err().kind(), ErrorKind::UnknownSetting);
        assert_eq!(s.set_int("enable_dht", 1).unwrap_err().kind(), ErrorKind::InvalidArgument, "a bool");
        assert_eq!(s.set_bool("connections_limit", true).unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(s.set_int("connections_limit", 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
        s.set_str("listen_interfaces", "127.0.0.1:0").unwrap();
        assert!(s.validate().is_ok());
        s.set_str("listen_interfaces", "nonsense").unwrap();
        assert!(s.validate().is_err());
        assert_eq!(s.get_str("peer_fingerprint"), Some("-LT0010-"));
    }

    #[test]
    fn stats_listen_takes_an_address_or_a_loopback_port() {
        let loopback = |port| Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        assert_eq!(parse_stats_listen("").unwrap(), None);
        assert_eq!(parse_stats_listen("9100").unwrap(), loopback(9100));
        assert_eq!(parse_stats_listen(":9100").unwrap(), loopback(9100));
        assert_eq!(parse_stats_listen("0.0.0.0:9100").unwrap(), Some("0.0.0.0:9100".parse().unwrap()));
        assert_eq!(parse_stats_listen("[::1]:0").unwrap(), Some("[::1]:0".parse().unwrap()));
        for bad in ["70000", ":", "localhost:9100", "1.2.3.4", "-1"] {
            let s = Settings { stats_listen: bad.into(), ..Settings::default() };
            assert_eq!(s.validate().unwrap_err().kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn dht_settings_and_bootstrap_nodes_are_checked() {
        let s = Settings { enable_dht: true, ..Settings::default() };
        s.validate().unwrap();
        let s = Settings { dht_bootstrap_nodes: "127.0.0.1:6881, router.example:25401".into(), ..s };
        s.validate().unwrap();
        assert_eq!(
            parse_bootstrap_nodes(&s.dht_bootstrap_nodes).unwrap(),
            vec![("127.0.0.1".to_string(), 6881), ("router.example".to_string(), 25401)]
        );
        for bad in ["127.0.0.1", "host:0", ":6881", "host:port"] {
            let s = Settings { dht_bootstrap_nodes: bad.into(), ..Settings::default() };
            assert_eq!(s.validate().unwrap_err().kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn dht_state_round_trips_and_is_checked() {
        let nodes = (1..=3u8)
            .map(|i| NodeEntry {
                id: NodeId([i; 20]),
                addr: format!("127.0.0.{i}:{}", 6880 + i as u16).parse().unwrap(),
            })
            .collect();
        let s = Settings {
            dht_state: Some(DhtState { node_id: Some(NodeId([9; 20])), nodes }),
            ..Settings::default()
        };
        let mut back = Settings::default();
        back.load_state(&s.save_state()).unwrap();
        assert_eq!(back, s);
        let mut t = Settings::default();
        assert!(t.load_state(b"d3:dhtd7:node-id3:abce8:settingsdee").is_err(), "short id refused");
        assert!(t.load_state(b"d3:dhtd5:nodes5:abcdee8:settingsdee").is_err(), "partial node refused");
        assert_eq!(t, Settings::default());
    }

    #[test]
    fn lsd_is_accepted_off_by_default_with_libtorrents_interval() {
        let default = Settings::default();
        assert!(!default.enable_lsd);
        assert_eq!(default.local_service_announce_interval, 300);
        Settings { enable_lsd: true, ..Settings::default() }.validate().unwrap();
        let mut s = Settings::default();
        let err = s.set_int("local_service_announce_interval", 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        s.set_int("local_service_announce_interval", 2).unwrap();
        s.set_bool("enable_lsd", true).unwrap();
        let mut back = Settings::default();
        back.load_state(&s.save_state()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn settings_fixed_at_start_refuse_a_live_change() {
        let running = Settings::default();
        let mut next = running.clone();
        next.set_int("upload_rate_limit", 1000).unwrap();
        next.set_bool("announce_to_all_tiers", true).unwrap();
        running.check_live_change(&next).unwrap();
        for name in FIXED_AT_START {
            let mut next = running.clone();
            match SETTINGS.iter().find(|(n, _, _)| n == name).map(|(_, t, _)| *t) {
                Some(SettingType::Int) => next.set_int(name, running.get_int(name).unwrap() + 1).unwrap(),
                Some(SettingType::Str) => next.set_str(name, "127.0.0.1:1").unwrap(),
                Some(SettingType::Bool) => next.set_bool(name, !running.get_bool(name).unwrap()).unwrap(),
                None => panic!("{name} is not a setting"),
            }
            let err = running.check_live_change(&next).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert!(
                err.message().starts_with(&format!("{name} cannot change on a running session")),
                "{}",
                err.message()
            );
        }
    }
}
