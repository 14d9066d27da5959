'use strict';
// Shared helpers for test/drivers/node/{mariadb,mysql2}.test.js.
//
// Output protocol (see test/drivers/run.sh): one "ok - NAME" or
// "not ok - NAME: why" line per check, "# ..." lines are diagnostics only, and
// a final "N passed, N failed" line.  Exit status 1 when a check failed.
//
// RM_SELFTEST=1 makes the "proxy" side use RM_DIRECT_HOST/PORT as well, so
// every check must pass when both sides are MariaDB itself.

const crypto = require('crypto');

const SELFTEST = process.env.RM_SELFTEST === '1';

function envOr(name, dflt) {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : v;
}

const DIRECT = {
  host: envOr('RM_DIRECT_HOST', envOr('RINGMUX_TEST_MYSQL_HOST', '127.0.0.1')),
  port: Number(envOr('RM_DIRECT_PORT', envOr('RINGMUX_TEST_MYSQL_PORT', '3306'))),
};
const PROXY = SELFTEST
  ? { ...DIRECT }
  : { host: envOr('RM_PROXY_HOST', '127.0.0.1'), port: Number(envOr('RM_PROXY_PORT', '0')) };

const USER1 = {
  user: envOr('RM_USER', 'rmtest'),
  password: envOr('RM_PASSWORD', 'rmtest-pw'),
  database: envOr('RM_DB', 'rmtest'),
};
const USER2 = {
  user: envOr('RM_USER2', 'rmtest2'),
  password: envOr('RM_PASSWORD2', 'rmtest2-pw'),
  database: envOr('RM_DB', 'rmtest'),
};

const SIDES = [
  ['direct', DIRECT],
  ['proxy', PROXY],
];

const MiB = 1024 * 1024;

// ---------------------------------------------------------------- reporting

let passed = 0;
let failed = 0;
let finished = false;

function oneLine(s) {
  s = String(s).replace(/\s+/g, ' ').trim();
  return s.length > 1200 ? s.slice(0, 1200) + '...' : s;
}

function ok(name) {
  passed++;
  console.log(`ok - ${name}`);
}

function notOk(name, why) {
  failed++;
  console.log(`not ok - ${name}: ${oneLine(why)}`);
}

function skip(name, reason) {
  passed++;
  console.log(`ok - ${name} # SKIP ${oneLine(reason)}`);
}

function diag(msg) {
  console.log(`# ${oneLine(msg)}`);
}

function summaryAndExit() {
  if (finished) return;
  finished = true;
  console.log(`${passed} passed, ${failed} failed`);
  // Exit explicitly: a hung connection left behind by a timed-out check
  // must not keep the process alive.
  process.exit(failed > 0 ? 1 : 0);
}

