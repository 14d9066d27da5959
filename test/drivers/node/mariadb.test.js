'use strict';
// ringmux driver test: the `mariadb` connector (3.5.x), default options.
//
//   node test/drivers/node/mariadb.test.js        (env from test/drivers/run.sh)
//   RM_SELFTEST=1 ...                               both sides are MariaDB itself
//
// Every check runs the same scenario on a direct MariaDB connection and on a
// ringmux connection and compares, and/or asserts the direct behaviour.
//
// Connector code paths used (mariadb 3.5.4, node_modules/mariadb/lib):
//  - conn.execute(sql, values) for SQL not in the connection's prepare cache
//    goes through Connection.prepareExecute() (lib/connection.js): when the
//    server handshake says MariaDB >= 10.2.4 and no value is a stream, it
//    pipelines COM_STMT_PREPARE and a COM_STMT_EXECUTE with statement id
//    0xFFFFFFFF ("-1") without waiting for the PREPARE response.  With no
//    prepare yet, Execute.start() (lib/cmd/execute.js) sizes the parameter
//    list from the *values* given (not from the server's count) and sends a
//    Buffer of any size inline as MYSQL_TYPE_BLOB, so a > 16 MiB Buffer makes
//    a multi-packet COM_STMT_EXECUTE (PacketOutputStream splits at 0xFFFFFF).
//  - With a known prepare (conn.prepare() + stmt.execute(), or a cache hit),
//    Execute.start() marks a Buffer >= 16384 bytes as long data and sends it
//    with one COM_STMT_SEND_LONG_DATA (0x18) per parameter
//    (sendComStmtLongData), itself multi-packet when > 16 MiB, then a
//    COM_STMT_EXECUTE without the value.
//  - A Readable value (has pipe() and read()) disables the pipelined path:
//    PREPARE is awaited, then the stream is written chunk by chunk into one
//    COM_STMT_SEND_LONG_DATA command, then COM_STMT_EXECUTE.
//  - Strings are never long data: always inline (lenenc) in COM_STMT_EXECUTE.
//  - conn.batch() uses COM_STMT_BULK_EXECUTE (0xFA) when the server has
//    MARIADB_CLIENT_STMT_BULK_OPERATIONS (1<<34) and MariaDB >= 10.2.7.
//  - JSON: the text and binary decoders parse a column whose extended
//    metadata format is "json" (MARIADB_CLIENT_EXTENDED_METADATA, 1<<35)
//    into an object (autoJsonMap defaults to true).

const { Readable } = require('stream');
const crypto = require('crypto');
const mariadb = require('mariadb');
const C = require('./common.js');
const { MiB, PREFIX, check, bothSides, assert, assertSame, show, same, sha256, outcome, withTimeout } = C;

const BULK_CAP = 1n << 34n;
const EXT_META_CAP = 1n << 35n;

function tbl(side, name) {
  return `${PREFIX}${side}_${name}`;
}

