# Checks TorrentSession (the GDNative node) end to end, run by
# tests/godot/run.sh: downloads a torrent from a libtorrent seeder on
# 127.0.0.1, compares the file's SHA-256 with the seeder's, checks the
# stats, status and alert Dictionaries (session_stats alerts included)
# against the structs of include/lt.h, adds a magnet, and exercises the
# error paths. Prints "PASS" and exits 0, or prints
# "FAIL: ..." and exits 1.
#
# Arguments after "--": torrent=PATH save=DIR peer=IP:PORT header=LT_H
# file=RELATIVE_PATH sha256=HEX size=BYTES
extends SceneTree

const TorrentSession = preload("res://addons/lt/torrent_session.gdns")
const ALERT_CATEGORY_ERROR = 1
const ALERT_CATEGORY_STATUS = 64
const LT_OK = 0
const LT_ERROR_INVALID_ARG = 2
const LT_ERROR_INVALID_HANDLE = 4
const LT_ERROR_UNKNOWN_SETTING = 5
const LT_ERROR_INVALID_TORRENT = 9
const LT_ERROR_INVALID_MAGNET = 10
const LT_STATE_DOWNLOADING_METADATA = 2
const LT_STATE_SEEDING = 5

var args = {}
var ses
var id = 0
var alerts = []
var finished = false
var failed = false


func fail(msg):
	if not failed:
		print("FAIL: ", msg)
		failed = true
		if ses != null:
			ses.free()
			ses = null
		quit(1)


func check(cond, msg):
	if not cond:
		fail(msg)
	return cond


# The member names of `typedef struct NAME { ... } NAME;` in lt.h, without
# the struct_size/reserved header (not statistics, so not in the Dictionaries).
# Plain string search: Godot 3.2's RegEx prints spurious memory errors.
func struct_fields(header, name):
	var open = "typedef struct " + name + " {"
	var start = header.find(open)
	var end = header.find("} " + name + ";", start)
	if start < 0 or end < 0:
		return []
	var body = header.substr(start + open.length(), end - start - open.length())
	var code = ""
	var at = 0
	while true:  # drop the /* ... */ comments
		var comment = body.find("/*", at)
		if comment < 0:
			code += body.substr(at, body.length() - at)
			break
		code += body.substr(at, comment - at)
		at = body.find("*/", comment) + 2
	var names = []
	for declaration in code.split(";", false):
		var words = declaration.strip_edges().split(" ", false)
		if words.size() < 2:
			continue
		var field = words[words.size() - 1]
		if field.find("[") >= 0:
			field = field.substr(0, field.find("["))
		if field != "struct_size" and field != "reserved":
			names.append(field)
	return names


# Every key of `fields` in `dict`, and nothing else but `extra`.
func check_keys(what, dict, fields, extra):
	for key in fields:
		if not check(dict.has(key), "%s lacks %s" % [what, key]):
			return false
	for key in dict.keys():
		if not check(key in fields or key in extra, "%s has unexpected key %s" % [what, key]):
			return false
	return true


func _init():
	for arg in OS.get_cmdline_args():
		var eq = arg.find("=")
		if eq > 0:
			args[arg.substr(0, eq)] = arg.substr(eq + 1, arg.length())
	for key in ["torrent", "save", "peer", "header", "file", "sha256", "size"]:
		if not check(args.has(key), "missing argument %s=" % key):
			return
	check_errors()
	if failed:
		return
	ses = TorrentSession.new()
	var err = ses.start({
		"listen_interfaces": "127.0.0.1:0",
		"enable_dht": false,
		"enable_lsd": false,
		"enable_outgoing_utp": false,
		"alert_mask": ALERT_CATEGORY_ERROR | ALERT_CATEGORY_STATUS,
		"stats_interval_ms": 200,  # session_stats alerts, whatever the mask
	})
	if not check(err == LT_OK, "start returned %d: %s" % [err, ses.get_last_error()]):
		return
	var file = File.new()
	if not check(file.open(args["torrent"], File.READ) == OK, "cannot read " + args["torrent"]):
		return
	var bytes = file.get_buffer(file.get_len())
	file.close()
	id = ses.add_torrent(bytes, args["save"], [args["peer"]])
	check(id > 0, "add_torrent returned %d: %s" % [id, ses.get_last_error()])