class Skip extends Error {}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Resolve/reject with p, or reject with `msg` after ms.
function withTimeout(p, ms, msg) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(msg || `timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// A check context collects cleanup actions (closing connections/pools) that
// run when the check ends, passes, fails or times out.
class Ctx {
  constructor() {
    this.cleanups = [];
  }
  defer(fn) {
    this.cleanups.push(fn);
  }
  async close() {
    const fns = this.cleanups.reverse();
    this.cleanups = [];
    for (const fn of fns) {
      try {
        await withTimeout(Promise.resolve().then(fn), 3000, 'cleanup timed out');
      } catch (_) {
        /* ignore */
      }
    }
  }
}

// Run one check: fn(ctx) must resolve (pass), throw (fail) or throw Skip.
async function check(name, timeoutMs, fn) {
  const ctx = new Ctx();
  try {
    await withTimeout(Promise.resolve().then(() => fn(ctx)), timeoutMs, `timed out after ${timeoutMs} ms`);
    ok(name);
  } catch (e) {
    if (e instanceof Skip) skip(name, e.message);
    else notOk(name, errText(e));
  } finally {
    await ctx.close();
  }
}

// Run the same scenario on both sides; fn(side, server, ctx) returns a
// result.  Exceptions become {threw: text} so that the comparison still
// happens.  Returns {direct, proxy}.
async function bothSides(ctx, fn) {
  const out = {};
  for (const [side, server] of SIDES) {
    try {
      out[side] = await fn(side, server, ctx);
    } catch (e) {
      out[side] = { threw: errText(e) };
    }
  }
  return out;
}

function errText(e) {
  if (!e) return String(e);
  if (e instanceof Error) {
    const code = e.errno !== undefined ? ` (errno ${e.errno}${e.code ? ' ' + e.code : ''})` : '';
    return `${e.message}${code}`;
  }
  return typeof e === 'string' ? e : show(e);
}

// --------------------------------------------------------------- comparison

// JSON rendering that copes with BigInt and Buffers and is stable.
function show(v) {
  const s = JSON.stringify(v, (k, x) => {
    if (typeof x === 'bigint') return `${x}n`;
    if (x && x.type === 'Buffer' && Array.isArray(x.data)) {
      const b = Buffer.from(x.data);
      return b.length <= 32 ? `<Buffer ${b.toString('hex')}>` : `<Buffer len=${b.length} sha256=${sha256(b).slice(0, 16)}>`;
    }
    if (typeof x === 'string' && x.length > 4096) return `<string len=${x.length} sha256=${sha256(Buffer.from(x)).slice(0, 16)}>`;
    return x;
  });
  return s === undefined ? String(v) : s;
}

function same(a, b) {
  return show(a) === show(b);
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Compare direct vs proxy results from bothSides(); fail with both rendered.
function assertSame(r, label) {
  if (!same(r.direct, r.proxy)) {
    throw new Error(`${label ? label + ': ' : ''}direct=${show(r.direct)} proxy=${show(r.proxy)}`);
  }
}

// Both sides must equal want (a value computed locally).
function assertBoth(r, want) {
  const bad = [];
  for (const side of ['direct', 'proxy']) if (!same(r[side], want)) bad.push(`${side}=${show(r[side])}`);
  if (bad.length) throw new Error(`want ${show(want)}; ${bad.join('; ')}`);
}

// Two arrays of per-item results must match item by item.
function assertSameItems(r) {
  const bad = [];
  const n = Math.max(r.direct.length, r.proxy.length);
  for (let i = 0; i < n; i++) if (!same(r.direct[i], r.proxy[i])) bad.push(i);
  if (bad.length)
    throw new Error(`${bad.length} of ${n} differ; first #${bad[0]}: direct=${show(r.direct[bad[0]])} proxy=${show(r.proxy[bad[0]])}`);
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

// Outcome of a promise as a plain comparable value: rows/result or the
// server error number (messages may carry ids, so only the code).
// What the server stored in column col of row id of table t (length and
// SHA-256), then the row deleted; query(sql, params) runs a statement on
// the driver's connection.
async function storedDigest(query, t, col, id) {
  const rows = await query(`SELECT LENGTH(${col}) AS len, SHA2(${col}, 256) AS h FROM ${t} WHERE id = ?`, [id]);
  await query(`DELETE FROM ${t} WHERE id = ?`, [id]);
  return rows.length === 1 ? { len: Number(rows[0].len), h: rows[0].h } : { rows: rows.length };
}

async function outcome(p) {
  try {
    return { ok: await p };
  } catch (e) {
    return { errno: e && e.errno !== undefined ? e.errno : null, code: e && e.code, sqlState: e && e.sqlState, fatal: !!(e && e.fatal) };
  }
}

// --------------------------------------------------------------- the run

const PREFIX = `drv_node_${process.pid}_`;

// Start a global watchdog: if the program runs longer than ms, report and exit.
function watchdog(ms, onFire) {
  const t = setTimeout(async () => {
    notOk('watchdog', `program still running after ${ms / 1000} s; giving up`);
    try {
      if (onFire) await withTimeout(Promise.resolve().then(onFire), 5000);
    } catch (_) {
      /* ignore */
    }
    summaryAndExit();
  }, ms);
  t.unref();
}

// ---------------------------------------------------------- KILL checks
//
// Shared by both programs.  api.connect(ctx, server, user) resolves to
// { threadId, query(sql, values) -> Promise<rows>, destroy(), end() }, the
// connection closed by ctx cleanup.  threadId is the connection id from the
// server's (or proxy's) handshake.

const SLEEP_SQL = (marker) => `SELECT SLEEP(10) AS s /* ${marker} */`;

// Kill (directly, as rmtest who has PROCESS/SUPER) any thread still running
// the marked SLEEP, so a KILL that the proxy failed to deliver does not leave
// a 10 s sleeper holding one of its backend connections.
async function killStray(api, marker) {
  const ctx = new Ctx();
  try {
    const conn = await api.connect(ctx, DIRECT, USER1);
    const rows = await conn.query(
      'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()',
      [`%${marker}%`]
    );
    for (const row of rows) await outcome(conn.query(`KILL QUERY ${Number(row.id)}`));
  } finally {
    await ctx.close();
  }
}

async function waitRunning(api, marker, ms) {
  const ctx = new Ctx();
  try {
    const conn = await api.connect(ctx, DIRECT, USER1);
    const end = Date.now() + ms;
    for (;;) {
      const rows = await conn.query(
        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()",
        [`%${marker}%`]
      );
      if (Number(rows[0].n) > 0) return true;
      if (Date.now() > end) return false;
      await sleep(50);
    }
  } finally {
    await ctx.close();
  }
}

async function killQueryScenario(api, ctx, side, server) {
  const A = await api.connect(ctx, server, USER1);
  const B = await api.connect(ctx, server, USER1);
  const marker = `${PREFIX}kill_${side}`;
  const r = {};
  const pA = outcome(A.query(SLEEP_SQL(marker)));
  await sleep(300);
  // Be sure the SLEEP is running on the server before killing it (observed
  // directly, so a slow backend hand-out in the proxy cannot make the KILL
  // land before the query starts).
  r.sleepSeen = await waitRunning(api, marker, 3000);
  const tKill = Date.now();
  r.kill = await outcome(withTimeout(B.query(`KILL QUERY ${A.threadId}`), 3000, 'KILL QUERY did not return in 3 s'));
  const left = Math.max(0, tKill + 2000 - Date.now());
  let done = false;
  const res = await Promise.race([pA.then((x) => ((done = true), x)), sleep(left).then(() => null)]);
  r.elapsedOk = done;
  if (!done) {
    r.sleep = 'SELECT SLEEP(10) still running 2 s after KILL QUERY';
    await killStray(api, marker).catch(() => {});
    await withTimeout(pA, 3000).catch(() => {});
  } else {
    r.sleep = res;
  }
  r.after = await outcome(withTimeout(A.query('SELECT 1 AS x'), 3000, 'SELECT 1 after KILL QUERY timed out'));
  return r;
}

async function killChecks(api) {
  await check('KILL QUERY: SELECT CONNECTION_ID() equals the handshake threadId', 10000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const A = await api.connect(ctx, server, USER1);
      const rows = await A.query('SELECT CONNECTION_ID() AS id');
      const id = Number(rows[0].id);
      return id === Number(A.threadId) ? 'equal' : `CONNECTION_ID()=${id} threadId=${A.threadId}`;
    });
    assert(r.direct === 'equal', `direct: ${show(r.direct)}`);
    assertSame(r);
  });

  let kq = null;
  await check('KILL QUERY from a 2nd connection: SLEEP(10) ends within 2 s with the same outcome as direct', 25000, async (ctx) => {
    kq = await bothSides(ctx, (side, server) => killQueryScenario(api, ctx, side, server));
    diag(`KILL QUERY: direct=${show(kq.direct)} proxy=${show(kq.proxy)}`);
    const d = kq.direct;
    assert(d.elapsedOk && (same(d.sleep, { ok: [{ s: 1 }] }) || d.sleep.errno === 1317), `direct: ${show(d)}`);
    const pick = (x) => (x && !x.threw ? { kill: x.kill, elapsedOk: x.elapsedOk, sleep: x.sleep } : x);
    assertSame({ direct: pick(kq.direct), proxy: pick(kq.proxy) });
  });

  await check('KILL QUERY: the interrupted connection runs SELECT 1 fine afterwards', 5000, async () => {
    assert(kq, 'the KILL QUERY scenario did not complete');
    assert(kq.direct.after && kq.direct.after.ok, `direct: ${show(kq.direct.after)}`);
    assertSame({ direct: kq.direct.after, proxy: kq.proxy.after || kq.proxy });
  });

  await check('KILL QUERY by another user (rmtest2, no PROCESS/SUPER) -> same error as direct (1095)', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const A = await api.connect(ctx, server, USER1);
      const B = await api.connect(ctx, server, USER2);
      const e = await outcome(B.query(`KILL QUERY ${A.threadId}`));
      const e2 = await outcome(B.query(`KILL ${A.threadId}`));
      const aOk = await outcome(A.query('SELECT 3 AS x'));
      const bOk = await outcome(B.query('SELECT 4 AS y'));
      return { e, e2, aOk, bOk };
    });
    assert(r.direct.e && r.direct.e.errno === 1095 && r.direct.e2.errno === 1095, `direct: ${show(r.direct)}`);
    assertSame(r);
  });

  await check('KILL <id> (connection): victim next query fails, killer and new connections fine', 15000, async (ctx) => {
    const r = await bothSides(ctx, async (side, server) => {
      const A = await api.connect(ctx, server, USER1);
      const B = await api.connect(ctx, server, USER1);
      await A.query('SELECT 1');
      const k = await outcome(withTimeout(B.query(`KILL ${A.threadId}`), 3000, 'KILL did not return in 3 s'));
      await sleep(200);
      const a = await outcome(withTimeout(A.query('SELECT 1 AS x'), 3000, 'victim query hung'));
      const b = await outcome(B.query('SELECT 5 AS y'));
      const D = await api.connect(ctx, server, USER1);
      const d = await outcome(D.query('SELECT 6 AS z'));
      diag(`KILL <id>: ${side}: victim's next query -> ${show(a)}`);
      return { kill: k, victimFailed: !a.ok, killer: b, fresh: d };
    });
    const d = r.direct;
    assert(d.kill && d.kill.ok && d.victimFailed === true && d.killer && d.killer.ok && d.fresh && d.fresh.ok, `direct: ${show(d)}`);
    assertSame(r);
  });
}

