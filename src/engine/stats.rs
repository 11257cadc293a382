//! Session counters: one list defines the metric enum, the catalogue of
//! names, and the atomics they live in. Counters only grow; gauges are set
//! where the engine knows the current value. All updates are relaxed
//! atomics, so the network path never waits for a reader.

use std::sync::atomic::{AtomicI64, Ordering};

/// Whether a metric only grows or moves both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MetricKind {
    Counter = 0,
    Gauge = 1,
}

/// A metric's catalogue entry.
#[derive(Clone, Copy, Debug)]
pub struct MetricInfo {
    /// libtorrent's name where the meaning is the same (`net.recv_bytes`).
    pub name: &'static str,
    pub kind: MetricKind,
    pub unit: &'static str,
    pub description: &'static str,
}

macro_rules! metrics {
    ($($variant:ident: $name:literal, $kind:ident, $unit:literal, $desc:literal;)*) => {
        /// Every metric the engine keeps; the discriminant is its index.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum Metric { $($variant,)* }

        /// The catalogue, indexed by `Metric as usize`. Metrics are only
        /// ever appended at the end, never removed, renamed or reordered:
        /// binary snapshots (`export::binary`) carry values by index, and a
        /// log written by one version is read by another. A metric that
        /// loses its meaning stays, documented as always 0. The golden file
        /// test in `export::binary` fails when the rule is broken.
        pub const METRICS: &[MetricInfo] = &[
            $(MetricInfo { name: $name, kind: MetricKind::$kind, unit: $unit, description: $desc },)*
        ];

        impl Metric {
            /// Every metric in index order.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];
        }
    };
}

