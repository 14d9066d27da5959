'use strict';
// ringmux driver test: the `mysql2` package (3.x), promise API, default options.
//
//   node test/drivers/node/mysql2.test.js         (env from test/drivers/run.sh)
//   RM_SELFTEST=1 ...                               both sides are MariaDB itself
//
// Every check runs the same scenario on a direct MariaDB connection and on a
// ringmux connection and compares, and/or asserts the direct behaviour.
//
// Connector code paths used (mysql2 3.24.x, node_modules/mysql2/lib):
//  - conn.execute(sql, values) (base/connection.js execute()) queues a
//    COM_STMT_PREPARE and, after its response, a COM_STMT_EXECUTE; the
//    statement is cached per connection by SQL text.  mysql2 never uses
//    COM_STMT_SEND_LONG_DATA nor MariaDB capability bits: packets/execute.js
//    toPacket() puts every value inline, and writePacket() splits a payload
//    >= 0xFFFFFF into 16 MiB - 1 chunks, so a big Buffer makes one
//    multi-packet COM_STMT_EXECUTE.
//  - toPacket() sizes the parameter block from values.length, not from the
//    statement's parameter count, and execute() does not compare the two:
//    too few values reach the server (1210 for 1 of 2; 0 values gives a
//    packet without a null bitmap, answered with 1835 by MariaDB 10.11).
//  - conn.query(sql, [Buffer]) escapes the Buffer client-side as X'hex', so a
//    17 MiB Buffer makes a 34 MiB multi-packet COM_QUERY.

const crypto = require('crypto');
const mysql = require('mysql2/promise');
const C = require('./common.js');
const { MiB, PREFIX, check, bothSides, assert, assertSame, show, same, sha256, outcome, withTimeout } = C;

function tbl(side, name) {
  return `${PREFIX}${side}_${name}`;
}

async function connect(ctx, server, user = C.USER1) {
  const conn = await mysql.createConnection({
    host: server.host,
    port: server.port,
    user: user.user,
    password: user.password,
    database: user.database,
    connectTimeout: 3000,
  });
  conn.on('error', () => {});
  if (ctx) {
    ctx.defer(async () => {
      try {
        await withTimeout(conn.end(), 2000);
      } catch (_) {
        conn.destroy();
      }
    });
  }
  return conn;
}

// rows only: field metadata names per-side tables
const q = (conn, sql, values) => conn.query(sql, values).then((r) => r[0]);
const x = (conn, sql, values) => conn.execute(sql, values).then((r) => r[0]);

// ------------------------------------------------------------------ setup

let admin;

async function setup() {
  admin = await connect(null, C.DIRECT);
  for (const [side] of C.SIDES) {
    await q(admin, `CREATE TABLE ${tbl(side, 'blob')} (id INT PRIMARY KEY, b LONGBLOB)`);
    await q(admin, `CREATE TABLE ${tbl(side, 'warn')} (id INT PRIMARY KEY, v VARCHAR(2))`);
    await q(admin, `CREATE TABLE ${tbl(side, 'pool')} (id INT PRIMARY KEY, v VARCHAR(32))`);
    const vals = [];
    for (let i = 1; i <= 20; i++) vals.push(`(${i}, 'row-${i}')`);
    await q(admin, `INSERT INTO ${tbl(side, 'pool')} VALUES ${vals.join(',')}`);
  }
}

async function dropTables() {
  if (admin) {
    const a = admin;
    admin = null;
    await withTimeout(a.end(), 2000).catch(() => a.destroy());
  }
  const conn = await connect(null, C.DIRECT);
  try {
    const like = PREFIX.replace(/_/g, '\\_') + '%';
    const rows = await q(conn, 'SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?', [
      C.USER1.database,
      like,
    ]);
    for (const r of rows) await q(conn, `DROP TABLE IF EXISTS \`${r.t}\``);
  } finally {
    await conn.end();
  }
}

// ------------------------------------------------- 1. large parameters

async function largeParams() {
  const cases = [
    ['execute (one multi-packet COM_STMT_EXECUTE)', '16MiB-1', 16 * MiB - 1, 'x'],
    ['execute (one multi-packet COM_STMT_EXECUTE)', '16MiB', 16 * MiB, 'x'],
    ['execute (one multi-packet COM_STMT_EXECUTE)', '32MiB+1', 32 * MiB + 1, 'x'],
    ['query (text, X\'hex\' escaped: 34 MiB COM_QUERY)', '17MiB', 17 * MiB, 'q'],
  ];
  let id = 0;
  for (const [how, label, n, kind] of cases) {
    const buf = crypto.randomBytes(n);
    const want = { len: n, h: sha256(buf) };
    const myId = ++id;
    await check(`large param: ${how}, ${label} Buffer into LONGBLOB byte-exact`, 15000, async (ctx) => {
      const r = await bothSides(ctx, async (side, server) => {
        const conn = await connect(ctx, server);
        const t = tbl(side, 'blob');
        const sql = `INSERT INTO ${t} (id, b) VALUES (?, ?)`;
        const res = kind === 'x' ? await x(conn, sql, [myId, buf]) : await q(conn, sql, [myId, buf]);
        assert(res && res.affectedRows === 1, `insert returned ${show(res)}`);
        return C.storedDigest((sql, params) => q(conn, sql, params), t, 'b', myId);
      });
      C.assertBoth(r, want);
    });
  }
}

// ------------------------------------------------ 2. wrong parameter count