async function connect(ctx, server, user = C.USER1, extra = {}) {
  const conn = await mariadb.createConnection({
    host: server.host,
    port: server.port,
    user: user.user,
    password: user.password,
    database: user.database,
    connectTimeout: 3000,
    ...extra,
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

function canPipeline(conn) {
  return !!(conn.info && conn.info.isMariaDB() && conn.info.hasMinVersion(10, 2, 4));
}

// A Readable over buf in 1 MiB chunks.
function chunkedReadable(buf) {
  function* gen() {
    for (let off = 0; off < buf.length; off += MiB) yield buf.subarray(off, Math.min(buf.length, off + MiB));
  }
  return Readable.from(gen(), { objectMode: false });
}

// ------------------------------------------------------------------ setup

let admin; // direct connection for DDL

async function setup() {
  admin = await connect(null, C.DIRECT);
  for (const [side] of C.SIDES) {
    await admin.query(`CREATE TABLE ${tbl(side, 'blob')} (id INT PRIMARY KEY, b LONGBLOB, t LONGTEXT CHARACTER SET utf8mb4)`);
    await admin.query(`CREATE TABLE ${tbl(side, 'kv')} (id INT PRIMARY KEY, v VARCHAR(64))`);
    await admin.query(`CREATE TABLE ${tbl(side, 'bulk')} (id INT PRIMARY KEY, v VARCHAR(32))`);
    await admin.query(`CREATE TABLE ${tbl(side, 'bulkai')} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(32))`);
    await admin.query(`CREATE TABLE ${tbl(side, 'json')} (id INT PRIMARY KEY, j JSON)`);
    await admin.query(`CREATE TABLE ${tbl(side, 'pool')} (id INT PRIMARY KEY, v VARCHAR(32))`);
    const vals = [];
    for (let i = 1; i <= 20; i++) vals.push(`(${i}, 'row-${i}')`);
    await admin.query(`INSERT INTO ${tbl(side, 'pool')} VALUES ${vals.join(',')}`);
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
    const rows = await conn.query(
      'SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?',
      [C.USER1.database, like]
    );
    for (const r of rows) await conn.query(`DROP TABLE IF EXISTS \`${r.t}\``);
  } finally {
    await conn.end();
  }
}

// ------------------------------------------------- 1. large parameters

const SIZES = [
  ['16MiB-1', 16 * MiB - 1],
  ['16MiB', 16 * MiB],
  ['32MiB+1', 32 * MiB + 1],
  ['64MiB-1', 64 * MiB - 1],
];

const LARGE_PATHS = [
  [
    // pipelined PREPARE + EXECUTE(-1), Buffer inline as BLOB (multi-packet
    // COM_STMT_EXECUTE).  The comment makes the SQL new, so no cache hit.
    'execute inline (pipelined, stmt id -1)',
    (conn, t, id, buf) => conn.execute(`INSERT INTO ${t} (id, b) VALUES (?, ?) /* inline ${id} */`, [id, buf]),
  ],
  [
    // prepared first: Buffer >= 16 KiB goes as COM_STMT_SEND_LONG_DATA.
    'prepare + execute, Buffer as COM_STMT_SEND_LONG_DATA',
    async (conn, t, id, buf) => {
      const st = await conn.prepare(`INSERT INTO ${t} (id, b) VALUES (?, ?)`);
      try {
        return await st.execute([id, buf]);
      } finally {
        st.close();
      }
    },
  ],
  [
    // Readable: PREPARE awaited, then streamed COM_STMT_SEND_LONG_DATA.
    'execute with Readable, streamed COM_STMT_SEND_LONG_DATA',
    (conn, t, id, buf) => conn.execute(`INSERT INTO ${t} (id, b) VALUES (?, ?)`, [id, chunkedReadable(buf)]),
  ],
];

async function largeParams() {
  const bufs = new Map();
  for (const [label, n] of SIZES) bufs.set(label, crypto.randomBytes(n));
  let id = 0;
  for (const [pathName, send] of LARGE_PATHS) {
    for (const [label, n] of SIZES) {
      const buf = bufs.get(label);
      const want = { len: n, h: sha256(buf) };
      const myId = ++id;
      await check(`large param: ${pathName}, ${label} LONGBLOB byte-exact`, 15000, async (ctx) => {
        const r = await bothSides(ctx, async (side, server) => {
          const conn = await connect(ctx, server);
          const t = tbl(side, 'blob');
          const res = await send(conn, t, myId, buf);
          assert(res && res.affectedRows === 1, `insert returned ${show(res)}`);
          return C.storedDigest((sql, params) => conn.query(sql, params), t, 'b', myId);
        });
        C.assertBoth(r, want);
      });
    }
  }
  bufs.clear();

  // 17 MiB string (with multi-byte characters) into LONGTEXT: strings are
  // never long data, so both are one multi-packet COM_STMT_EXECUTE: once on
  // the pipelined path (stmt id -1), once after an awaited PREPARE.
  let s = crypto.randomBytes(Math.floor((17 * MiB * 3) / 4)).toString('base64');
  s = s.slice(0, 8 * MiB) + 'é€😀' + s.slice(8 * MiB, 17 * MiB - 9); // 2+3+4 bytes
  const sb = Buffer.from(s, 'utf8');
  const wantS = { len: sb.length, h: sha256(sb) };
  const STRING_PATHS = [
    ['execute inline (pipelined, stmt id -1)', (conn, t, id) => conn.execute(`INSERT INTO ${t} (id, t) VALUES (?, ?) /* text ${id} */`, [id, s])],
    [
      'prepare + execute (string inline in COM_STMT_EXECUTE)',
      async (conn, t, id) => {
        const st = await conn.prepare(`INSERT INTO ${t} (id, t) VALUES (?, ?)`);
        try {
          return await st.execute([id, s]);
        } finally {
          st.close();
        }
      },
    ],
  ];
  for (const [pathName, send] of STRING_PATHS) {
    const myId = ++id;
    await check(`large param: ${pathName}, 17MiB string into LONGTEXT byte-exact`, 15000, async (ctx) => {
      const r = await bothSides(ctx, async (side, server) => {
        const conn = await connect(ctx, server);
        const t = tbl(side, 'blob');
        await send(conn, t, myId);
        return C.storedDigest((sql, params) => conn.query(sql, params), t, 't', myId);
      });
      C.assertBoth(r, wantS);
    });
  }
}

// ------------------------------------------- 2. pipelined prepare+execute

async function pipelined() {
  await check('pipelined prepare+execute: both sides advertise MariaDB >= 10.2.4 (connector pipelines)', 10000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      return { pipelines: canPipeline(conn), mariadb: conn.info.isMariaDB() };
    });
    assert(r.direct.pipelines === true, `direct: connector would not pipeline (${show(r.direct)})`);
    assertSame(r);
  });

  await check('pipelined prepare+execute: sequential distinct statements equal direct', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      const t = tbl(side, 'kv');
      await conn.query(`DELETE FROM ${t}`);
      const out = [];
      out.push(await outcome(conn.execute('SELECT ? + 1 AS a, ? AS s, ? AS n', [41, 'x', null])));
      out.push(await outcome(conn.execute(`INSERT INTO ${t} (id, v) VALUES (?, ?)`, [1, 'one'])));
      out.push(await outcome(conn.execute(`INSERT INTO ${t} (id, v) VALUES (?, ?), (?, ?)`, [2, 'two', 3, 'three'])));
      out.push(await outcome(conn.execute(`UPDATE ${t} SET v = ? WHERE id >= ?`, ['big', 2])));
      out.push(await outcome(conn.execute(`SELECT id, v FROM ${t} WHERE id > ? ORDER BY id`, [0])));
      out.push(await outcome(conn.execute(`SELECT COUNT(*) AS c FROM ${t}`)));
      out.push(await outcome(conn.execute('SELECT CAST(? AS DATETIME) AS d, 1.5 * ? AS f', ['2024-02-29 12:34:56', 3])));
      out.push(await outcome(conn.execute(`DELETE FROM ${t} WHERE id = ?`, [3])));
      return out;
    });
    assert(!r.direct.threw, `direct threw: ${r.direct.threw}`);
    assertSame(r);
  });

  await check('pipelined prepare+execute: 8 in flight at once (incl. a failing prepare) equal direct', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      const t = tbl(side, 'kv');
      await conn.query(`DELETE FROM ${t}`);
      // All sent before any response: PREPARE/EXECUTE(-1) pairs back to back.
      const ps = [
        conn.execute('SELECT ? * 2 AS dbl /* p1 */', [21]),
        conn.execute(`INSERT INTO ${t} (id, v) VALUES (?, ?) /* p2 */`, [10, 'ten']),
        conn.execute(`INSERT INTO ${t} (id, v) VALUES (?, ?) /* p3 */`, [11, 'eleven']),
        conn.execute('SELEC ? FROM nowhere /* p4 */', [1]),
        conn.execute(`SELECT id, v FROM ${t} ORDER BY id /* p5 */`),
        conn.execute(`UPDATE ${t} SET v = ? WHERE id = ? /* p6 */`, ['TEN', 10]),
        conn.execute(`SELECT v FROM ${t} WHERE id = ? /* p7 */`, [10]),
        conn.execute('SELECT CONCAT(?, ?) AS c /* p8 */', ['a', 'b']),
      ];
      const out = [];
      for (const p of ps) out.push(await outcome(p));
      out.push(await outcome(conn.execute('SELECT ? AS after_all', [99])));
      return out;
    });
    assert(Array.isArray(r.direct), `direct threw: ${show(r.direct)}`);
    assert(r.direct[3].errno === 1064, `direct: failing prepare gave ${show(r.direct[3])}, want errno 1064`);
    assertSame(r);
  });

  await check('pipelined prepare+execute: failed prepare gives same error, next execute works', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      const e1 = await outcome(conn.execute('SELECT * FROM WHERE ? /* bad */', [1]));
      const e2 = await outcome(conn.execute(`SELECT ? FROM ${PREFIX}no_such_table`, [1]));
      const next = await outcome(conn.execute('SELECT ? AS after_fail, ? AS s', [7, 'ok']));
      const q = await outcome(conn.query('SELECT 1 AS x'));
      return { e1, e2, next, q };
    });
    assert(r.direct.e1 && r.direct.e1.errno === 1064, `direct syntax error: ${show(r.direct.e1)}`);
    assert(r.direct.e2 && r.direct.e2.errno === 1146, `direct missing table: ${show(r.direct.e2)}`);
    assert(r.direct.next && r.direct.next.ok, `direct next execute: ${show(r.direct.next)}`);
    assertSame(r);
  });
}

