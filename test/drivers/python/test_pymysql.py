#!/usr/bin/python3
"""Driver test for ringmux with PyMySQL 1.0.2 (Debian python3-pymysql).

Run with /usr/bin/python3 (the python3 on PATH may lack pymysql).

Every check runs one scenario against MariaDB directly (RM_DIRECT_*) and
through ringmux (RM_PROXY_*), asserts what the direct run must show, and
compares the two.  RM_SELFTEST=1 points the "proxy" side at MariaDB too, so
every check must pass that way.  Output: "ok - NAME" / "not ok - NAME: why"
per check, then "N passed, N failed"; exit status 1 on a failure.

PyMySQL 1.0.2 code paths used (pymysql/connections.py):
  * Connection._execute_command() sends a command of 16 MiB - 1 bytes or more
    as several packets (MAX_PACKET_LEN = 0xFFFFFF), and when the payload is
    an exact multiple of 0xFFFFFF it ends with an empty packet.
    max_allowed_packet is only used for LOAD DATA LOCAL, so a 17 MiB query
    is sent as is.  Bytes parameters become _binary'...' literals.
  * Connection.kill(thread_id) sends COM_PROCESS_KILL (0x0C) with a 4-byte
    id and reads an OK packet.  Connection.thread_id() is the connection id
    of the initial handshake.
  * Connection.ping(reconnect=False) sends COM_PING.
  * connect(): charset='utf8mb4' puts collation 45 (utf8mb4_general_ci) in
    the handshake response; autocommit defaults to False, sent as
    "SET AUTOCOMMIT = 0" when the server's status flag says otherwise;
    rollback() sends COM_QUERY "ROLLBACK".
"""

import hashlib
import os
import random
import sys
import threading
import time
import traceback

import pymysql

USER = os.environ.get("RM_USER", "rmtest")
PASS = os.environ.get("RM_PASSWORD", "rmtest-pw")
DB = os.environ.get("RM_DB", "rmtest")
START = time.monotonic()
BUDGET = 85.0
PFX = "drv_py_%d" % os.getpid()
T_BLOB = PFX + "_blob"
T_T = PFX + "_t"

DIRECT = {
    "name": "direct",
    "host": os.environ.get("RM_DIRECT_HOST", "127.0.0.1"),
    "port": int(os.environ.get("RM_DIRECT_PORT", "3306")),
    "direct": True,
}
if os.environ.get("RM_SELFTEST") == "1":
    PROXY = dict(DIRECT, name="proxy(selftest=direct)", direct=False)
else:
    PROXY = {
        "name": "proxy",
        "host": os.environ.get("RM_PROXY_HOST", "127.0.0.1"),
        "port": int(os.environ.get("RM_PROXY_PORT", "6033")),
        "direct": False,
    }

_out = threading.Lock()
counts = {"passed": 0, "failed": 0}
state = {"proxy_down": None}  # set when the proxy could not be reached at start
# group -> reason: a check of the group failed after more than 10 s (a hang);
# the rest of the group is not run, to leave time for the other checks.
slow_groups = {}


class Fail(Exception):
    pass


def emit(line):
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def ok(name):
    counts["passed"] += 1
    emit("ok - " + name)


def not_ok(name, why):
    counts["failed"] += 1
    emit("not ok - %s: %s" % (name, str(why).replace("\n", " ")))


def note(msg):
    emit("# " + msg)


def connect(side, track=None, **kw):
    args = dict(
        host=side["host"],
        port=side["port"],
        user=USER,
        password=PASS,
        database=DB,
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=5,
        read_timeout=20,
        write_timeout=20,
    )
    args.update(kw)
    c = pymysql.connect(**args)
    if track is not None:
        track.append(c)
    return c