async function wrongParamCount() {
  // mysql2 does not refuse a short value list client-side (see top comment).
  await check('wrong parameter count: execute SELECT ?, ? with 1 value -> same error as direct (1210), connection usable', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      const e = await outcome(x(conn, 'SELECT ?, ?', [1]));
      const after = await outcome(q(conn, 'SELECT 1 AS x'));
      const after2 = await outcome(x(conn, 'SELECT ? AS y', [2]));
      const again = await outcome(x(conn, 'SELECT ?, ?', [3, 4]));
      return { e, after, after2, again };
    });
    assert(r.direct.e && r.direct.e.errno === 1210, `direct: ${show(r.direct)}`);
    assertSame(r);
  });

  await check('wrong parameter count: execute SELECT ? with no values -> same error as direct, connection usable', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      const e = await outcome(x(conn, 'SELECT ? AS v', []));
      const after = await outcome(q(conn, 'SELECT 1 AS x'));
      const again = await outcome(x(conn, 'SELECT ? AS v', [5]));
      return { e, after, again };
    });
    assert(r.direct.e && (r.direct.e.errno === 1210 || r.direct.e.errno === 1835), `direct: ${show(r.direct)}`);
    assertSame(r);
  });
}

// ------------------------------------------------------- 4. ROLLBACK OK

function header(h) {
  if (!h || typeof h !== 'object') return h;
  return {
    affectedRows: h.affectedRows,
    warningStatus: h.warningStatus,
    serverStatus: h.serverStatus,
    insertId: h.insertId,
    info: h.info,
    changedRows: h.changedRows,
  };
}

async function rollback() {
  await check('ROLLBACK/COMMIT with no transaction open: same OK fields (affectedRows, warningStatus, serverStatus) as direct', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      const out = {};
      out.first = header(await q(conn, 'ROLLBACK'));
      await q(conn, 'SELECT 1');
      out.again = header(await q(conn, 'ROLLBACK'));
      out.commit = header(await q(conn, 'COMMIT'));
      await q(conn, 'START TRANSACTION');
      out.inTrx = header(await q(conn, 'ROLLBACK'));
      return out;
    });
    assert(r.direct.first && r.direct.first.affectedRows === 0, `direct: ${show(r.direct)}`);
    assertSame(r);
  });
}

// --------------------------------------------------------- 5. warnings

async function warnings() {
  const expect = [{ Level: 'Warning', Code: 1265, Message: "Data truncated for column 'v' at row 1" }];
  for (const [how, ins] of [
    ['query', (conn, t) => q(conn, `INSERT INTO ${t} (id, v) VALUES (1, 'abcdef')`)],
    ['execute', (conn, t) => x(conn, `INSERT INTO ${t} (id, v) VALUES (?, ?)`, [2, 'uvwxyz'])],
  ]) {
    await check(`warnings: INSERT via ${how} truncating into VARCHAR(2) (sql_mode='') then SHOW WARNINGS: same rows as direct`, 15000, async (ctx) => {
      const r = await bothSides(ctx, async (side, server) => {
        const conn = await connect(ctx, server);
        const t = tbl(side, 'warn');
        await q(conn, "SET SESSION sql_mode = ''");
        await q(conn, `DELETE FROM ${t}`);
        const h = await ins(conn, t);
        const w = await q(conn, 'SHOW WARNINGS');
        const count = await q(conn, 'SELECT @@warning_count AS n');
        return { warningStatus: h.warningStatus, affectedRows: h.affectedRows, warnings: w, count };
      });
      assert(r.direct.warningStatus === 1 && same(r.direct.warnings, expect), `direct: ${show(r.direct)}`);
      assertSame(r);
    });
  }
}

// -------------------------------------------------------------- 6. pool

async function poolCheck() {
  await check('pool (connectionLimit 5): 200 concurrent execute/query results identical to direct', 25000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const pool = mysql.createPool({
        host: server.host,
        port: server.port,
        user: C.USER1.user,
        password: C.USER1.password,
        database: C.USER1.database,
        connectionLimit: 5,
        connectTimeout: 3000,
      });
      pool.on('error', () => {});
      ctx.defer(() => pool.end());
      const t = tbl(side, 'pool');
      const ops = [];
      for (let i = 0; i < 200; i++) {
        switch (i % 5) {
          case 0:
            ops.push(q(pool, 'SELECT ? AS i, REPEAT(?, ?) AS r', [i, 'ab', i % 17]));
            break;
          case 1:
            ops.push(x(pool, 'SELECT ? * 2 AS d, ? AS s', [i, `s${i}`]));
            break;
          case 2:
            ops.push(q(pool, `SELECT id, v FROM ${t} WHERE id <= ? ORDER BY id`, [i % 10]));
            break;
          case 3:
            ops.push(x(pool, `SELECT COUNT(*) AS c, SUM(id) AS s FROM ${t} WHERE id > ?`, [i % 7]));
            break;
          default:
            ops.push(x(pool, 'SELECT CAST(? AS DECIMAL(10,2)) AS dc, ? AS n, ? AS b', [String(i / 3), null, Buffer.from([i & 255])]));
        }
      }
      return Promise.all(ops.map((p) => outcome(p)));
    });
    assert(Array.isArray(r.direct) && r.direct.every((o) => o.ok), `direct: ${show(r.direct).slice(0, 300)}`);
    if (!Array.isArray(r.proxy)) throw new Error(`proxy: ${show(r.proxy)}`);
    C.assertSameItems(r);
  });
}

// -------------------------------------------------------------- 3. KILL
// Shared with mariadb.test.js: common.js killChecks().

C.runMain(setup, [largeParams, wrongParamCount, rollback, warnings, poolCheck], C.killAdapter(connect, q), dropTables);