// ------------------------------------------------ 3. wrong parameter count

async function wrongParamCount() {
  // The connector refuses a short value list client-side only when it knows
  // the statement's parameter count (a prepare in hand).  On the pipelined
  // path (first execute of a SQL text on MariaDB >= 10.2.4) it has none, sizes
  // the EXECUTE from the values, and the server answers: 1210 for 1 of 2
  // parameters; 0 of 1 parameters makes a packet without the null bitmap,
  // which MariaDB 10.11 answers with 1835 (malformed packet).
  await check('wrong parameter count: SELECT ?, ? with 1 value -> same error as direct (1210), connection usable', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      if (!canPipeline(conn)) return { note: 'connector would not pipeline; refuses client-side' };
      const e = await outcome(conn.execute('SELECT ?, ? /* wpc1 */', [1]));
      const after = await outcome(conn.query('SELECT 1 AS x'));
      const after2 = await outcome(conn.execute('SELECT ? AS y /* wpc1 after */', [2]));
      return { e, after, after2 };
    });
    assert(r.direct.e && r.direct.e.errno === 1210, `direct: ${show(r.direct)}`);
    assertSame(r);
  });

  await check('wrong parameter count: SELECT ? with no values -> same error as direct, connection usable', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      if (!canPipeline(conn)) return { note: 'connector would not pipeline; refuses client-side' };
      const e = await outcome(conn.execute('SELECT ? /* wpc0 */', []));
      const after = await outcome(conn.query('SELECT 1 AS x'));
      return { e, after };
    });
    assert(r.direct.e && (r.direct.e.errno === 1210 || r.direct.e.errno === 1835), `direct: ${show(r.direct)}`);
    assertSame(r);
  });
}

