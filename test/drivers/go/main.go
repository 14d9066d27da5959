// Driver test for ringmux with go-sql-driver/mysql 1.5.0 (Debian
// golang-github-go-sql-driver-mysql-dev) and database/sql, built in GOPATH
// mode by test/drivers/run.sh.
//
// Every check runs one scenario against MariaDB directly (RM_DIRECT_*) and
// through ringmux (RM_PROXY_*), asserts what the direct run must show, and
// compares the two.  RM_SELFTEST=1 points the "proxy" side at MariaDB too,
// so every check must pass that way.  Output: "ok - NAME" / "not ok - NAME:
// why" per check, then "N passed, N failed"; exit status 1 on a failure.
//
// Driver code paths this relies on (go-sql-driver/mysql 1.5.0 sources in
// /usr/share/gocode/src/github.com/go-sql-driver/mysql):
//   - packets.go writeExecutePacket(): a []byte or string argument of at
//     least longDataSize = maxAllowedPacket / (paramCount + 1) bytes is sent
//     with writeCommandLongData() as COM_STMT_SEND_LONG_DATA commands of at
//     most maxAllowedPacket - 1 bytes each (writePacket() splits a command
//     into 16 MiB - 1 packets); smaller values go inline in COM_STMT_EXECUTE.
//     maxAllowedPacket comes from the DSN (default 4 MiB, const.go
//     defaultMaxAllowedPacket) or, with maxAllowedPacket=0, from
//     "SELECT @@max_allowed_packet" at connect minus 1 (connector.go).  So
//     with the server's 256M both sizes go inline (one multi-packet
//     COM_STMT_EXECUTE), with 4 MiB they go as many single-packet long-data
//     commands, and with 32 MiB as long-data commands of two or three
//     packets.  The direct run confirms the path with the session counter
//     Com_stmt_send_long_data.
//   - writeExecutePacket() always sets new-params-bound-flag = 1 and sends
//     the types of the current arguments (int64 -> LONGLONG, string/[]byte
//     -> STRING, float64 -> DOUBLE, nil -> NULL, bool -> TINY).
//   - connection.go: on context cancellation the watcher calls
//     mc.cancel() -> cleanup(), which closes the socket; no KILL is sent.
//   - database/sql checks the argument count (NumInput) before the driver,
//     so a wrong parameter count never reaches the wire; not tested.
package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

type side struct {
	name   string
	addr   string
	direct bool
}

var (
	user, pass, dbName string
	direct, proxy      side
	start              = time.Now()
	budget             = 85 * time.Second
	passed, failed     int
	outMu              sync.Mutex
	proxyDown          string   // set when the proxy could not be reached at start
	slowGroups         sync.Map // group -> reason: a check of it failed slowly (a hang)
	pfx                = fmt.Sprintf("drv_go_%d", os.Getpid())
	tBlob              = pfx + "_blob"
	tTx                = pfx + "_tx"
	tKV                = pfx + "_kv"
)

