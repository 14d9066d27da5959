// Driver test for ringmux with MariaDB Connector/J 2.7.6 (Debian libmariadb-java).
//
// Every check runs one scenario against MariaDB directly (RM_DIRECT_*) and
// through ringmux (RM_PROXY_*), asserts what the direct run must show, and
// compares the two.  RM_SELFTEST=1 points the "proxy" side at MariaDB too,
// so every check must pass that way.  Output: "ok - NAME" / "not ok - NAME:
// why" per check, then "N passed, N failed"; exit status 1 on a failure.
//
// Connector/J 2.7.6 code paths this relies on (read from the jar's bytecode
// with javap -c; the class names are those of 2.7.6):
//  * Server-side prepared statements (useServerPrepStmts=true):
//    AbstractQueryProtocol.executePreparedQuery() sends, for EVERY parameter
//    whose ParameterHolder.canBeLongData() is true -- ByteArrayParameter
//    (setBytes), StreamParameter (setBinaryStream), ReaderParameter -- one
//    COM_STMT_SEND_LONG_DATA (0x18) command carrying the whole value (split
//    by the packet writer into 16 MiB - 1 packets when larger; no reply is
//    read), then COM_STMT_EXECUTE, whose ComStmtExecute.writeCmd() skips the
//    value of those parameters.  So setBytes() and setBinaryStream() both
//    travel as long data in 2.7.6; the direct run confirms it with the
//    session counter Com_stmt_send_long_data.
//  * Statement.cancel() and setQueryTimeout() on a ServerSidePreparedStatement:
//    cancel() -> Protocol.cancelCurrentQuery(), which opens a NEW connection
//    to the same host:port and runs "KILL QUERY <serverThreadId>", the
//    thread id of the initial handshake.  setQueryTimeout(n) on a server
//    prepared statement does not use "SET STATEMENT max_statement_time" (that
//    is only for text statements, MariaDbStatement.getTimeoutSql()); it
//    schedules a timer that sets isTimedout and calls cancelCurrentQuery().
//  * Batches: useBulkStmts defaults to FALSE in 2.7.6 (DefaultOptions), so it
//    is set explicitly.  With useBulkStmts=true, executeBulkBatch() sends
//    COM_STMT_BULK_EXECUTE (0xFA, flags 0x80 SEND_TYPES_TO_SERVER) when the
//    server advertises MARIADB_CLIENT_STMT_BULK_OPERATIONS (capability bit
//    1<<34), all rows have the same parameter types and the SQL has no
//    "select"; a client-side prepared statement is first prepared with
//    COM_STMT_PREPARE for it.  With useBulkStmts=false and
//    useBatchMultiSend=true the rows are pipelined: many COM_STMT_EXECUTE
//    (server prepared) or COM_QUERY (client prepared) before reading replies;
//    continueBatchOnError defaults to true.
//  * MariaDbConnection.getServerThreadId(): the handshake's connection id.
//  * MariaDbConnection.reset(): with useResetConnection=true and a MariaDB
//    server >= 10.3.13 (from the handshake's version string) it sends
//    COM_RESET_CONNECTION (0x1F) via AbstractQueryProtocol.reset(); it
//    restores only driver-tracked state (autocommit, database, ...) itself.

import java.io.ByteArrayInputStream;
import java.security.MessageDigest;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

public class DriverTest {
    static final class Side {
        final String name, host;
        final int port;
        final boolean direct;

        Side(String name, String host, int port, boolean direct) {
            this.name = name;
            this.host = host;
            this.port = port;
            this.direct = direct;
        }
    }

    static final class Fail extends Exception {
        Fail(String m) {
            super(m);
        }
    }

    interface Body {
        void run(List<Connection> track) throws Exception;
    }

    static String USER, PASS, DB;
    static Side DIRECT, PROXY;
    static final long START = System.nanoTime();
    static final long BUDGET_MS = 85_000;
    static int passed, failed;
    static final String PFX = "drv_java_" + ProcessHandle.current().pid();
    static final String T_BLOB = PFX + "_blob", T_BATCH = PFX + "_batch";