// ------------------------------------------------------------- 4. batch

async function batch() {
  const rowsDup = [];
  for (let i = 1; i <= 1000; i++) rowsDup.push([i === 500 ? 7 : i, `v${i}`]); // row 500 duplicates id 7
  const rowsOk = [];
  for (let i = 1; i <= 1000; i++) rowsOk.push([i, `w${i}`]);

  await check('batch: bulk capability seen the same as direct', 10000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      return { bulk: (conn.info.serverCapabilities & BULK_CAP) !== 0n };
    });
    C.diag(`MARIADB_CLIENT_STMT_BULK_OPERATIONS: direct=${show(r.direct)} proxy=${show(r.proxy)}`);
    assertSame(r);
  });

  await check('batch: 1000 rows, row 500 duplicate key -> same error code and table contents as direct', 20000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      const t = tbl(side, 'bulk');
      await conn.query(`DELETE FROM ${t}`);
      const res = await outcome(conn.batch(`INSERT INTO ${t} (id, v) VALUES (?, ?)`, rowsDup));
      const after = await conn.query(`SELECT COUNT(*) AS n, SUM(id) AS s, MIN(id) AS lo, MAX(id) AS hi FROM ${t}`);
      const usable = await outcome(conn.query('SELECT 2 AS x'));
      return { errno: res.ok ? 'no error' : res.errno, after, usable };
    });
    assert(r.direct.errno === 1062, `direct: ${show(r.direct)}`);
    assertSame(r);
  });

  await check('batch: 1000 rows without error -> identical result object and rows', 20000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const conn = await connect(ctx, server);
      const t = tbl(side, 'bulk');
      await conn.query(`DELETE FROM ${t}`);
      const res = await outcome(conn.batch(`INSERT INTO ${t} (id, v) VALUES (?, ?)`, rowsOk));
      const after = await conn.query(`SELECT COUNT(*) AS n, SUM(id) AS s, SUM(LENGTH(v)) AS l FROM ${t}`);
      const tai = tbl(side, 'bulkai');
      const resAi = await outcome(conn.batch(`INSERT INTO ${tai} (v) VALUES (?)`, rowsOk.map((x) => [x[1]])));
      return { res, after, resAi };
    });
    assert(r.direct.res && r.direct.res.ok, `direct: ${show(r.direct)}`);
    if (!same(r.direct, r.proxy)) {
      // name the first difference rather than dumping 2000 OkPackets
      const d = r.direct;
      const p = r.proxy;
      for (const k of ['res', 'after', 'resAi']) {
        if (p && !same(d[k], p[k])) {
          const a = d[k] && d[k].ok;
          const b = p[k] && p[k].ok;
          if (Array.isArray(a) && Array.isArray(b)) {
            if (a.length !== b.length) throw new Error(`${k}: ${a.length} results direct vs ${b.length} proxy; direct[0]=${show(a[0])} proxy[0]=${show(b[0])}`);
            for (let i = 0; i < a.length; i++) {
              if (!same(a[i], b[i])) throw new Error(`${k}[${i}]: direct=${show(a[i])} proxy=${show(b[i])}`);
            }
          }
          throw new Error(`${k}: direct=${show(d[k])} proxy=${show(p[k])}`);
        }
      }
      throw new Error(`direct=${show(d)} proxy=${show(p)}`);
    }
  });
}