func env(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func okLine(name string) {
	outMu.Lock()
	defer outMu.Unlock()
	passed++
	fmt.Printf("ok - %s\n", name)
}

func notOk(name, why string) {
	outMu.Lock()
	defer outMu.Unlock()
	failed++
	fmt.Printf("not ok - %s: %s\n", name, strings.ReplaceAll(why, "\n", " "))
}

func note(format string, a ...interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf("# "+format+"\n", a...)
}

// check runs fn on its own goroutine, bounded by timeout: a hang prints
// "not ok" and the program goes on (the goroutine is abandoned; every socket
// operation has readTimeout/writeTimeout too).
func check(name string, timeout time.Duration, fn func() error) {
	checkGroup(name, "", timeout, fn)
}

// checkGroup: when a check of the group fails after more than 10 s (a
// hang), the rest of the group is not run, to leave time for other checks.
func checkGroup(name, group string, timeout time.Duration, fn func() error) {
	if proxyDown != "" {
		notOk(name, "not run: "+proxyDown)
		return
	}
	if r, ok := slowGroups.Load(group); ok && group != "" {
		notOk(name, "not run: "+r.(string))
		return
	}
	t0 := time.Now()
	markSlow := func() {
		if took := time.Since(t0); group != "" && took > 10*time.Second {
			slowGroups.Store(group, fmt.Sprintf("an earlier check of this group, %s, failed after %v", name, took.Round(time.Millisecond)))
		}
	}
	left := budget - time.Since(start)
	if left < 2*time.Second {
		notOk(name, "not run: the program's time budget is used up")
		return
	}
	if timeout > left {
		timeout = left
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		done <- fn()
	}()
	select {
	case err := <-done:
		if err != nil {
			notOk(name, err.Error())
			markSlow()
		} else {
			okLine(name)
		}
	case <-time.After(timeout):
		notOk(name, fmt.Sprintf("timed out after %v", timeout))
		markSlow()
	}
}

// compare runs the scenario direct then through the proxy; both must
// succeed and give the same result string.
func compare(name string, timeout time.Duration, sc func(s side) (string, error)) {
	compareGroup(name, "", timeout, sc)
}

func compareGroup(name, group string, timeout time.Duration, sc func(s side) (string, error)) {
	checkGroup(name, group, timeout, func() error {
		d, err := sc(direct)
		if err != nil {
			return fmt.Errorf("%s: %v", direct.name, err)
		}
		p, err := sc(proxy)
		if err != nil {
			return fmt.Errorf("%s: %v", proxy.name, err)
		}
		if d != p {
			return fmt.Errorf("direct {%s} but proxy {%s}", d, p)
		}
		return nil
	})
}

// withConn opens side s's database (extra DSN params), takes one *sql.Conn
// and runs fn with a deadline of timeout; both are closed afterwards.
func withConn(s side, params string, timeout time.Duration,
	fn func(ctx context.Context, db *sql.DB, c *sql.Conn) (string, error)) (string, error) {
	return withDB(s, params, timeout, func(ctx context.Context, db *sql.DB) (string, error) {
		c, err := db.Conn(ctx)
		if err != nil {
			return "", err
		}
		defer c.Close()
		return fn(ctx, db, c)
	})
}

// withDB runs fn with a pool for side s and a context that ends after
// timeout; both are closed afterwards.
func withDB(s side, params string, timeout time.Duration,
	fn func(ctx context.Context, db *sql.DB) (string, error)) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	db, err := openDB(s, params)
	if err != nil {
		return "", err
	}
	defer db.Close()
	return fn(ctx, db)
}