metrics! {
    RecvBytes: "net.recv_bytes", Counter, "bytes", "all bytes received from peers (payload and protocol)";
    SentBytes: "net.sent_bytes", Counter, "bytes", "all bytes sent to peers (payload and protocol)";
    RecvPayloadBytes: "net.recv_payload_bytes", Counter, "bytes", "piece data received from peers";
    SentPayloadBytes: "net.sent_payload_bytes", Counter, "bytes", "piece data sent to peers";
    RecvRate: "net.recv_rate", Gauge, "bytes/s", "bytes received per second over the last second";
    SentRate: "net.sent_rate", Gauge, "bytes/s", "bytes sent per second over the last second";
    RecvPayloadRate: "net.recv_payload_rate", Gauge, "bytes/s", "piece data received per second over the last second";
    SentPayloadRate: "net.sent_payload_rate", Gauge, "bytes/s", "piece data sent per second over the last second";
    WastedBytes: "net.wasted_bytes", Counter, "bytes", "piece data received but not used: redundant blocks and pieces that failed the hash check";
    RedundantBytes: "net.recv_redundant_bytes", Counter, "bytes", "piece data received twice or not requested";
    FailedBytes: "net.recv_failed_bytes", Counter, "bytes", "piece data in pieces that failed the hash check";
    HasIncomingConnections: "net.has_incoming_connections", Gauge, "bool", "1 once a peer has connected to our listen socket";
    NumPeersConnected: "peer.num_peers_connected", Gauge, "peers", "peer connections past the handshake";
    NumPeersHalfOpen: "peer.num_peers_half_open", Gauge, "peers", "outgoing connections being established";
    NumTcpPeers: "peer.num_tcp_peers", Gauge, "peers", "connected peers over TCP";
    NumPeersUpUnchoked: "peer.num_peers_up_unchoked", Gauge, "peers", "peers we unchoke (allow to download from us)";
    NumPeersUpUnchokedOptimistic: "peer.num_peers_up_unchoked_optimistic", Gauge, "peers", "peers unchoked by the optimistic slot";
    NumPeersDownUnchoked: "peer.num_peers_down_unchoked", Gauge, "peers", "peers that unchoke us";
    NumPeersUpInterested: "peer.num_peers_up_interested", Gauge, "peers", "peers interested in our pieces";
    NumPeersDownInterested: "peer.num_peers_down_interested", Gauge, "peers", "peers we are interested in";
    IncomingConnections: "peer.incoming_connections", Counter, "connections", "connections accepted on the listen socket";
    ConnectAttempts: "peer.connect_attempts", Counter, "connections", "outgoing connection attempts";
    ConnectFailures: "peer.connect_failures", Counter, "connections", "outgoing connections that failed before the handshake";
    Disconnects: "peer.disconnects", Counter, "connections", "peer connections closed, for any reason";
    ProtocolErrors: "peer.protocol_errors", Counter, "connections", "peers disconnected for breaking the protocol";
    BannedPeers: "peer.banned_peers", Counter, "peers", "peers banned for sending corrupt data";
    NumTorrents: "ses.num_torrents", Gauge, "torrents", "torrents in the session";
    NumCheckingTorrents: "ses.num_checking_torrents", Gauge, "torrents", "torrents checking files on disk";
    NumDownloadingTorrents: "ses.num_downloading_torrents", Gauge, "torrents", "torrents downloading";
    NumSeedingTorrents: "ses.num_seeding_torrents", Gauge, "torrents", "torrents with all wanted pieces (seeding or finished)";
    NumStoppedTorrents: "ses.num_stopped_torrents", Gauge, "torrents", "torrents stopped by the user, by an error or by a session pause (those the queue holds are in ses.num_queued_torrents)";
    NumPiecePassed: "ses.num_piece_passed", Counter, "pieces", "pieces that passed the hash check";
    NumPieceFailed: "ses.num_piece_failed", Counter, "pieces", "pieces that failed the hash check";
    BlocksWritten: "disk.num_blocks_written", Counter, "blocks", "16 KiB blocks written to disk";
    BlocksRead: "disk.num_blocks_read", Counter, "blocks", "16 KiB blocks read from disk (uploads and checks)";
    DiskQueueDepth: "disk.queued_disk_jobs", Gauge, "jobs", "disk jobs (writes, reads, hash checks) waiting or running";
    DiskQueuedBytes: "disk.queued_write_bytes", Gauge, "bytes", "piece data waiting to be hashed and written";
    PerformanceAlerts: "alerts.performance_events", Counter, "events", "threshold crossings and returns to normal";
    TrackerAnnounces: "tracker.num_announces", Counter, "announces", "announces sent to trackers";
    TrackerErrors: "tracker.num_errors", Counter, "announces", "announces that failed or got an error reply";
    AlertsDropped: "alerts.dropped", Counter, "alerts", "alerts dropped because the queue was full";
    UptimeMs: "ses.uptime_ms", Gauge, "ms", "time since the session started";
    InChoke: "ses.num_incoming_choke", Counter, "messages", "choke messages received from peers";
    InUnchoke: "ses.num_incoming_unchoke", Counter, "messages", "unchoke messages received from peers";
    InInterested: "ses.num_incoming_interested", Counter, "messages", "interested messages received from peers";
    InNotInterested: "ses.num_incoming_not_interested", Counter, "messages", "not interested messages received from peers";
    InHave: "ses.num_incoming_have", Counter, "messages", "have messages received from peers";
    InBitfield: "ses.num_incoming_bitfield", Counter, "messages", "bitfield messages received from peers";
    InRequest: "ses.num_incoming_request", Counter, "messages", "request messages received from peers";
    InPiece: "ses.num_incoming_piece", Counter, "messages", "piece messages received from peers";
    InCancel: "ses.num_incoming_cancel", Counter, "messages", "cancel messages received from peers";
    InDhtPort: "ses.num_incoming_dht_port", Counter, "messages", "dht port messages received from peers";
    InSuggest: "ses.num_incoming_suggest", Counter, "messages", "suggest messages received from peers";
    InHaveAll: "ses.num_incoming_have_all", Counter, "messages", "have all messages received from peers";
    InHaveNone: "ses.num_incoming_have_none", Counter, "messages", "have none messages received from peers";
    InReject: "ses.num_incoming_reject", Counter, "messages", "reject messages received from peers";
    InAllowedFast: "ses.num_incoming_allowed_fast", Counter, "messages", "allowed fast messages received from peers";
    InExtHandshake: "ses.num_incoming_ext_handshake", Counter, "messages", "ext handshake messages received from peers";
    InExtended: "ses.num_incoming_extended", Counter, "messages", "extended messages received from peers";
    OutChoke: "ses.num_outgoing_choke", Counter, "messages", "choke messages sent to peers";
    OutUnchoke: "ses.num_outgoing_unchoke", Counter, "messages", "unchoke messages sent to peers";
    OutInterested: "ses.num_outgoing_interested", Counter, "messages", "interested messages sent to peers";
    OutNotInterested: "ses.num_outgoing_not_interested", Counter, "messages", "not interested messages sent to peers";
    OutHave: "ses.num_outgoing_have", Counter, "messages", "have messages sent to peers";
    OutBitfield: "ses.num_outgoing_bitfield", Counter, "messages", "bitfield messages sent to peers";
    OutRequest: "ses.num_outgoing_request", Counter, "messages", "request messages sent to peers";
    OutPiece: "ses.num_outgoing_piece", Counter, "messages", "piece messages sent to peers";
    OutCancel: "ses.num_outgoing_cancel", Counter, "messages", "cancel messages sent to peers";
    OutDhtPort: "ses.num_outgoing_dht_port", Counter, "messages", "dht port messages sent to peers";
    OutSuggest: "ses.num_outgoing_suggest", Counter, "messages", "suggest messages sent to peers";
    OutHaveAll: "ses.num_outgoing_have_all", Counter, "messages", "have all messages sent to peers";
    OutHaveNone: "ses.num_outgoing_have_none", Counter, "messages", "have none messages sent to peers";
    OutReject: "ses.num_outgoing_reject", Counter, "messages", "reject messages sent to peers";
    OutAllowedFast: "ses.num_outgoing_allowed_fast", Counter, "messages", "allowed fast messages sent to peers";
    OutExtHandshake: "ses.num_outgoing_ext_handshake", Counter, "messages", "ext handshake messages sent to peers";
    OutExtended: "ses.num_outgoing_extended", Counter, "messages", "extended messages sent to peers";
    PieceRequests: "peer.piece_requests", Counter, "requests", "block requests received from peers";
    InvalidPieceRequests: "peer.invalid_piece_requests", Counter, "requests", "block requests for pieces we do not have or out of range";
    ChokedPieceRequests: "peer.choked_piece_requests", Counter, "requests", "block requests from peers we choke";
    CancelledPieceRequests: "peer.cancelled_piece_requests", Counter, "requests", "block requests peers cancelled before we served them";
    EofPeers: "peer.eof_peers", Counter, "connections", "connections the peer closed";
    TimeoutPeers: "peer.timeout_peers", Counter, "connections", "peers disconnected for silence";
    ErrorIncomingPeers: "peer.error_incoming_peers", Counter, "connections", "incoming connections that ended with an error";
    ErrorOutgoingPeers: "peer.error_outgoing_peers", Counter, "connections", "outgoing connections that ended with an error";
    ErrorTcpPeers: "peer.error_tcp_peers", Counter, "connections", "TCP connections that failed to connect or ended with an error";
    ErrorUtpPeers: "peer.error_utp_peers", Counter, "connections", "uTP connections that failed to connect or ended with an error";
    ErrorEncryptedPeers: "peer.error_encrypted_peers", Counter, "connections", "encrypted handshakes (MSE) that failed, and encrypted connections that ended with an error";
    ErrorRc4Peers: "peer.error_rc4_peers", Counter, "connections", "RC4-encrypted connections that ended with an error";
    ConnectTimeouts: "peer.connect_timeouts", Counter, "connections", "outgoing connections that timed out before the handshake";
    BannedForHashFailure: "peer.banned_for_hash_failure", Counter, "peers", "peers banned for sending data that failed the hash check";
    SnubbedPeers: "peer.snubbed_peers", Counter, "events", "times a peer left our requests unanswered too long";
    BlocksRequested: "picker.blocks_requested", Counter, "blocks", "blocks the picker handed out for requesting";
    EndgameRequests: "picker.endgame_requests", Counter, "blocks", "blocks requested from a second peer in endgame";
    RejectedRequests: "picker.rejected_requests", Counter, "blocks", "our requests peers rejected (fast extension)";
    TimedOutRequests: "picker.timed_out_requests", Counter, "blocks", "our requests given back after the request timeout";
    TrackerStartedAnnounces: "tracker.started_announces", Counter, "announces", "announces with event=started";
    TrackerCompletedAnnounces: "tracker.completed_announces", Counter, "announces", "announces with event=completed";
    TrackerStoppedAnnounces: "tracker.stopped_announces", Counter, "announces", "announces with event=stopped";
    TrackerPeersReceived: "tracker.peers_received", Counter, "peers", "peer addresses received from trackers";
    DiskWriteBytes: "disk.write_bytes", Counter, "bytes", "bytes written to disk";
    DiskReadBytes: "disk.read_bytes", Counter, "bytes", "bytes read from disk (uploads and checks)";
    PiecesChecked: "disk.pieces_checked", Counter, "pieces", "pieces hashed while checking existing files";
    DiskWriteTime: "disk.disk_write_time", Counter, "us", "time spent writing pieces to disk";
    DiskReadTime: "disk.disk_read_time", Counter, "us", "time spent reading from disk for uploads and checks";
    DiskHashTime: "disk.disk_hash_time", Counter, "us", "time spent computing SHA-1 of pieces";
    DiskWriteOps: "disk.num_write_ops", Counter, "operations", "piece writes";
    DiskReadOps: "disk.num_read_ops", Counter, "operations", "disk reads (upload batches and piece checks)";
    SentTrackerBytes: "net.sent_tracker_bytes", Counter, "bytes", "bytes sent to trackers (requests and UDP packets)";
    RecvTrackerBytes: "net.recv_tracker_bytes", Counter, "bytes", "bytes received from trackers (reply bodies and UDP packets)";
    AlertsQueued: "alerts.queued", Gauge, "alerts", "alerts waiting to be popped";
    AlertsPosted: "alerts.posted", Counter, "alerts", "alerts queued (not counting those the mask filtered or the queue dropped)";
    TorrentsAdded: "ses.num_torrents_added", Counter, "torrents", "torrents added to the session";
    TorrentsRemoved: "ses.num_torrents_removed", Counter, "torrents", "torrents removed from the session";
    TorrentsFinished: "ses.num_torrents_finished", Counter, "torrents", "times a torrent finished downloading";
    TorrentErrors: "ses.num_torrent_errors", Counter, "torrents", "times a torrent stopped with an error";
    ChokeRounds: "choker.rounds", Counter, "rounds", "unchoke decisions made (per torrent, every 10 s)";
    OptimisticRotations: "choker.optimistic_rotations", Counter, "rotations", "times a new peer got the optimistic unchoke slot";
    NumSeedPeers: "peer.num_seed_peers", Gauge, "peers", "connected peers that have every piece";
    NumSnubbedPeers: "peer.num_peers_snubbed", Gauge, "peers", "connected peers that left our requests unanswered too long";
    NumOutstandingRequests: "peer.outstanding_requests", Gauge, "blocks", "our block requests not yet answered, over all peers";
    NumPeersExtensions: "peer.num_peers_with_extensions", Gauge, "peers", "connected peers speaking the extension protocol (BEP 10)";
    ProcessRssBytes: "process.rss_bytes", Gauge, "bytes", "resident memory of the process";
    ProcessCpuPermille: "process.cpu_permille", Gauge, "permille", "CPU used by the process over the last second, per mille of all cores";
    SystemCpuPermille: "system.cpu_permille", Gauge, "permille", "CPU used by the whole machine over the last second, per mille of all cores";
    CpuCores: "system.cpu_cores", Gauge, "cores", "CPU cores available to the process";
    MemoryTotalBytes: "system.memory_total_bytes", Gauge, "bytes", "physical memory of the machine";
    MemoryAvailableBytes: "system.memory_available_bytes", Gauge, "bytes", "memory available for new work (MemAvailable)";
    NumQueuedDownloadTorrents: "ses.num_queued_download_torrents", Gauge, "torrents", "auto-managed torrents waiting in the queue to download";
    NumQueuedSeedingTorrents: "ses.num_queued_seeding_torrents", Gauge, "torrents", "auto-managed finished torrents waiting in the queue to seed";
    NumQueuedTorrents: "ses.num_queued_torrents", Gauge, "torrents", "auto-managed torrents the queue keeps stopped (download and seed)";
    NumUploadOnlyTorrents: "ses.num_upload_only_torrents", Gauge, "torrents", "running torrents with every wanted piece but not all pieces (finished, not seeding)";
    NumErrorTorrents: "ses.num_error_torrents", Gauge, "torrents", "torrents stopped by an error";
    NumAutoManagedTorrents: "ses.num_auto_managed_torrents", Gauge, "torrents", "torrents the queue starts and stops";
    QueueStarts: "ses.num_queue_starts", Counter, "events", "times the queue started a queued torrent";
    QueueStops: "ses.num_queue_stops", Counter, "events", "times the queue stopped a torrent to make room";
    SessionPaused: "ses.paused", Gauge, "bool", "1 while the whole session is paused";
    ForcedRechecks: "ses.num_forced_rechecks", Counter, "torrents", "rechecks of existing files asked for through the API";
    ResumeSaved: "ses.num_resume_data_saved", Counter, "torrents", "resume data produced (save_resume_data alerts)";
    ResumeFailed: "ses.num_resume_data_failed", Counter, "torrents", "resume data requests that failed";
    ResumeAccepted: "ses.num_resume_data_accepted", Counter, "torrents", "torrents added with resume data whose files matched (no recheck)";
    ResumeRechecked: "ses.num_resume_data_rechecked", Counter, "torrents", "torrents added with resume data whose files did not match (full recheck)";
    StorageMoves: "ses.num_storage_moves", Counter, "torrents", "storage moves that completed";
    StorageMoveFailures: "ses.num_storage_move_failures", Counter, "torrents", "storage moves that failed";
    FilesRenamed: "ses.num_files_renamed", Counter, "files", "files renamed through the API";
    PiecesReadForApi: "ses.num_read_piece", Counter, "pieces", "pieces read for the application (read_piece alerts)";
    NumUtpPeers: "peer.num_utp_peers", Gauge, "peers", "connected peers over uTP";
    ConnectionLimitRefusals: "peer.connection_limit_refusals", Counter, "connections", "connections not made or refused because connections_limit was reached";
    TorrentConnectionLimitRefusals: "peer.torrent_connection_limit_refusals", Counter, "connections", "connections refused because the torrent had its most peers";
    ConnResetPeers: "peer.connreset_peers", Counter, "connections", "connections reset by the peer";
    ConnRefusedPeers: "peer.connrefused_peers", Counter, "connections", "outgoing connections the peer refused";
    ConnAbortedPeers: "peer.connaborted_peers", Counter, "connections", "connections aborted by the network stack";
    BrokenPipePeers: "peer.broken_pipe_peers", Counter, "connections", "connections that failed writing (broken pipe)";
    LimiterDownWaits: "net.limiter_down_waits", Counter, "events", "times a peer stopped reading to keep within a download rate limit";
    LimiterUpWaits: "net.limiter_up_waits", Counter, "events", "times a peer stopped writing to keep within an upload rate limit";
    LimiterDownWaitUs: "net.limiter_down_wait_us", Counter, "us", "time peers spent waiting for the download rate limit";
    LimiterUpWaitUs: "net.limiter_up_wait_us", Counter, "us", "time peers spent waiting for the upload rate limit";
    TrackerScrapes: "tracker.num_scrapes", Counter, "requests", "scrape requests sent to trackers";
    TrackerScrapeErrors: "tracker.num_scrape_errors", Counter, "requests", "scrape requests that failed or got an error reply";
    WriteCacheBlocks: "disk.write_cache_blocks", Gauge, "blocks", "received 16 KiB blocks held in memory until their piece is hashed and written";
    ReadCacheBlocks: "disk.read_cache_blocks", Gauge, "blocks", "blocks in a read cache (always 0: reads go through the OS page cache)";
    DhtNodes: "dht.dht_nodes", Gauge, "nodes", "nodes in the DHT routing table (0 while the DHT is off)";
    DhtNodeCache: "dht.dht_node_cache", Gauge, "nodes", "replacement nodes cached by the DHT's routing table buckets (0 while the DHT is off)";
    DhtTorrents: "dht.dht_torrents", Gauge, "torrents", "info-hashes the DHT node stores peers for, announced to it by other nodes (0 while the DHT is off)";
    PeersFromTracker: "peer.peers_from_tracker", Counter, "peers", "new peer addresses learnt from trackers";
    PeersFromDht: "peer.peers_from_dht", Counter, "peers", "new peer addresses learnt from the DHT";
    PeersFromPex: "peer.peers_from_pex", Counter, "peers", "new peer addresses learnt through peer exchange";
    PeersFromLsd: "peer.peers_from_lsd", Counter, "peers", "new peer addresses learnt through local service discovery";
    PeersFromResumeData: "peer.peers_from_resume_data", Counter, "peers", "peer addresses read from resume data";
    PeersFromIncoming: "peer.peers_from_incoming", Counter, "peers", "peers first known because they connected to us";
    PeersFromApi: "peer.peers_from_api", Counter, "peers", "peer addresses given by the application";
    PeersRefusedPrivate: "peer.peers_refused_private", Counter, "peers", "peer addresses from the DHT, PEX or LSD refused because the torrent is private";
    InMetadata: "ses.num_incoming_metadata", Counter, "messages", "ut_metadata messages received from peers";
    OutMetadata: "ses.num_outgoing_metadata", Counter, "messages", "ut_metadata messages sent to peers";
    InPex: "ses.num_incoming_pex", Counter, "messages", "ut_pex messages received from peers";
    OutPex: "ses.num_outgoing_pex", Counter, "messages", "ut_pex messages sent to peers";
    LsdAnnouncesSent: "lsd.announces_sent", Counter, "datagrams", "local service discovery announces sent (each announce goes out three times, 2 s apart, as libtorrent sends it)";
    LsdAnnouncesReceived: "lsd.announces_received", Counter, "datagrams", "valid local service discovery announces received from other clients";
    LsdAnnouncesOwn: "lsd.announces_ignored_own", Counter, "datagrams", "local service discovery announces ignored because they carry this session's cookie (the multicast loop brings our own back)";
    LsdInvalid: "lsd.invalid_datagrams", Counter, "datagrams", "datagrams on the local service discovery group that are not a valid BT-SEARCH announce";
    DhtPeers: "dht.dht_peers", Gauge, "peers", "peer addresses the DHT node stores for other nodes' torrents";
    DhtAllocatedObservers: "dht.dht_allocated_observers", Gauge, "queries", "DHT queries sent and not yet answered or timed out";
    DhtMessagesIn: "dht.dht_messages_in", Counter, "messages", "DHT messages received (valid KRPC)";
    DhtMessagesOut: "dht.dht_messages_out", Counter, "messages", "DHT messages sent";
    DhtMessagesInDropped: "dht.dht_messages_in_dropped", Counter, "messages", "DHT datagrams dropped: malformed, rate-limited senders, unknown transactions, queries to a read-only node";
    DhtMessagesOutDropped: "dht.dht_messages_out_dropped", Counter, "messages", "DHT messages not sent: over dht_upload_rate_limit or the socket refused them";
    DhtBytesIn: "dht.dht_bytes_in", Counter, "bytes", "bytes of DHT datagrams received";
    DhtBytesOut: "dht.dht_bytes_out", Counter, "bytes", "bytes of DHT datagrams sent";
    DhtPingIn: "dht.dht_ping_in", Counter, "messages", "DHT ping queries received";
    DhtPingOut: "dht.dht_ping_out", Counter, "messages", "DHT ping queries sent";
    DhtFindNodeIn: "dht.dht_find_node_in", Counter, "messages", "DHT find_node queries received";
    DhtFindNodeOut: "dht.dht_find_node_out", Counter, "messages", "DHT find_node queries sent";
    DhtGetPeersIn: "dht.dht_get_peers_in", Counter, "messages", "DHT get_peers queries received";
    DhtGetPeersOut: "dht.dht_get_peers_out", Counter, "messages", "DHT get_peers queries sent";
    DhtAnnouncePeerIn: "dht.dht_announce_peer_in", Counter, "messages", "DHT announce_peer queries received";
    DhtAnnouncePeerOut: "dht.dht_announce_peer_out", Counter, "messages", "DHT announce_peer queries sent";
    DhtInvalidAnnounce: "dht.dht_invalid_announce", Counter, "messages", "announce_peer queries refused (bad token, malformed)";
    DhtInvalidGetPeers: "dht.dht_invalid_get_peers", Counter, "messages", "malformed get_peers queries";
    DhtInvalidFindNode: "dht.dht_invalid_find_node", Counter, "messages", "malformed find_node queries";
    DhtLookups: "dht.dht_active_lookups", Gauge, "lookups", "iterative DHT lookups (bootstrap, find_node, get_peers) running";
    DhtBlockedSenders: "dht.dht_blocked_senders", Counter, "events", "IP addresses blocked for sending more than dht_block_ratelimit queries a second";
    UdpPacketsIn: "udp.packets_in", Counter, "packets", "datagrams received on the listen interfaces' UDP sockets";
    UdpSendErrors: "udp.send_errors", Counter, "packets", "datagrams the UDP socket refused to send (buffer full, unreachable)";
    UdpDhtDropped: "udp.dht_dropped", Counter, "packets", "DHT datagrams dropped because the DHT is off";
    UdpUtpDropped: "udp.utp_dropped", Counter, "packets", "uTP datagrams that arrived while no uTP socket was started on the interface, dropped";
    UdpTrackerDropped: "udp.tracker_dropped", Counter, "packets", "UDP tracker datagrams arriving on the listen socket, dropped (UDP trackers use their own socket)";
    UdpUnknownDropped: "udp.unknown_dropped", Counter, "packets", "datagrams of no known shape, dropped";
    RecvWebSeedPayloadBytes: "net.recv_webseed_payload_bytes", Counter, "bytes", "piece data received from web seeds (BEP 19); also counted in net.recv_payload_bytes";
    WebSeedRequests: "web_seed.requests", Counter, "requests", "HTTP range requests sent to web seeds";
    WebSeedErrors: "web_seed.errors", Counter, "requests", "web seed requests that failed (HTTP status, connection, bad reply, timeout)";
    WebSeedsBanned: "web_seed.banned", Counter, "web seeds", "web seeds removed because their data failed the hash check";
    UtpPacketLoss: "utp.utp_packet_loss", Counter, "packets", "uTP packets found lost (timeout, three duplicate acks or selective acks past them)";
    UtpTimeout: "utp.utp_timeout", Counter, "events", "uTP retransmission timeouts (and SYN resends)";
    UtpPacketsIn: "utp.utp_packets_in", Counter, "packets", "uTP packets received on a connection";
    UtpPacketsOut: "utp.utp_packets_out", Counter, "packets", "uTP packets sent, resends and RESETs included";
    UtpFastRetransmit: "utp.utp_fast_retransmit", Counter, "packets", "uTP packets resent before their timeout (duplicate or selective acks)";
    UtpPacketResend: "utp.utp_packet_resend", Counter, "packets", "uTP packets sent again, for any reason";
    UtpSamplesAboveTarget: "utp.utp_samples_above_target", Counter, "samples", "uTP delay samples above utp_target_delay (the window shrinks)";
    UtpSamplesBelowTarget: "utp.utp_samples_below_target", Counter, "samples", "uTP delay samples below utp_target_delay (the window may grow)";
    UtpPayloadPktsIn: "utp.utp_payload_pkts_in", Counter, "packets", "uTP DATA packets received";
    UtpPayloadPktsOut: "utp.utp_payload_pkts_out", Counter, "packets", "uTP DATA packets sent, resends included";
    UtpInvalidPktsIn: "utp.utp_invalid_pkts_in", Counter, "packets", "uTP packets malformed, of no known connection, or acking what was never sent";
    UtpRedundantPktsIn: "utp.utp_redundant_pkts_in", Counter, "packets", "uTP DATA packets received twice";
    NumUtpIdle: "utp.num_utp_idle", Gauge, "connections", "incoming uTP connections waiting to be accepted";
    NumUtpSynSent: "utp.num_utp_syn_sent", Gauge, "connections", "outgoing uTP connections waiting for the SYN's answer";
    NumUtpConnected: "utp.num_utp_connected", Gauge, "connections", "uTP connections open both ways";
    NumUtpFinSent: "utp.num_utp_fin_sent", Gauge, "connections", "uTP connections whose FIN is sent and not yet acked";
    NumUtpCloseWait: "utp.num_utp_close_wait", Gauge, "connections", "uTP connections closed our way (FIN acked) or failed, waiting for the peer's FIN or the stream's drop";
    NumUtpDeleted: "utp.num_utp_deleted", Gauge, "connections", "uTP connections the socket has forgotten whose stream is still held";
    PeersBlockedIpFilter: "peer.blocked_by_ip_filter", Counter, "peers", "peer addresses and connections refused or closed because the session's IP filter blocks them (each posts a peer_blocked alert)";
    PeersBlockedPortFilter: "peer.blocked_by_port_filter", Counter, "peers", "peer addresses not dialled or connections closed because the session's port filter blocks their port (each posts a peer_blocked alert)";
    InHashRequest: "ses.num_incoming_hash_request", Counter, "messages", "BEP 52 hash request messages received from peers";
    InHashes: "ses.num_incoming_hashes", Counter, "messages", "BEP 52 hashes messages received from peers";
    InHashReject: "ses.num_incoming_hash_reject", Counter, "messages", "BEP 52 hash reject messages received from peers";
    OutHashRequest: "ses.num_outgoing_hash_request", Counter, "messages", "BEP 52 hash request messages sent to peers";
    OutHashes: "ses.num_outgoing_hashes", Counter, "messages", "BEP 52 hashes messages sent to peers";
    OutHashReject: "ses.num_outgoing_hash_reject", Counter, "messages", "BEP 52 hash reject messages sent to peers";
}