def check(name, timeout, fn, group=None):
    """Runs fn(track) on a daemon thread, bounded by timeout; on a hang the
    sockets of the connections it opened are shut down."""
    if state["proxy_down"]:
        not_ok(name, "not run: " + state["proxy_down"])
        return
    if group in slow_groups:
        not_ok(name, "not run: " + slow_groups[group])
        return
    t0 = time.monotonic()
    left = BUDGET - (time.monotonic() - START)
    if left < 2:
        not_ok(name, "not run: the program's time budget is used up")
        return
    timeout = min(timeout, left)
    track = []
    res = {}

    def run():
        try:
            fn(track)
            res["ok"] = True
        except Fail as e:
            res["err"] = str(e)
        except Exception as e:  # noqa: BLE001
            res["err"] = "unexpected %s: %s (%s)" % (
                type(e).__name__,
                e,
                traceback.format_exc(limit=3).strip().splitlines()[-3:],
            )

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        not_ok(name, "timed out after %.0f s" % timeout)
    elif res.get("ok"):
        ok(name)
    else:
        not_ok(name, res.get("err", "no result"))
    took = time.monotonic() - t0
    if group and not res.get("ok") and took > 10:
        slow_groups[group] = "an earlier check of this group, %s, failed after %.1f s" % (name, took)
    for c in track:
        try:
            if c._sock is None:
                continue
            if res.get("ok"):
                c.close()  # COM_QUIT
            else:
                c._sock.close()  # may be stuck: just drop the socket
        except Exception:  # noqa: BLE001
            pass


def compare(name, timeout, scenario, group=None):
    def body(track):
        d = scenario(DIRECT, track)
        p = scenario(PROXY, track)
        if d != p:
            raise Fail("direct {%s} but proxy {%s}" % (d, p))

    check(name, timeout, body, group)


def expect(cond, why):
    if not cond:
        raise Fail(why)