# Failures come back as codes with a message, never as script errors.
func check_errors():
	var s = TorrentSession.new()
	check(s.add_torrent(PoolByteArray(), "/tmp") == -LT_ERROR_INVALID_ARG, "add_torrent before start")
	check(s.get_last_error().find("not started") >= 0, "message before start: " + s.get_last_error())
	check(s.start({"no_such_setting": 1}) == LT_ERROR_UNKNOWN_SETTING, "unknown setting")
	check(s.get_last_error().find("no_such_setting") >= 0, "message names the setting: " + s.get_last_error())
	check(s.start({"listen_interfaces": 6881}) != LT_OK, "a string setting given an int")
	check(s.start({"listen_interfaces": 1.5}) == LT_ERROR_INVALID_ARG, "a float setting value")
	check(s.start({"listen_interfaces": "127.0.0.1:0", "enable_dht": false}) == LT_OK, "start: " + s.get_last_error())
	check(s.start({}) == LT_ERROR_INVALID_ARG, "second start")
	check(s.add_torrent(PoolByteArray([100, 101]), "/tmp") == -LT_ERROR_INVALID_TORRENT, "garbage torrent")
	check(s.add_torrent(42, "/tmp") == -LT_ERROR_INVALID_ARG, "a source that is neither bytes nor a String")
	check(s.add_torrent("magnet:?xt=urn:btih:nothex", "/tmp") == -LT_ERROR_INVALID_MAGNET, "a bad magnet")
	var info_hash = "0123456789abcdef0123456789abcdef01234567"
	var magnet = s.add_torrent("magnet:?xt=urn:btih:" + info_hash, args["save"] + "-magnet", "127.0.0.1:9")
	if check(magnet > 0, "add_torrent(magnet): " + s.get_last_error()):
		var st = s.get_torrent_status(magnet)
		check(st["state"] == LT_STATE_DOWNLOADING_METADATA, "a magnet starts by fetching metadata: %s" % st)
		check(st["info_hash"] == info_hash, "the magnet's info-hash: " + st["info_hash"])
		check(s.get_session_stats()["num_torrents"] == 1, "num_torrents with the magnet")
		check(s.remove(magnet) == LT_OK, "remove(magnet): " + s.get_last_error())
	check(s.pause(12345) == LT_ERROR_INVALID_HANDLE, "pause of an unknown id")
	check(s.resume(-1) == LT_ERROR_INVALID_HANDLE, "resume of a negative id")
	check(s.get_torrent_status(12345).empty(), "status of an unknown id")
	check(s.get_last_error().find("12345") >= 0, "message names the id: " + s.get_last_error())
	check(s.stop() == LT_OK, "stop")
	check(s.get_session_stats().empty(), "stats after stop")
	s.free()


func _idle(_delta):
	if failed or finished:
		return false
	for alert in ses.get_alerts():
		if not check(typeof(alert) == TYPE_DICTIONARY, "an alert that is not a Dictionary"):
			return false
		for key in ["type", "type_name", "category", "message", "torrent_id", "timestamp_us"]:
			if not check(alert.has(key), "alert %s lacks %s" % [alert, key]):
				return false
		alerts.append(alert)
		if alert["type_name"] == "torrent_error" or alert["type_name"] == "file_error":
			fail("download failed: " + alert["message"])
			return false
	var st = ses.get_torrent_status(id)
	if not check(not st.empty(), "get_torrent_status: " + ses.get_last_error()):
		return false
	var finished_alert = false
	var stats_alert = false
	for alert in alerts:
		if alert["type_name"] == "torrent_finished" and alert["torrent_id"] == id:
			finished_alert = true
		stats_alert = stats_alert or alert["type_name"] == "session_stats"
	if st["state"] == LT_STATE_SEEDING and finished_alert and stats_alert:
		finished = true
		verify(st)
	return false