/// Number of metrics.
pub const NUM_METRICS: usize = METRICS.len();

/// The fields of `lt_stats_t` after its header, in order, each with the
/// metric it copies. The C struct must list exactly these names in this
/// order (a test compares it with the generated header).
pub const STATS_FIELDS: &[(&str, Metric)] = &[
    ("download_rate", Metric::RecvRate),
    ("upload_rate", Metric::SentRate),
    ("total_download", Metric::RecvBytes),
    ("total_upload", Metric::SentBytes),
    ("payload_download_rate", Metric::RecvPayloadRate),
    ("payload_upload_rate", Metric::SentPayloadRate),
    ("total_payload_download", Metric::RecvPayloadBytes),
    ("total_payload_upload", Metric::SentPayloadBytes),
    ("num_peers", Metric::NumPeersConnected),
    ("num_unchoked", Metric::NumPeersUpUnchoked),
    ("num_peers_half_open", Metric::NumPeersHalfOpen),
    ("num_tcp_peers", Metric::NumTcpPeers),
    ("num_incoming_connections", Metric::IncomingConnections),
    ("has_incoming_connections", Metric::HasIncomingConnections),
    ("optimistic_unchokes", Metric::NumPeersUpUnchokedOptimistic),
    ("num_torrents", Metric::NumTorrents),
    ("num_downloading", Metric::NumDownloadingTorrents),
    ("num_seeding", Metric::NumSeedingTorrents),
    ("num_checking", Metric::NumCheckingTorrents),
    ("num_stopped", Metric::NumStoppedTorrents),
    ("disk_blocks_read", Metric::BlocksRead),
    ("disk_blocks_written", Metric::BlocksWritten),
    ("disk_queue_depth", Metric::DiskQueueDepth),
    ("num_tracker_announces", Metric::TrackerAnnounces),
    ("num_tracker_errors", Metric::TrackerErrors),
    ("total_wasted", Metric::WastedBytes),
    ("num_hash_failures", Metric::NumPieceFailed),
    ("alerts_dropped", Metric::AlertsDropped),
    ("uptime_ms", Metric::UptimeMs),
    ("process_rss_bytes", Metric::ProcessRssBytes),
    ("process_cpu_permille", Metric::ProcessCpuPermille),
    ("system_cpu_permille", Metric::SystemCpuPermille),
    ("cpu_cores", Metric::CpuCores),
    ("system_memory_total", Metric::MemoryTotalBytes),
    ("system_memory_available", Metric::MemoryAvailableBytes),
    ("num_utp_peers", Metric::NumUtpPeers),
    ("dht_nodes", Metric::DhtNodes),
    ("dht_node_cache", Metric::DhtNodeCache),
    ("dht_torrents", Metric::DhtTorrents),
    ("num_queued", Metric::NumQueuedTorrents),
    ("disk_read_cache_size", Metric::ReadCacheBlocks),
    ("disk_write_cache_size", Metric::WriteCacheBlocks),
    ("num_tracker_scrapes", Metric::TrackerScrapes),
];