func openDB(s side, params string) (*sql.DB, error) {
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/%s?timeout=5s&readTimeout=20s&writeTimeout=20s", user, pass, s.addr, dbName)
	if params != "" {
		dsn += "&" + params
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	db.SetConnMaxLifetime(time.Minute)
	return db, nil
}

func errShape(err error) string {
	if err == nil {
		return "nil"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprintf("MySQLError %d", me.Number)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "context.DeadlineExceeded"
	}
	if errors.Is(err, context.Canceled) {
		return "context.Canceled"
	}
	if errors.Is(err, mysql.ErrInvalidConn) {
		return "mysql.ErrInvalidConn"
	}
	if errors.Is(err, sql.ErrTxDone) {
		return "sql.ErrTxDone"
	}
	return "other(" + err.Error() + ")"
}

func sessionCounter(ctx context.Context, c *sql.Conn, name string) (int64, error) {
	var k string
	var v int64
	err := c.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE '"+name+"'").Scan(&k, &v)
	return v, err
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ------------------------------------------------------------------ 1. large args

func largeArg(variant, params string, wantLongData bool, size, id int, readBack bool) {
	payload := make([]byte, size)
	rand.New(rand.NewSource(int64(1000 + id))).Read(payload)
	sum := sha(payload)
	name := fmt.Sprintf("go.largeArg.%s.%s", variant, sizeName(size))
	compareGroup(name, "large", 30*time.Second, func(s side) (string, error) {
		return withConn(s, params+"&readTimeout=12s&writeTimeout=12s", 14*time.Second, func(ctx context.Context, db *sql.DB, c *sql.Conn) (string, error) {
			var err error
			rowID := id
			if !s.direct {
				rowID += 100
			}
			if _, err := c.ExecContext(ctx, "DELETE FROM "+tBlob+" WHERE id = ?", rowID); err != nil {
				return "", err
			}
			var before int64
			if s.direct {
				if before, err = sessionCounter(ctx, c, "Com_stmt_send_long_data"); err != nil {
					return "", err
				}
			}
			res, err := c.ExecContext(ctx, "INSERT INTO "+tBlob+" (id, b) VALUES (?, ?)", rowID, payload)
			if err != nil {
				return "", fmt.Errorf("insert of %d bytes: %v", size, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return "", fmt.Errorf("RowsAffected %d", n)
			}
			if s.direct {
				after, err := sessionCounter(ctx, c, "Com_stmt_send_long_data")
				if err != nil {
					return "", err
				}
				if got := after - before; (got > 0) != wantLongData {
					return "", fmt.Errorf("driver path not as expected: Com_stmt_send_long_data went up by %d, want long data = %v", got, wantLongData)
				}
			}
			var l int
			var h string
			if err := c.QueryRowContext(ctx, "SELECT LENGTH(b), SHA2(b, 256) FROM "+tBlob+" WHERE id = ?", rowID).Scan(&l, &h); err != nil {
				return "", fmt.Errorf("read back: %v", err)
			}
			if l != size || h != sum {
				return "", fmt.Errorf("stored LENGTH %d SHA2 %s but sent %d bytes with sha256 %s", l, h, size, sum)
			}
			if readBack {
				// The whole value back in a binary-protocol row of more than 16 MiB.
				var got []byte
				if err := c.QueryRowContext(ctx, "SELECT b FROM "+tBlob+" WHERE id = ?", rowID).Scan(&got); err != nil {
					return "", fmt.Errorf("read back value: %v", err)
				}
				if len(got) != size || sha(got) != sum {
					return "", fmt.Errorf("value read back: %d bytes sha256 %s, want %d / %s", len(got), sha(got), size, sum)
				}
			}
			var one int
			if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				return "", fmt.Errorf("connection unusable after the insert: %v", err)
			}
			return fmt.Sprintf("len=%d sha=%s", l, h), nil
		})
	})
}

func sizeName(n int) string {
	const mib = 1 << 20
	switch {
	case n%mib == 0:
		return fmt.Sprintf("%dMiB", n/mib)
	case n%mib == 1:
		return fmt.Sprintf("%dMiB+1", n/mib)
	case n%mib == mib-1:
		return fmt.Sprintf("%dMiB-1", n/mib+1)
	}
	return strconv.Itoa(n)
}

// ------------------------------------------------------------------ 2. type change

func typeChange(s side) (string, error) {
	return withConn(s, "", 20*time.Second, func(ctx context.Context, db *sql.DB, c *sql.Conn) (string, error) {
		var err error
		st, err := c.PrepareContext(ctx, "SELECT ? AS v, CONCAT('<', ?, '>') AS s, ? + 1 AS n, ? IS NULL AS isnull")
		if err != nil {
			return "", err
		}
		defer st.Close()
		vals := []interface{}{
			int64(7), "7", "seven", 2.5, nil, []byte("xy\x00z"), true, int64(-9000000000000), "12", int64(12),
			uint64(18446744073709551615), "", float64(-0.125), int64(7),
		}
		var out []string
		for i, v := range vals {
			rows, err := st.QueryContext(ctx, v, v, v, v)
			if err != nil {
				out = append(out, fmt.Sprintf("%d:%T:err=%s", i, v, errShape(err)))
				continue
			}
			cts, _ := rows.ColumnTypes()
			var types []string
			for _, ct := range cts {
				types = append(types, ct.DatabaseTypeName())
			}
			for rows.Next() {
				cols := make([]sql.RawBytes, 4)
				ptrs := make([]interface{}, 4)
				for j := range cols {
					ptrs[j] = &cols[j]
				}
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return "", err
				}
				var vs []string
				for _, cv := range cols {
					if cv == nil {
						vs = append(vs, "NULL")
					} else {
						vs = append(vs, strconv.Quote(string(cv)))
					}
				}
				out = append(out, fmt.Sprintf("%d:%T:%v:%s", i, v, types, strings.Join(vs, ",")))
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				out = append(out, fmt.Sprintf("%d:%T:rowserr=%s", i, v, errShape(err)))
			}
		}
		if s.direct {
			// Spot-check the direct answers so the comparison means something.
			want0 := `0:int64:[BIGINT VARCHAR BIGINT INT]:"7","<7>","8","0"`
			if out[0] != want0 {
				return "", fmt.Errorf("direct: first execution gave %s, want %s", out[0], want0)
			}
		}
		return strings.Join(out, " | "), nil
	})
}

// ------------------------------------------------------------------ 3. kill / cancel

func killQuery(s side) (string, error) {
	return withConn(s, "", 25*time.Second, func(ctx context.Context, db *sql.DB, c *sql.Conn) (string, error) {
		var err error
		var id int64
		if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			return "", err
		}
		type result struct {
			v   string
			err error
			at  time.Time
		}
		ch := make(chan result, 1)
		go func() {
			var v sql.NullString
			qctx, qcancel := context.WithTimeout(ctx, 12*time.Second)
			defer qcancel()
			err := c.QueryRowContext(qctx, "SELECT SLEEP(10)").Scan(&v)
			ch <- result{v.String, err, time.Now()}
		}()
		time.Sleep(500 * time.Millisecond)
		killer, err := db.Conn(ctx)
		if err != nil {
			return "", err
		}
		defer killer.Close()
		killedAt := time.Now()
		_, kerr := killer.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id))
		var r result
		select {
		case r = <-ch:
		case <-time.After(12 * time.Second):
			return "", fmt.Errorf("SELECT SLEEP(10) did not return (KILL QUERY gave %v)", kerr)
		}
		took := r.at.Sub(killedAt)
		outcome := fmt.Sprintf("killer=%s victim=%s row=%q", errShape(kerr), errShape(r.err), r.v)
		note("%s KILL QUERY: %s after %v (killer error: %v)", s.name, outcome, took.Round(time.Millisecond), kerr)
		if took > 2*time.Second {
			return "", fmt.Errorf("SELECT SLEEP(10) ended %v after KILL QUERY %d (%s; killer error: %v)", took.Round(time.Millisecond), id, outcome, kerr)
		}
		var one int
		if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			return "", fmt.Errorf("killed connection unusable afterwards: %v (%s)", err, outcome)
		}
		var id2 int64
		if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id2); err != nil {
			return "", err
		}
		if id2 != id {
			return "", fmt.Errorf("CONNECTION_ID() changed on the same *sql.Conn: %d then %d", id, id2)
		}
		return outcome, nil
	})
}