func verify(st):
	var header_file = File.new()
	if not check(header_file.open(args["header"], File.READ) == OK, "cannot read " + args["header"]):
		return
	var header = header_file.get_as_text()
	header_file.close()
	var stats_fields = struct_fields(header, "lt_stats_t")
	var status_fields = struct_fields(header, "lt_torrent_status_t")
	if not check(stats_fields.size() > 40 and status_fields.size() > 40, "lt.h's structs not found"):
		return

	var stats = ses.get_session_stats()
	if not check_keys("get_session_stats()", stats, stats_fields, ["utp_stats"]):
		return
	if not check_keys("utp_stats", stats["utp_stats"],
			["num_idle", "num_syn_sent", "num_connected", "num_fin_sent", "num_close_wait"], []):
		return
	var size = int(args["size"])
	check(stats["total_download"] >= size, "total_download %d < %d" % [stats["total_download"], size])
	check(stats["total_payload_download"] >= size, "total_payload_download %d" % stats["total_payload_download"])
	check(stats["num_torrents"] == 1, "num_torrents %d" % stats["num_torrents"])
	check(stats["num_seeding"] == 1, "num_seeding %d" % stats["num_seeding"])

	if not check_keys("get_torrent_status()", st, status_fields, []):
		return
	check(st["progress"] == 1.0, "progress %f" % st["progress"])
	check(st["total_done"] == size and st["total_size"] == size, "total_done %d" % st["total_done"])
	check(st["save_path"] == args["save"], "save_path " + st["save_path"])
	check(typeof(st["info_hash"]) == TYPE_STRING and st["info_hash"].length() == 40, "info_hash")
	check(st["name"] == "game", "name " + st["name"])

	var path = args["save"].plus_file(args["file"])
	var digest = File.new().get_sha256(path)
	check(digest == args["sha256"], "%s: SHA-256 %s, the seeder's %s" % [path, digest, args["sha256"]])

	var names = []
	for alert in alerts:
		names.append(alert["type_name"])
	check("add_torrent" in names, "no add_torrent alert in %s" % [names])
	check("torrent_finished" in names, "no torrent_finished alert")
	for alert in alerts:  # the typed fields of the alerts this download raises
		if alert["type_name"] == "state_changed":
			check(alert.has("state") and alert.has("prev_state"), "state_changed without its states")
		if alert["type_name"] == "listen_succeeded":
			check(alert.get("peer", "").begins_with("127.0.0.1:"), "listen_succeeded's address: %s" % alert)
		if alert["type_name"] == "session_stats":
			check_keys("a session_stats alert's stats", alert.get("stats", {}), stats_fields, [])
			var counters = alert.get("counters", {})
			check(counters.has("net.recv_bytes") and counters.has("utp.num_utp_idle"), "its counters: %s" % [counters.keys()])
		if alert["type_name"] in ["add_torrent", "torrent_finished"]:
			check(alert["torrent_id"] == id, "%s for torrent %d" % [alert["type_name"], alert["torrent_id"]])

	check(ses.pause(id) == LT_OK, "pause: " + ses.get_last_error())
	check(ses.get_torrent_status(id)["paused"] == 1, "paused after pause()")
	check(ses.resume(id) == LT_OK, "resume: " + ses.get_last_error())
	check(ses.get_torrent_status(id)["paused"] == 0, "running after resume()")
	check(ses.remove(id) == LT_OK, "remove: " + ses.get_last_error())
	check(ses.pause(id) == LT_ERROR_INVALID_HANDLE, "the id is invalid after remove()")
	if failed:
		return
	ses.free()
	ses = null
	print("stats keys: %d, status keys: %d, alerts: %d" % [stats.size(), st.size(), alerts.size()])
	print("PASS")
	quit(0)