/// The session's counters: one relaxed atomic per metric.
pub struct Counters {
    values: [AtomicI64; NUM_METRICS],
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

impl Counters {
    pub fn new() -> Counters {
        Counters { values: std::array::from_fn(|_| AtomicI64::new(0)) }
    }

    #[inline]
    pub fn add(&self, m: Metric, v: i64) {
        self.values[m as usize].fetch_add(v, Ordering::Relaxed);
    }

    #[inline]
    pub fn set(&self, m: Metric, v: i64) {
        self.values[m as usize].store(v, Ordering::Relaxed);
    }

    #[inline]
    pub fn get(&self, m: Metric) -> i64 {
        self.values[m as usize].load(Ordering::Relaxed)
    }

    /// Copies every value into `out` (index = metric index).
    pub fn snapshot(&self) -> Box<[i64]> {
        self.values.iter().map(|v| v.load(Ordering::Relaxed)).collect()
    }

    /// The `lt_stats_t` field values, in `STATS_FIELDS` order.
    pub fn struct_values(&self) -> [i64; STATS_FIELDS.len()] {
        std::array::from_fn(|i| self.get(STATS_FIELDS[i].1))
    }
}

/// Index of the metric called `name`.
pub fn find_metric(name: &str) -> Option<usize> {
    METRICS.iter().position(|m| m.name == name)
}

/// Bytes-per-second over the last sampling period, for one direction of
/// one quantity. Fed once a second with a running total.
#[derive(Clone, Copy, Debug, Default)]
pub struct RateSampler {
    last_total: i64,
    last_at_ms: u64,
    rate: i64,
}

impl RateSampler {
    /// Feeds the total at `now_ms`; answers the rate over the elapsed time.
    pub fn sample(&mut self, total: i64, now_ms: u64) -> i64 {
        let dt = now_ms.saturating_sub(self.last_at_ms);
        if dt > 0 {
            let delta = (total - self.last_total).max(0);
            self.rate = delta * 1000 / dt as i64;
            self.last_total = total;
            self.last_at_ms = now_ms;
        }
        self.rate
    }

    pub fn rate(&self) -> i64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_consistent() {
        assert_eq!(METRICS.len(), Metric::ALL.len());
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(*m as usize, i);
        }
        let mut names: Vec<_> = METRICS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len(), "metric names must be unique");
        assert_eq!(find_metric("net.recv_bytes"), Some(Metric::RecvBytes as usize));
        assert_eq!(find_metric("nope"), None);
    }

    #[test]
    fn counters_add_set_snapshot() {
        let c = Counters::new();
        c.add(Metric::RecvBytes, 10);
        c.add(Metric::RecvBytes, 5);
        c.set(Metric::NumTorrents, 3);
        let s = c.snapshot();
        assert_eq!(s[Metric::RecvBytes as usize], 15);
        assert_eq!(c.struct_values()[2], 15);
    }

    #[test]
    fn rate_sampler() {
        let mut r = RateSampler::default();
        r.sample(0, 1000);
        assert_eq!(r.sample(500, 1500), 1000);
        assert_eq!(r.sample(500, 2500), 0);
    }
}