func ctxTimeout(s side, prepared bool) (string, error) {
	return withDB(s, "", 20*time.Second, func(ctx context.Context, db *sql.DB) (string, error) {
		db.SetMaxOpenConns(2)
		if err := db.PingContext(ctx); err != nil {
			return "", err
		}
		qctx, qcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		t0 := time.Now()
		var rows *sql.Rows
		var err error
		if prepared {
			rows, err = db.QueryContext(qctx, "SELECT SLEEP(?)", 5)
		} else {
			rows, err = db.QueryContext(qctx, "SELECT SLEEP(5)")
		}
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		took := time.Since(t0)
		qcancel()
		outcome := errShape(err)
		if took > 1500*time.Millisecond {
			return "", fmt.Errorf("QueryContext with a 500 ms deadline returned after %v (%s)", took.Round(time.Millisecond), outcome)
		}
		for i := 0; i < 4; i++ {
			var one int
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				return "", fmt.Errorf("pool unusable after the timeout (try %d): %v", i, err)
			}
		}
		return "outcome=" + outcome, nil
	})
}

// ------------------------------------------------------------------ 4. transactions

func txRollback(s side) (string, error) {
	return withDB(s, "", 20*time.Second, func(ctx context.Context, db *sql.DB) (string, error) {
		var out []string
		if _, err := db.ExecContext(ctx, "DELETE FROM "+tTx); err != nil {
			return "", err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return "", err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+tTx+" (id) VALUES (?)", 1); err != nil {
			return "", err
		}
		out = append(out, "rollback1="+errShape(tx.Rollback()))
		out = append(out, "rollback2="+errShape(tx.Rollback()))
		for _, q := range []string{"ROLLBACK", "ROLLBACK", "COMMIT"} {
			res, err := db.ExecContext(ctx, q)
			if err != nil {
				out = append(out, q+"="+errShape(err))
				continue
			}
			n, _ := res.RowsAffected()
			out = append(out, fmt.Sprintf("%s=ok,affected=%d", q, n))
		}
		// The same on one *sql.Conn: text BEGIN / INSERT / ROLLBACK, then
		// ROLLBACK with nothing open.
		c, err := db.Conn(ctx)
		if err != nil {
			return "", err
		}
		defer c.Close()
		for _, q := range []string{"BEGIN", "INSERT INTO " + tTx + " (id) VALUES (2)", "ROLLBACK", "ROLLBACK"} {
			res, err := c.ExecContext(ctx, q)
			if err != nil {
				out = append(out, "conn:"+q+"="+errShape(err))
				continue
			}
			n, _ := res.RowsAffected()
			out = append(out, fmt.Sprintf("conn:%s=affected=%d", q, n))
		}
		var cnt int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+tTx).Scan(&cnt); err != nil {
			return "", err
		}
		out = append(out, fmt.Sprintf("rows=%d", cnt))
		res := strings.Join(out, " ")
		if s.direct {
			want := "rollback1=nil rollback2=sql.ErrTxDone ROLLBACK=ok,affected=0 ROLLBACK=ok,affected=0 COMMIT=ok,affected=0 " +
				"conn:BEGIN=affected=0 conn:INSERT INTO " + tTx + " (id) VALUES (2)=affected=1 conn:ROLLBACK=affected=0 conn:ROLLBACK=affected=0 rows=0"
			if res != want {
				return "", fmt.Errorf("direct gave {%s}, want {%s}", res, want)
			}
		}
		return res, nil
	})
}