process.on('unhandledRejection', (e) => {
  // A timed-out check may reject later, and the mariadb connector's destroy()
  // of a busy connection sends KILL from a connection of its own without
  // handling the result.  Neither is a check result; trace only on request.
  if (process.env.RM_DEBUG) diag(`unhandled rejection (ignored): ${errText(e)}`);
});

// The program's whole run: watchdog, setup, every group of checks in turn,
// the KILL checks with the driver's adapter, tables dropped, summary.
async function runMain(setup, groups, killApi, dropTables) {
  watchdog(100000, () => dropTables());
  if (SELFTEST) diag('RM_SELFTEST=1: the "proxy" side is MariaDB directly');
  diag(`direct ${DIRECT.host}:${DIRECT.port}  proxy ${PROXY.host}:${PROXY.port}  prefix ${PREFIX}`);
  try {
    try {
      await withTimeout(setup(), 15000, 'setup timed out');
    } catch (e) {
      notOk('setup', errText(e));
      await withTimeout(dropTables(), 10000).catch(() => {});
      return;
    }
    for (const g of groups) await g();
    await killChecks(killApi);
    try {
      await withTimeout(dropTables(), 15000, 'drop timed out');
    } catch (e) {
      diag(`dropping tables failed: ${errText(e)}`);
    }
  } catch (e) {
    notOk('main', errText(e));
  }
  summaryAndExit();
}

// Adapter for killChecks over a driver connection; query(conn, sql, values).
function killAdapter(connect, query) {
  return {
    async connect(ctx, server, user) {
      const conn = await connect(ctx, server, user);
      return {
        threadId: conn.threadId,
        query: (sql, values) => query(conn, sql, values),
        destroy: () => conn.destroy(),
        end: () => conn.end(),
      };
    },
  };
}

module.exports = {
  runMain,
  storedDigest,
  killAdapter,
  SELFTEST,
  DIRECT,
  PROXY,
  USER1,
  USER2,
  SIDES,
  MiB,
  PREFIX,
  ok,
  notOk,
  skip,
  diag,
  Skip,
  check,
  bothSides,
  sleep,
  withTimeout,
  show,
  same,
  assert,
  assertSame,
  assertBoth,
  assertSameItems,
  sha256,
  outcome,
  errText,
  watchdog,
  killChecks,
  summaryAndExit,
};