    static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
    });

    static String env(String k, String d) {
        String v = System.getenv(k);
        return v == null || v.isEmpty() ? d : v;
    }

    static synchronized void ok(String name) {
        passed++;
        System.out.println("ok - " + name);
        System.out.flush();
    }

    static synchronized void notOk(String name, String why) {
        failed++;
        System.out.println("not ok - " + name + ": " + why.replace('\n', ' '));
        System.out.flush();
    }

    static long elapsedMs() {
        return (System.nanoTime() - START) / 1_000_000;
    }

    /** Runs one check on its own thread, bounded by timeoutMs; on a hang the
     *  connections it opened are aborted so blocked reads/writes return. */
    static volatile String proxyDown;
    /** Groups in which a check failed slowly (a hang): the rest of the
     *  group is not run, to leave time for the other checks. */
    static final Map<String, String> slowGroups = new java.util.concurrent.ConcurrentHashMap<>();

    static void check(String name, long timeoutMs, Body body) {
        check(name, null, timeoutMs, body);
    }

    static void check(String name, String group, long timeoutMs, Body body) {
        if (proxyDown != null) {
            notOk(name, "not run: " + proxyDown);
            return;
        }
        if (group != null && slowGroups.containsKey(group)) {
            notOk(name, "not run: " + slowGroups.get(group));
            return;
        }
        long t0 = System.nanoTime();
        long left = BUDGET_MS - elapsedMs();
        if (left < 2000) {
            notOk(name, "not run: the program's time budget is used up");
            return;
        }
        long limit = Math.min(timeoutMs, left);
        List<Connection> track = Collections.synchronizedList(new ArrayList<>());
        Future<?> f = POOL.submit(() -> {
            body.run(track);
            return null;
        });
        boolean good = false;
        try {
            f.get(limit, TimeUnit.MILLISECONDS);
            ok(name);
            good = true;
        } catch (TimeoutException e) {
            f.cancel(true);
            notOk(name, "timed out after " + limit + " ms");
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof Fail) notOk(name, c.getMessage());
            else notOk(name, "unexpected " + describe(c));
        } catch (InterruptedException e) {
            notOk(name, "interrupted");
        } finally {
            long took = (System.nanoTime() - t0) / 1_000_000;
            if (!good && group != null && took > 10_000)
                slowGroups.put(group, "an earlier check of this group, " + name + ", failed after " + took + " ms");
            synchronized (track) {
                for (Connection c : track) {
                    try {
                        // After a failure the connection may be stuck in a
                        // read or write: abort() closes the socket.
                        if (good) c.close();
                        else c.abort(POOL);
                    } catch (Throwable ignored) {
                    }
                }
            }
        }
    }

    static String describe(Throwable t) {
        if (t instanceof SQLException) {
            SQLException e = (SQLException) t;
            return t.getClass().getSimpleName() + "(code=" + e.getErrorCode() + ", state=" + e.getSQLState()
                    + ", msg=" + e.getMessage() + ")";
        }
        return t.getClass().getSimpleName() + "(" + t.getMessage() + ")";
    }

    /** Class, error code and SQLSTATE, without the message (2.x puts the
     *  connection id "(conn=N)" in it). */
    static String shape(SQLException e) {
        return e.getClass().getSimpleName() + "/" + e.getErrorCode() + "/" + e.getSQLState();
    }

    static Connection open(Side s, String opts, List<Connection> track) throws SQLException {
        // Later keys override: opts may set connectTimeout/socketTimeout.
        Map<String, String> p = new java.util.LinkedHashMap<>();
        p.put("user", USER);
        p.put("password", PASS);
        p.put("connectTimeout", "5000");
        p.put("socketTimeout", "20000");
        for (String kv : opts.split("&")) {
            if (kv.isEmpty()) continue;
            int eq = kv.indexOf('=');
            p.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        StringBuilder url = new StringBuilder("jdbc:mariadb://" + s.host + ":" + s.port + "/" + DB);
        char sep = '?';
        for (Map.Entry<String, String> e : p.entrySet()) {
            url.append(sep).append(e.getKey()).append('=').append(e.getValue());
            sep = '&';
        }
        Connection c = DriverManager.getConnection(url.toString());
        track.add(c);
        return c;
    }

    static String q1(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet r = st.executeQuery(sql)) {
            if (!r.next()) return null;
            return r.getString(1);
        }
    }

    static List<String> row(Connection c, String sql) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Statement st = c.createStatement(); ResultSet r = st.executeQuery(sql)) {
            if (!r.next()) return out;
            int n = r.getMetaData().getColumnCount();
            for (int i = 1; i <= n; i++) out.add(r.getString(i));
        }
        return out;
    }

    static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    static Map<String, Long> comStatus(Connection c) throws SQLException {
        Map<String, Long> m = new HashMap<>();
        try (Statement st = c.createStatement();
                ResultSet r = st.executeQuery("SHOW SESSION STATUS WHERE Variable_name IN "
                        + "('Com_stmt_send_long_data','Com_stmt_execute','Com_stmt_prepare','Com_insert')")) {
            while (r.next()) m.put(r.getString(1), r.getLong(2));
        }
        return m;
    }

    static long delta(Map<String, Long> a, Map<String, Long> b, String k) {
        return b.getOrDefault(k, 0L) - a.getOrDefault(k, 0L);
    }

    static void expect(boolean cond, String why) throws Fail {
        if (!cond) throw new Fail(why);
    }

    static String hex(byte[] d) {
        StringBuilder sb = new StringBuilder();
        for (byte b : d) sb.append(String.format("%02x", b & 0xff));
        return sb.toString();
    }

    static String sha256(byte[] d) throws Exception {
        return hex(MessageDigest.getInstance("SHA-256").digest(d));
    }

    static byte[] data(int len, long seed) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Run-length summary of update counts, e.g. "[1x500,-3x1,1x499]". */
    static String rle(long[] a) {
        if (a == null) return "null";
        StringBuilder sb = new StringBuilder("[");
        int i = 0;
        while (i < a.length) {
            int j = i;
            while (j < a.length && a[j] == a[i]) j++;
            if (sb.length() > 1) sb.append(',');
            sb.append(a[i]).append('x').append(j - i);
            i = j;
        }
        return sb.append("] n=").append(a.length).toString();
    }

    static String rle(int[] a) {
        if (a == null) return "null";
        long[] l = new long[a.length];
        for (int i = 0; i < a.length; i++) l[i] = a[i];
        return rle(l);
    }

    interface Scenario {
        String run(Side s, List<Connection> track) throws Exception;
    }

    /** Runs the scenario direct then through the proxy and compares. */
    static void compare(String name, long timeoutMs, Scenario sc) {
        compare(name, null, timeoutMs, sc);
    }

    static void compare(String name, String group, long timeoutMs, Scenario sc) {
        check(name, group, timeoutMs, track -> {
            String d = sc.run(DIRECT, track);
            String p = sc.run(PROXY, track);
            expect(d.equals(p), "direct {" + d + "} but proxy {" + p + "}");
        });
    }

    // ---------------------------------------------------------------- 1. large parameters

    static void largeParam(String name, int len, boolean stream, int id, String readBack) {
        final byte[] payload = data(len, 1000 + id);
        final String[] sum = new String[1];
        compare(name, "large", 30_000, (s, track) -> {
            if (sum[0] == null) sum[0] = sha256(payload);
            Connection c = open(s, "useServerPrepStmts=true&socketTimeout=12000", track);
            int rowId = (s.direct ? 0 : 100) + id;
            exec(c, "DELETE FROM " + T_BLOB + " WHERE id = " + rowId);
            Map<String, Long> before = s.direct ? comStatus(c) : null;
            int n;
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + T_BLOB + " (id, b) VALUES (?, ?)")) {
                ps.setInt(1, rowId);
                if (stream) ps.setBinaryStream(2, new ByteArrayInputStream(payload), (long) len);
                else ps.setBytes(2, payload);
                try {
                    n = ps.executeUpdate();
                } catch (SQLException e) {
                    throw new Fail(s.name + ": insert of " + len + " bytes failed: " + describe(e));
                }
            }
            if (s.direct) {
                Map<String, Long> after = comStatus(c);
                long ld = delta(before, after, "Com_stmt_send_long_data");
                expect(ld >= 1, "direct: expected the driver to use COM_STMT_SEND_LONG_DATA, "
                        + "Com_stmt_send_long_data went up by " + ld);
            }
            expect(n == 1, s.name + ": executeUpdate returned " + n);
            List<String> r;
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT LENGTH(b), SHA2(b, 256) FROM " + T_BLOB + " WHERE id = ?")) {
                ps.setInt(1, rowId);
                try (ResultSet rs = ps.executeQuery()) {
                    expect(rs.next(), s.name + ": row " + rowId + " not found after insert");
                    r = List.of(rs.getString(1), rs.getString(2));
                }
            }
            expect(r.get(0).equals(Integer.toString(len)) && r.get(1).equals(sum[0]),
                    s.name + ": stored LENGTH/SHA2 " + r + " but sent " + len + " bytes with sha256 " + sum[0]);
            if (readBack != null) {
                // Read the whole value back: a result row larger than 16 MiB
                // comes in several packets (text or binary row protocol).
                byte[] got;
                String sql = "SELECT b FROM " + T_BLOB + " WHERE id = " + rowId;
                if (readBack.equals("binary")) {
                    try (PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
                        expect(rs.next(), s.name + ": no row reading back");
                        got = rs.getBytes(1);
                    }
                } else {
                    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
                        expect(rs.next(), s.name + ": no row reading back");
                        got = rs.getBytes(1);
                    }
                }
                String gs = sha256(got);
                expect(got.length == len && gs.equals(sum[0]), s.name + ": read back (" + readBack + ") "
                        + got.length + " bytes sha256 " + gs + ", expected " + len + " / " + sum[0]);
            }
            expect(q1(c, "SELECT 1").equals("1"), s.name + ": connection unusable after the insert");
            return "len=" + r.get(0) + " sha=" + r.get(1);
        });
    }

    // ---------------------------------------------------------------- 2. cancel / query timeout
    // Directly, both cancel() and setQueryTimeout(1) end the server-prepared
    // SELECT SLEEP(5) with ER_QUERY_INTERRUPTED (1317, SQLSTATE 70100), which
    // Connector/J 2.7.6 raises as SQLTimeoutException (ExceptionFactory maps
    // 70100 to it) -- not with the row 1 that an interrupted SLEEP() can give.

    static String cancelScenario(Side s, boolean timeout, List<Connection> track) throws Exception {
        Connection c = open(s, "useServerPrepStmts=true", track);
        Connection by = open(s, "", track);
        PreparedStatement ps = c.prepareStatement("SELECT SLEEP(5)");
        if (timeout) ps.setQueryTimeout(1);
        // A bystander on another connection must not be hit by the KILL QUERY.
        Future<String> byF = POOL.submit(() -> {
            try (Statement st = by.createStatement(); ResultSet r = st.executeQuery("SELECT SLEEP(2.5)")) {
                r.next();
                return "row=" + r.getString(1);
            } catch (SQLException e) {
                return shape(e);
            }
        });
        Thread.sleep(200);
        long t0 = System.nanoTime();
        Future<String> f = POOL.submit(() -> {
            try (ResultSet r = ps.executeQuery()) {
                return r.next() ? "row=" + r.getString(1) : "no row";
            } catch (SQLException e) {
                return shape(e);
            }
        });
        String cancelErr = "";
        if (!timeout) {
            Thread.sleep(700);
            try {
                ps.cancel();
            } catch (SQLException e) {
                // Connector/J ran "KILL QUERY <id>" on a new connection and
                // got an error back.
                cancelErr = " (Statement.cancel() threw " + describe(e) + ")";
            }
        }
        String out;
        try {
            out = f.get(8, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new Fail(s.name + ": SELECT SLEEP(5) did not return within 8 s" + cancelErr);
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        expect(ms < 2600, s.name + ": statement ended after " + ms + " ms (" + out + "), expected ~1-2 s" + cancelErr);
        expect(cancelErr.isEmpty(), s.name + ":" + cancelErr);
        String b;
        try {
            b = byF.get(6, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new Fail(s.name + ": bystander SELECT SLEEP(2.5) did not return");
        }
        expect(b.equals("row=0"), s.name + ": the bystander connection's SELECT SLEEP(2.5) gave " + b
                + " (its query was interrupted)");
        String one;
        try {
            one = q1(c, "SELECT 1");
        } catch (SQLException e) {
            throw new Fail(s.name + ": connection unusable after " + (timeout ? "the timeout" : "cancel()") + ": "
                    + describe(e) + " (statement outcome " + out + ")");
        }
        expect("1".equals(one), s.name + ": SELECT 1 after cancel gave " + one);
        // A new server-prepared statement on the same connection still works.
        try (PreparedStatement p2 = c.prepareStatement("SELECT SLEEP(0.1), 42"); ResultSet r = p2.executeQuery()) {
            expect(r.next() && r.getInt(2) == 42, s.name + ": prepared statement after cancel failed");
        }
        System.out.println("# " + s.name + " " + (timeout ? "setQueryTimeout(1)" : "cancel()") + ": " + out + " after "
                + ms + " ms");
        return "outcome=" + out;
    }

    // ---------------------------------------------------------------- 3. batches

    static String batchScenario(Side s, String opts, boolean dup, String mode, List<Connection> track)
            throws Exception {
        Connection c = open(s, opts, track);
        exec(c, "TRUNCATE TABLE " + T_BATCH);
        Map<String, Long> before = s.direct ? comStatus(c) : null;
        String res;
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + T_BATCH + " (id, v) VALUES (?, ?)")) {
            for (int i = 0; i < 1000; i++) {
                ps.setInt(1, dup && i == 500 ? 1 : i + 1);
                ps.setString(2, "v" + i);
                ps.addBatch();
            }
            try {
                int[] uc = ps.executeBatch();
                res = "ok counts=" + rle(uc);
            } catch (BatchUpdateException e) {
                res = "BatchUpdateException " + shape(e) + " counts=" + rle(e.getUpdateCounts());
                if (s.direct) System.out.println("# direct " + mode + (dup ? " dup" : "") + ": " + describe(e));
            }
        }
        if (s.direct) {
            Map<String, Long> after = comStatus(c);
            long ex = delta(before, after, "Com_stmt_execute"), pr = delta(before, after, "Com_stmt_prepare"),
                    ins = delta(before, after, "Com_insert");
            String ev = "Com_stmt_execute+" + ex + " Com_stmt_prepare+" + pr + " Com_insert+" + ins;
            System.out.println("# direct " + mode + (dup ? " dup" : "") + ": " + res + "; " + ev);
            switch (mode) {
                case "bulk-server":
                case "bulk-client":
                    // One COM_STMT_BULK_EXECUTE for all rows (Com_stmt_execute
                    // counts commands, not rows).
                    expect(ex >= 1 && ex < 10, "direct: expected COM_STMT_BULK_EXECUTE, got " + ev);
                    break;
                case "multisend-server":
                    expect(ex >= 500, "direct: expected one COM_STMT_EXECUTE per row, got " + ev);
                    break;
                default:
                    expect(ex == 0 && ins >= 500, "direct: expected one COM_QUERY per row, got " + ev);
            }
        }
        List<String> r = row(c, "SELECT COUNT(*), COALESCE(SUM(id), 0), MD5(GROUP_CONCAT(id, v ORDER BY id)) FROM "
                + T_BATCH);
        expect("1".equals(q1(c, "SELECT 1")), s.name + ": connection unusable after the batch");
        String cap = mode.startsWith("bulk") ? " server-advertises-STMT_BULK_OPERATIONS=" + bulkCapability(c) : "";
        return res + " rows=" + r + cap;
    }

    /** Whether the handshake advertised MARIADB_CLIENT_STMT_BULK_OPERATIONS
     *  (1L << 34), read from the driver's protocol object by reflection. */
    static String bulkCapability(Connection c) {
        try {
            Object conn = c.unwrap(org.mariadb.jdbc.MariaDbConnection.class);
            java.lang.reflect.Field pf = org.mariadb.jdbc.MariaDbConnection.class.getDeclaredField("protocol");
            pf.setAccessible(true);
            Object proto = pf.get(conn);
            for (Class<?> k = proto.getClass(); k != null; k = k.getSuperclass()) {
                try {
                    java.lang.reflect.Field f = k.getDeclaredField("serverCapabilities");
                    f.setAccessible(true);
                    return Boolean.toString((f.getLong(proto) & (1L << 34)) != 0);
                } catch (NoSuchFieldException ignored) {
                }
            }
            return "unknown";
        } catch (Exception e) {
            return "unknown(" + e + ")";
        }
    }

    // ---------------------------------------------------------------- main

    public static void main(String[] args) throws Exception {
        USER = env("RM_USER", "rmtest");
        PASS = env("RM_PASSWORD", "rmtest-pw");
        DB = env("RM_DB", "rmtest");
        DIRECT = new Side("direct", env("RM_DIRECT_HOST", "127.0.0.1"),
                Integer.parseInt(env("RM_DIRECT_PORT", "3306")), true);
        if (env("RM_SELFTEST", "").equals("1")) {
            PROXY = new Side("proxy(selftest=direct)", DIRECT.host, DIRECT.port, false);
        } else {
            PROXY = new Side("proxy", env("RM_PROXY_HOST", "127.0.0.1"),
                    Integer.parseInt(env("RM_PROXY_PORT", "6033")), false);
        }
        DriverManager.setLoginTimeout(10);

        boolean setupOk = true;
        try (Connection c = DriverManager.getConnection("jdbc:mariadb://" + DIRECT.host + ":" + DIRECT.port + "/" + DB
                + "?user=" + USER + "&password=" + PASS + "&connectTimeout=5000&socketTimeout=20000")) {
            exec(c, "DROP TABLE IF EXISTS " + T_BLOB);
            exec(c, "DROP TABLE IF EXISTS " + T_BATCH);
            exec(c, "CREATE TABLE " + T_BLOB + " (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB");
            exec(c, "CREATE TABLE " + T_BATCH + " (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB");
        } catch (SQLException e) {
            notOk("java.setup", describe(e));
            setupOk = false;
        }

        if (setupOk) {
            // 0. Handshake: the driver decides features (bulk, reset,
            // server-side timeouts) from the handshake's version string.
            // Short timeouts: a proxy that does not answer fails here once
            // and the other checks are not run.
            check("java.handshake.serverVersion", 15_000, track -> {
                String[] v = new String[2];
                String[] sel = new String[2];
                for (int i = 0; i < 2; i++) {
                    Side s = i == 0 ? DIRECT : PROXY;
                    Connection c;
                    try {
                        c = open(s, "connectTimeout=3000&socketTimeout=5000", track);
                    } catch (SQLException e) {
                        if (!s.direct) proxyDown = "could not connect through the proxy: " + describe(e);
                        throw new Fail(s.name + ": connect failed: " + describe(e));
                    }
                    java.sql.DatabaseMetaData md = c.getMetaData();
                    v[i] = md.getDatabaseProductVersion();
                    sel[i] = q1(c, "SELECT VERSION()");
                    v[i] += " (major " + md.getDatabaseMajorVersion() + ", minor " + md.getDatabaseMinorVersion() + ")";
                }
                // A proxy may append a suffix to the handshake's version
                // string; the driver's view of the version must not change.
                String dv = v[0].substring(0, v[0].indexOf(" (")), pv = v[1].substring(0, v[1].indexOf(" ("));
                expect(pv.startsWith(dv) && v[0].substring(dv.length()).equals(v[1].substring(pv.length())),
                        "handshake version: direct {" + v[0] + "} but proxy {" + v[1] + "}");
                expect(sel[0].equals(sel[1]), "SELECT VERSION(): direct " + sel[0] + " but proxy " + sel[1]);
                if (!pv.equals(dv)) System.out.println("# proxy handshake version " + pv + " (direct " + dv + ")");
            });

            // 1. Large parameters through COM_STMT_SEND_LONG_DATA.
            largeParam("java.longdata.setBytes.17MiB", 17825792, false, 1, "text");
            largeParam("java.longdata.setBinaryStream.16MiB-1", 16 * 1048576 - 1, true, 2, null);
            largeParam("java.longdata.setBinaryStream.16MiB", 16 * 1048576, true, 3, null);
            largeParam("java.longdata.setBinaryStream.32MiB+1", 32 * 1048576 + 1, true, 4, "binary");
            largeParam("java.longdata.setBinaryStream.64MiB-1", 64 * 1048576 - 1, true, 5, null);

            // 2. cancel() / setQueryTimeout() on a server-prepared SELECT SLEEP(5).
            compare("java.cancel.serverPrepared.sleep", 30_000, (s, t) -> cancelScenario(s, false, t));
            compare("java.queryTimeout.serverPrepared.sleep", 30_000, (s, t) -> cancelScenario(s, true, t));

            // 3. Batches, with a duplicate key at row 500 and without.
            String[][] modes = {
                    {"bulk-server", "useServerPrepStmts=true&useBulkStmts=true"},
                    {"bulk-client", "useServerPrepStmts=false&useBulkStmts=true"},
                    {"multisend-server", "useServerPrepStmts=true&useBulkStmts=false&useBatchMultiSend=true"},
                    {"multisend-text", "useServerPrepStmts=false&useBulkStmts=false&useBatchMultiSend=true"},
            };
            for (String[] m : modes) {
                for (boolean dup : new boolean[] {true, false}) {
                    compare("java.batch." + m[0] + (dup ? ".duplicateKeyAtRow500" : ".noError"), 30_000,
                            (s, t) -> batchScenario(s, m[1], dup, m[0], t));
                }
            }

            // 4. CONNECTION_ID() equals the id the driver would KILL.
            for (String opts : new String[] {"", "useServerPrepStmts=true"}) {
                String nm = "java.connectionId.equalsServerThreadId" + (opts.isEmpty() ? ".text" : ".serverPrepared");
                check(nm, 20_000, track -> {
                    for (Side s : new Side[] {DIRECT, PROXY}) {
                        Connection c = open(s, opts, track);
                        Connection other = open(s, "", track);
                        long tid = c.unwrap(org.mariadb.jdbc.MariaDbConnection.class).getServerThreadId();
                        for (int i = 0; i < 5; i++) {
                            String id;
                            try (PreparedStatement ps = c.prepareStatement("SELECT CONNECTION_ID()");
                                    ResultSet r = ps.executeQuery()) {
                                r.next();
                                id = r.getString(1);
                            }
                            expect(id.equals(Long.toString(tid)), s.name + ": SELECT CONNECTION_ID() = " + id
                                    + " (try " + i + ") but getServerThreadId() = " + tid);
                            // Traffic from another client between the two.
                            q1(other, "SELECT CONNECTION_ID()");
                        }
                    }
                });
            }

            // 5. COM_RESET_CONNECTION via MariaDbConnection.reset().
            compare("java.resetConnection.sessionState", 20_000, (s, track) -> {
                Connection c = open(s, "useResetConnection=true", track);
                String global = q1(c, "SELECT @@GLOBAL.sql_mode");
                exec(c, "SET sql_mode='ANSI'");
                exec(c, "SET NAMES utf8mb4 COLLATE utf8mb4_bin");
                exec(c, "SET @rm_reset_probe = 42");
                String q = "SELECT @@sql_mode, @@collation_connection, @@character_set_client, "
                        + "@@character_set_results, @@autocommit, @rm_reset_probe";
                List<String> pre = row(c, q);
                expect(pre.get(1).equals("utf8mb4_bin"), s.name + ": SET NAMES not applied: " + pre);
                try {
                    c.unwrap(org.mariadb.jdbc.MariaDbConnection.class).reset();
                } catch (SQLException e) {
                    throw new Fail(s.name + ": reset() failed: " + describe(e));
                }
                List<String> post = row(c, q);
                if (s.direct) {
                    expect(post.get(0).equals(global) && post.get(5) == null && !post.get(1).equals("utf8mb4_bin"),
                            "direct: reset() did not reset the session (COM_RESET_CONNECTION not sent?): " + post);
                }
                return "before=" + pre + " after=" + post;
            });
        }

        try (Connection c = DriverManager.getConnection("jdbc:mariadb://" + DIRECT.host + ":" + DIRECT.port + "/" + DB
                + "?user=" + USER + "&password=" + PASS + "&connectTimeout=5000&socketTimeout=20000")) {
            exec(c, "DROP TABLE IF EXISTS " + T_BLOB);
            exec(c, "DROP TABLE IF EXISTS " + T_BATCH);
        } catch (SQLException e) {
            System.out.println("# cleanup failed: " + describe(e));
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed > 0 ? 1 : 0);
    }
}