// ------------------------------------------------------------------ 5. concurrency

func concurrent(s side) (string, error) {
	return withDB(s, "", 40*time.Second, func(ctx context.Context, db *sql.DB) (string, error) {
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		shared, err := db.PrepareContext(ctx, "SELECT k, v FROM "+tKV+" WHERE k = ?")
		if err != nil {
			return "", err
		}
		defer shared.Close()
		const G, N = 50, 40
		results := make([][]string, G)
		errs := make(chan error, G)
		var wg sync.WaitGroup
		for g := 0; g < G; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < N; i++ {
					var got, want string
					var err error
					switch (g + i) % 4 {
					case 0: // prepared via db.QueryRow with args (prepare/execute/close)
						var a int64
						var b string
						err = db.QueryRowContext(ctx, "SELECT ? + ?, CONCAT(?, '-', ?)", g, i, "g"+strconv.Itoa(g), i).Scan(&a, &b)
						got = fmt.Sprintf("%d|%s", a, b)
						want = fmt.Sprintf("%d|g%d-%d", g+i, g, i)
					case 1: // text
						var a int64
						var b string
						err = db.QueryRowContext(ctx, fmt.Sprintf("SELECT %d * 1000 + %d, REPEAT('x', %d)", g, i, i)).Scan(&a, &b)
						got = fmt.Sprintf("%d|%d", a, len(b))
						want = fmt.Sprintf("%d|%d", g*1000+i, i)
					case 2: // shared *sql.Stmt, re-prepared per connection by database/sql
						var k int
						var v string
						key := (g*N + i) % 100
						err = shared.QueryRowContext(ctx, key).Scan(&k, &v)
						got = fmt.Sprintf("%d|%s", k, v)
						want = fmt.Sprintf("%d|val-%d", key, key)
					case 3: // text against the table
						var cnt, sum int64
						lim := (g + i) % 100
						err = db.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*), COALESCE(SUM(k), 0) FROM %s WHERE k < %d", tKV, lim)).Scan(&cnt, &sum)
						got = fmt.Sprintf("%d|%d", cnt, sum)
						want = fmt.Sprintf("%d|%d", lim, lim*(lim-1)/2)
					}
					if err != nil {
						errs <- fmt.Errorf("goroutine %d query %d: %v", g, i, err)
						return
					}
					if got != want {
						errs <- fmt.Errorf("goroutine %d query %d: got %s want %s", g, i, got, want)
						return
					}
					results[g] = append(results[g], got)
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		var msgs []string
		for e := range errs {
			msgs = append(msgs, e.Error())
		}
		if len(msgs) > 0 {
			sort.Strings(msgs)
			more := ""
			if len(msgs) > 3 {
				more = fmt.Sprintf(" (+%d more)", len(msgs)-3)
				msgs = msgs[:3]
			}
			return "", fmt.Errorf("%s%s", strings.Join(msgs, "; "), more)
		}
		var all []string
		for g := range results {
			all = append(all, results[g]...)
		}
		sort.Strings(all)
		return fmt.Sprintf("n=%d sha=%s", len(all), sha([]byte(strings.Join(all, "\n")))), nil
	})
}

// ------------------------------------------------------------------ main