def q(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def err_shape(e):
    if isinstance(e, pymysql.err.MySQLError) and e.args and isinstance(e.args[0], int):
        return "%s(%d)" % (type(e).__name__, e.args[0])
    return type(e).__name__


# ---------------------------------------------------------------- 1. large query


def large_query(name, rid, make_sql, expect_len, expect_sha, min_payload):
    def scenario(side, track):
        c = connect(side, track, read_timeout=12, write_timeout=12)
        row_id = rid + (0 if side["direct"] else 100)
        q(c, "DELETE FROM %s WHERE id = %%s" % T_BLOB, (row_id,))
        sql = make_sql(row_id)
        payload = 1 + len(sql)
        expect(payload >= min_payload, "test bug: COM_QUERY payload only %d bytes" % payload)
        try:
            n = c.query(sql)
        except pymysql.err.MySQLError as e:
            raise Fail("%s: INSERT with a %d-byte COM_QUERY failed: %s %s" % (side["name"], payload, err_shape(e), e))
        expect(n == 1, "%s: affected rows %r" % (side["name"], n))
        ln, sh = q(c, "SELECT LENGTH(b), SHA2(b, 256) FROM %s WHERE id = %%s" % T_BLOB, (row_id,))[0]
        expect(
            ln == expect_len and sh == expect_sha,
            "%s: stored LENGTH %s SHA2 %s, sent %d bytes with sha256 %s (COM_QUERY payload %d bytes)"
            % (side["name"], ln, sh, expect_len, expect_sha, payload),
        )
        # The whole value back: a text-protocol row of more than 16 MiB.
        got = q(c, "SELECT b FROM %s WHERE id = %%s" % T_BLOB, (row_id,))[0][0]
        gs = hashlib.sha256(got).hexdigest()
        expect(
            len(got) == expect_len and gs == expect_sha,
            "%s: read back %d bytes sha256 %s" % (side["name"], len(got), gs),
        )
        expect(q(c, "SELECT 1")[0][0] == 1, "%s: connection unusable afterwards" % side["name"])
        return "len=%s sha=%s payload=%d" % (ln, sh, payload)

    compare(name, 30, scenario, group="large")


def large_random():
    data = random.Random(17).randbytes(17 * 1024 * 1024)
    sha = hashlib.sha256(data).hexdigest()

    def make_sql(row_id):
        # Escaping as Cursor.execute() would do it (_binary'...').
        lit = pymysql.converters.escape_bytes_prefixed(data, None)
        return ("INSERT INTO %s (id, b) VALUES (%03d, %s)" % (T_BLOB, row_id, lit)).encode("utf8", "surrogateescape")

    large_query("py.largeQuery.17MiB.randomBytes", 1, make_sql, len(data), sha, 17 * 1024 * 1024)


def large_exact(name, rid, payload_len):
    """A COM_QUERY whose payload (command byte + SQL) is exactly payload_len
    bytes, with a value of letters only (no escaping)."""
    # The id differs between direct and proxy (rid / rid+100): %03d keeps
    # the SQL the same length.
    head = "INSERT INTO %s (id, b) VALUES (%03d, '" % (T_BLOB, rid)
    n = payload_len - 1 - len(head) - len("')")
    rnd = random.Random(rid)
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    data = bytes(alphabet[b % len(alphabet)] for b in rnd.randbytes(n))
    sha = hashlib.sha256(data).hexdigest()

    def make_sql(row_id):
        sql = ("INSERT INTO %s (id, b) VALUES (%03d, '" % (T_BLOB, row_id)).encode() + data + b"')"
        assert 1 + len(sql) == payload_len, (len(sql), payload_len)
        return sql

    large_query(name, rid, make_sql, n, sha, payload_len)


# ---------------------------------------------------------------- 2. kill


def run_victim(conn, sql, box):
    t0 = time.monotonic()
    try:
        rows = q(conn, sql)
        box["out"] = "row=%r" % (rows[0][0],)
    except Exception as e:  # noqa: BLE001
        box["out"] = err_shape(e)
        box["exc"] = e
    box["t"] = time.monotonic() - t0


def kill_scenario(side, track, how):
    victim = connect(side, track)
    killer = connect(side, track)
    tid = victim.thread_id()
    box = {}
    th = threading.Thread(target=run_victim, args=(victim, "SELECT SLEEP(10)", box), daemon=True)
    th.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    try:
        if how == "com_process_kill":
            killer.kill(tid)
        else:
            q(killer, "KILL QUERY %d" % tid)
        kres = "ok"
    except Exception as e:  # noqa: BLE001
        kres = err_shape(e) + " " + str(e)
    th.join(12)
    expect(not th.is_alive(), "%s: SELECT SLEEP(10) did not return (killer: %s)" % (side["name"], kres))
    took = time.monotonic() - t0
    outcome = box["out"]
    note("%s %s %d: killer %s; victim %s after %.2f s" % (side["name"], how, tid, kres, outcome, took))
    expect(
        took < 2.0,
        "%s: victim's SELECT SLEEP(10) ended %.1f s after the kill (victim %s; killer %s)"
        % (side["name"], took, outcome, kres),
    )
    expect(kres == "ok", "%s: the killer got %s" % (side["name"], kres))
    # Afterwards: is the victim's connection still there?
    try:
        victim.ping(reconnect=False)
        alive = "alive"
        expect(q(victim, "SELECT 1")[0][0] == 1, "%s: SELECT 1 failed on the victim" % side["name"])
    except Fail:
        raise
    except Exception as e:  # noqa: BLE001
        # Which exception depends on whether an ERR came before the close.
        alive = "closed"
        note("%s: victim connection after the kill: %s %s" % (side["name"], err_shape(e), e))
    if how == "com_process_kill":
        # The victim's error is 1927 (ER_CONNECTION_KILLED) or 2013 (lost
        # connection) depending on timing; both mean "killed".
        e = box.get("exc")
        killed = isinstance(e, pymysql.err.OperationalError) and e.args[0] in (1927, 2013, 2006)
        outcome = "victim=connection-killed" if killed else "victim=" + outcome
        if side["direct"]:
            expect(killed and alive.startswith("closed"), "direct: unexpected %s %s" % (outcome, alive))
    else:
        outcome = "victim=" + outcome
        if side["direct"]:
            expect(alive == "alive", "direct: victim connection %s after KILL QUERY" % alive)
    return "killer=%s %s after=%s" % (kres, outcome, alive)


def thread_id_scenario(side, track):
    c = connect(side, track)
    other = connect(side, track)
    tid = c.thread_id()
    for i in range(5):
        cid = q(c, "SELECT CONNECTION_ID()")[0][0]
        expect(cid == tid, "%s: SELECT CONNECTION_ID() = %s (try %d) but thread_id() = %s" % (side["name"], cid, i, tid))
        q(other, "SELECT CONNECTION_ID()")
        c.ping(reconnect=False)
    return "ok"


# ---------------------------------------------------------------- 3. errors / warnings


def dup_key(side, track):
    c = connect(side, track)
    q(c, "DELETE FROM " + T_T)
    q(c, "INSERT INTO %s (id, v) VALUES (1, 'a')" % T_T)
    try:
        q(c, "INSERT INTO %s (id, v) VALUES (1, 'b')" % T_T)
        res = "no error"
    except pymysql.err.MySQLError as e:
        res = "%s %r" % (type(e).__name__, e.args)
    # The same through the text protocol's other form: executemany.
    try:
        with c.cursor() as cur:
            cur.executemany("INSERT INTO " + T_T + " (id, v) VALUES (%s, %s)", [(2, "x"), (1, "y")])
        res2 = "no error"
    except pymysql.err.MySQLError as e:
        res2 = "%s %r" % (type(e).__name__, e.args)
    rows = q(c, "SELECT id, v FROM %s ORDER BY id" % T_T)
    expect(q(c, "SELECT 1")[0][0] == 1, "%s: unusable after the error" % side["name"])
    if side["direct"]:
        expect(res.startswith("IntegrityError (1062,"), "direct: " + res)
    return "err=%s executemany=%s rows=%r" % (res, res2, rows)


def warnings_scenario(side, track):
    c = connect(side, track)
    q(c, "DELETE FROM " + T_T)
    q(c, "INSERT INTO %s (id, v) VALUES (1, 'a')" % T_T)
    out = []
    with c.cursor() as cur:
        n = cur.execute("INSERT IGNORE INTO %s (id, v) VALUES (1, 'dup'), (2, 'much too long for five')" % T_T)
        out.append("insert affected=%d warning_count=%d" % (n, cur._result.warning_count))
    out.append("show=%r" % (q(c, "SHOW WARNINGS"),))
    out.append("again=%r" % (q(c, "SHOW WARNINGS"),))  # SHOW WARNINGS has no warnings of its own
    with c.cursor() as cur:
        cur.execute("SELECT CAST('12abc' AS SIGNED), CAST('x' AS SIGNED)")
        out.append("select=%r warning_count=%d" % (cur.fetchall(), cur._result.warning_count))
    out.append("show2=%r" % (q(c, "SHOW WARNINGS"),))
    out.append("count=%r" % (q(c, "SELECT @@warning_count"),))
    res = " ".join(out)
    if side["direct"]:
        expect("warning_count=2" in out[0] and "1062" in out[1] and "1265" in out[1], "direct: " + res)
    return res


def rollback_scenario(side, track):
    out = []
    c = connect(side, track)  # autocommit=True
    c.rollback()
    out.append("autocommit-rollback=ok")
    c2 = connect(side, track, autocommit=False)  # PyMySQL's default mode
    q(c2, "DELETE FROM " + T_T)
    c2.commit()
    c2.rollback()
    q(c2, "INSERT INTO %s (id, v) VALUES (7, 'rb')" % T_T)
    out.append("in-tx=%r" % (q(c2, "SELECT COUNT(*) FROM " + T_T),))
    c2.rollback()
    out.append("after=%r" % (q(c2, "SELECT COUNT(*) FROM " + T_T),))
    c2.rollback()
    c2.rollback()
    out.append("other=%r" % (q(c, "SELECT COUNT(*) FROM " + T_T),))
    out.append("autocommit=%r" % (q(c2, "SELECT @@autocommit"),))
    c2.commit()
    return " ".join(out)


# ---------------------------------------------------------------- 4. session variables


def session_vars(side, track):
    c = connect(side, track, autocommit=None)  # autocommit left as the server has it
    c3 = connect(side, track)  # autocommit=True: nothing sent (server default is 1)
    c2 = connect(side, track, autocommit=False)  # PyMySQL's default: SET AUTOCOMMIT = 0
    # Another client that changes its own session; must not leak into ours.
    noise = connect(side, track)
    sql = "SELECT @@sql_mode, @@collation_connection, @@character_set_client, @@character_set_results, @@autocommit"
    out = []
    for label, conn in (("autocommitUnset", c), ("autocommit1", c3), ("autocommit0", c2)):
        a = q(conn, sql)
        conn.ping(reconnect=False)
        b = q(conn, sql)
        q(noise, "SET SESSION sql_mode = 'ANSI', NAMES latin1")
        q(noise, "SELECT 1")
        conn.ping(reconnect=False)
        d = q(conn, sql)
        out.append("%s connect=%r ping=%r later=%r" % (label, a, b, d))
    if side["direct"]:
        expect("'utf8mb4_general_ci', 'utf8mb4', 'utf8mb4', 1)" in out[0] and "ANSI" not in " ".join(out), "direct: " + out[0])
    return " ".join(out)


# ---------------------------------------------------------------- main


def main():
    setup_ok = True
    try:
        c = connect(DIRECT)
        for t in (T_BLOB, T_T):
            q(c, "DROP TABLE IF EXISTS " + t)
        q(c, "CREATE TABLE %s (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB" % T_BLOB)
        q(c, "CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(5)) ENGINE=InnoDB" % T_T)
        c.close()
    except Exception as e:  # noqa: BLE001
        not_ok("py.setup", "%s: %s" % (type(e).__name__, e))
        setup_ok = False

    if setup_ok:
        # 0. Handshake version string (what drivers use for feature checks)
        # and reachability with short timeouts: a proxy that does not answer
        # fails here once and the other checks are not run.
        def handshake(track):
            got = []
            for side in (DIRECT, PROXY):
                try:
                    c = connect(side, track, connect_timeout=3, read_timeout=5, write_timeout=5)
                except Exception as e:  # noqa: BLE001
                    if not side["direct"]:
                        state["proxy_down"] = "could not connect through the proxy at start: %s %s" % (err_shape(e), e)
                    raise Fail("%s: connect failed: %s %s" % (side["name"], err_shape(e), e))
                got.append((c.get_server_info(), q(c, "SELECT VERSION()")[0][0]))
            # A proxy may append a suffix to the handshake's version string.
            expect(got[1][0].startswith(got[0][0]), "handshake version: direct %r but proxy %r" % (got[0][0], got[1][0]))
            expect(got[0][1] == got[1][1], "SELECT VERSION(): direct %r but proxy %r" % (got[0][1], got[1][1]))
            if got[0][0] != got[1][0]:
                note("proxy handshake version %r (direct %r)" % (got[1][0], got[0][0]))

        check("py.handshake.serverVersion", 15, handshake)
        # 1. Multi-packet COM_QUERY.
        large_random()
        large_exact("py.largeQuery.payloadExactly16MiB-1.emptyTrailingPacket", 2, 0xFFFFFF)
        large_exact("py.largeQuery.payloadExactly2x(16MiB-1).emptyTrailingPacket", 3, 2 * 0xFFFFFF)
        # 2. Kill.
        compare("py.comProcessKill.sleepingConnection", 30, lambda s, t: kill_scenario(s, t, "com_process_kill"))
        compare("py.killQuery.sleepingQuery", 30, lambda s, t: kill_scenario(s, t, "kill_query"))
        check("py.threadId.equalsConnectionId", 20, lambda t: (thread_id_scenario(DIRECT, t), thread_id_scenario(PROXY, t)))
        # 3. Errors, warnings, rollback.
        compare("py.errors.duplicateKey", 20, dup_key)
        compare("py.warnings.showWarnings", 20, warnings_scenario)
        compare("py.rollback.nothingOpen", 20, rollback_scenario)
        # 4. Session variables after connect and ping.
        compare("py.sessionVars.afterConnectAndPing", 20, session_vars)

    try:
        c = connect(DIRECT)
        for t in (T_BLOB, T_T):
            q(c, "DROP TABLE IF EXISTS " + t)
        c.close()
    except Exception as e:  # noqa: BLE001
        note("cleanup failed: %s" % e)
    emit("%d passed, %d failed" % (counts["passed"], counts["failed"]))
    sys.stdout.flush()
    # Abandoned threads (timed-out checks) must not keep the process alive.
    os._exit(1 if counts["failed"] else 0)


if __name__ == "__main__":
    main()