// ------------------------------------------------- 5. JSON extended meta

async function jsonMeta() {
  const doc = { a: 1, b: [1, 2, 'x'], c: { d: null, e: 'é' } };
  for (const [how, run] of [
    ['query (text protocol)', (conn, t) => conn.query(`SELECT j FROM ${t} WHERE id = 1`)],
    ['execute (binary protocol, pipelined)', (conn, t) => conn.execute(`SELECT j FROM ${t} WHERE id = ?`, [1])],
    [
      'prepare + execute (binary protocol, not pipelined)',
      async (conn, t) => {
        const st = await conn.prepare(`SELECT j FROM ${t} WHERE id = ? /* prepared */`);
        try {
          return await st.execute([1]);
        } finally {
          st.close();
        }
      },
    ],
  ]) {
    await check(`JSON column via ${how}: typeof/value same as direct (direct parses to object)`, 15000, async (ctx) => {
      const r = await bothSides(ctx, async (side, server) => {
        const conn = await connect(ctx, server);
        const t = tbl(side, 'json');
        await conn.query(`DELETE FROM ${t}`);
        await conn.query(`INSERT INTO ${t} VALUES (1, ?)`, [JSON.stringify(doc)]);
        const rows = await run(conn, t);
        return { extMeta: (conn.info.serverCapabilities & EXT_META_CAP) !== 0n, type: typeof rows[0].j, val: rows[0].j };
      });
      assert(r.direct.type === 'object' && same(r.direct.val, doc), `direct did not parse JSON: ${show(r.direct)}`);
      assertSame(r);
    });
  }
}

// ------------------------------------------------------------- 7. pool

function poolOps(pool, t) {
  const ops = [];
  for (let i = 0; i < 200; i++) {
    switch (i % 5) {
      case 0:
        ops.push(pool.query('SELECT ? AS i, REPEAT(?, ?) AS r', [i, 'ab', i % 17]));
        break;
      case 1:
        ops.push(pool.execute('SELECT ? * 2 AS d, ? AS s', [i, `s${i}`]));
        break;
      case 2:
        ops.push(pool.query(`SELECT id, v FROM ${t} WHERE id <= ? ORDER BY id`, [i % 10]));
        break;
      case 3:
        ops.push(pool.execute(`SELECT COUNT(*) AS c, SUM(id) AS s FROM ${t} WHERE id > ?`, [i % 7]));
        break;
      default:
        ops.push(pool.execute('SELECT CAST(? AS DECIMAL(10,2)) AS dc, ? AS n, ? AS b', [i / 3, null, Buffer.from([i & 255])]));
    }
  }
  return ops.map((p) => outcome(p));
}

async function poolCheck() {
  await check('pool (connectionLimit 5): 200 concurrent query/execute results identical to direct', 25000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const pool = mariadb.createPool({
        host: server.host,
        port: server.port,
        user: C.USER1.user,
        password: C.USER1.password,
        database: C.USER1.database,
        connectionLimit: 5,
        connectTimeout: 3000,
        acquireTimeout: 15000,
      });
      pool.on('error', () => {});
      ctx.defer(() => pool.end());
      return Promise.all(poolOps(pool, tbl(side, 'pool')));
    });
    assert(Array.isArray(r.direct) && r.direct.every((x) => x.ok), `direct: ${show(r.direct).slice(0, 300)}`);
    if (!Array.isArray(r.proxy)) throw new Error(`proxy: ${show(r.proxy)}`);
    C.assertSameItems(r);
  });
}

// ------------------------------------------------------------- 6. KILL
// Shared with mysql2.test.js: common.js killChecks().

C.runMain(setup, [largeParams, pipelined, wrongParamCount, batch, jsonMeta, poolCheck], C.killAdapter(connect, (conn, sql, values) => conn.query(sql, values)), dropTables);