func main() {
	user = env("RM_USER", "rmtest")
	pass = env("RM_PASSWORD", "rmtest-pw")
	dbName = env("RM_DB", "rmtest")
	direct = side{"direct", env("RM_DIRECT_HOST", "127.0.0.1") + ":" + env("RM_DIRECT_PORT", "3306"), true}
	if env("RM_SELFTEST", "") == "1" {
		proxy = side{"proxy(selftest=direct)", direct.addr, false}
	} else {
		proxy = side{"proxy", env("RM_PROXY_HOST", "127.0.0.1") + ":" + env("RM_PROXY_PORT", "6033"), false}
	}
	mysql.SetLogger(nopLogger{})

	setup := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		db, err := openDB(direct, "")
		if err != nil {
			return err
		}
		defer db.Close()
		for _, q := range []string{
			"DROP TABLE IF EXISTS " + tBlob, "DROP TABLE IF EXISTS " + tTx, "DROP TABLE IF EXISTS " + tKV,
			"CREATE TABLE " + tBlob + " (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB",
			"CREATE TABLE " + tTx + " (id INT PRIMARY KEY) ENGINE=InnoDB",
			"CREATE TABLE " + tKV + " (k INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		var vals []string
		for k := 0; k < 100; k++ {
			vals = append(vals, fmt.Sprintf("(%d, 'val-%d')", k, k))
		}
		_, err = db.ExecContext(ctx, "INSERT INTO "+tKV+" VALUES "+strings.Join(vals, ","))
		return err
	}
	if err := setup(); err != nil {
		notOk("go.setup", err.Error())
	} else {
		const mib = 1 << 20
		// 0. Reachability with short timeouts: a proxy that does not answer
		// fails here once and the other checks are not run.
		check("go.handshake.serverVersion", 15*time.Second, func() error {
			var v [2]string
			for i, s := range []side{direct, proxy} {
				db, err := openDB(s, "timeout=3s&readTimeout=5s&writeTimeout=5s")
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
				err = db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v[i])
				cancel()
				db.Close()
				if err != nil {
					if !s.direct {
						proxyDown = "could not query through the proxy at start: " + err.Error()
					}
					return fmt.Errorf("%s: %v", s.name, err)
				}
			}
			if v[0] != v[1] {
				return fmt.Errorf("direct VERSION() %q but proxy %q", v[0], v[1])
			}
			return nil
		})
		// 1. Large []byte arguments.
		for vi, v := range []struct {
			name, params string
			longData     bool
		}{
			{"inlineExecute(maxAllowedPacket=0)", "maxAllowedPacket=0", false},
			{"longData4MiBChunks(maxAllowedPacket=4MiB)", "maxAllowedPacket=4194304", true},
			{"longDataMultiPacket(maxAllowedPacket=32MiB)", "maxAllowedPacket=33554432", true},
		} {
			largeArg(v.name, v.params, v.longData, 17*mib, 10*vi+1, false)
			// Inline variant: also read the whole 32 MiB + 1 value back.
			largeArg(v.name, v.params, v.longData, 32*mib+1, 10*vi+2, !v.longData)
		}
		// 2. Parameter type changes between executions of one statement.
		compare("go.prepared.paramTypeChange", 30*time.Second, typeChange)
		// 3. KILL QUERY and context cancellation.
		compare("go.killQuery.sleep", 30*time.Second, killQuery)
		compare("go.contextTimeout.text.sleep", 20*time.Second, func(s side) (string, error) { return ctxTimeout(s, false) })
		compare("go.contextTimeout.prepared.sleep", 20*time.Second, func(s side) (string, error) { return ctxTimeout(s, true) })
		// 4. Transactions.
		compare("go.tx.rollbackTwiceAndNothingOpen", 20*time.Second, txRollback)
		// 5. 50 goroutines x 40 queries on one *sql.DB.
		compare("go.concurrent.50x40.maxOpen20", 60*time.Second, concurrent)
	}

	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db, err := openDB(direct, "")
		if err != nil {
			return
		}
		defer db.Close()
		for _, t := range []string{tBlob, tTx, tKV} {
			if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				note("cleanup: %v", err)
			}
		}
	}()
	outMu.Lock()
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	outMu.Unlock()
	if failed > 0 {
		os.Exit(1)
	}
	os.Exit(0)
}

type nopLogger struct{}

func (nopLogger) Print(v ...interface{}) {}
