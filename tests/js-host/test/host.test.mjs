// Unit tests of the JS host's own pieces (run by `node --test`, which tests/tests/polyglot.rs
// calls): the SQL typing rewrite, contract 0.2.0's columnar results and cursors, the per-call
// context, the canonical diff, and the seeded random source and trace ids, against reference
// vectors of rand_xoshiro's SplitMix64 and Xoshiro256PlusPlus (the Rust harness's generators).

import assert from "node:assert/strict";
import { test } from "node:test";
import util from "node:util";

import { canonical, diff } from "../src/canonical.mjs";
import { Clock, MAX_OPEN_CURSORS, PluginHost, splitMix64, traceId } from "../src/host.mjs";
import { Cursor, Database, MAX_ROWS, encodeRows, typedStatement } from "../src/sql.mjs";

/**
 * Decodes a columnar result back into rows of `sql-value`s, checking it as a guest would: the
 * buffers match the kinds, and every text end is a UTF-8 byte offset on a character boundary.
 */
function decode(rows) {
  assert.ok(rows.integers instanceof BigInt64Array, "integers is a BigInt64Array");
  assert.ok(rows.reals instanceof Float64Array, "reals is a Float64Array");
  assert.ok(rows.textEnds instanceof Uint32Array, "text-ends is a Uint32Array");
  assert.ok(rows.blobs instanceof Uint8Array, "blobs is a Uint8Array");
  assert.ok(rows.blobEnds instanceof Uint32Array, "blob-ends is a Uint32Array");
  const width = rows.columns.length;
  assert.equal(rows.kinds.length % Math.max(width, 1), 0, "the cells fill whole rows");
  const text = Buffer.from(rows.text, "utf8");
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const at = { integer: 0, real: 0, text: 0, blob: 0 };
  let textStart = 0;
  let blobStart = 0;
  const values = rows.kinds.map((kind) => {
    switch (kind) {
      case "null":
        return { tag: "null" };
      case "integer":
        return { tag: "integer", val: rows.integers[at.integer++] };
      case "real":
        return { tag: "real", val: rows.reals[at.real++] };
      case "text": {
        const end = rows.textEnds[at.text++];
        const val = utf8.decode(text.subarray(textStart, end));
        textStart = end;
        return { tag: "text", val };
      }
      case "blob": {
        const end = rows.blobEnds[at.blob++];
        const val = [...rows.blobs.subarray(blobStart, end)];
        blobStart = end;
        return { tag: "blob", val };
      }
      default:
        throw new Error(`unknown cell kind ${kind}`);
    }
  });
  assert.deepEqual(
    [at.integer, at.real, at.text, at.blob],
    [rows.integers.length, rows.reals.length, rows.textEnds.length, rows.blobEnds.length],
    "every value buffer is used up",
  );
  assert.equal(textStart, text.length, "the last text end is the end of the text");
  assert.equal(blobStart, rows.blobs.length, "the last blob end is the end of the blobs");
  const out = [];
  for (let i = 0; i < values.length; i += width) out.push(values.slice(i, i + width));
  return out;
}

/** A host whose "instance" is its own import object, to call the imports as a guest would. */
function importsHost(database) {
  const host = new PluginHost({ bindings: null, cores: null, database, clock: new Clock(0), platform: null, seed: 7 });
  host.instantiate = () => host.contractImports();
  host.manifest = { id: "slo" };
  return host;
}

test("each placeholder is cast to its parameter's type, literals and comments untouched", () => {
  const { text, values } = typedStatement(
    "SELECT '?' AS q, x FROM t -- a ? here\nWHERE a = ? AND b = ? /* ? */ AND c = ? AND d = ?",
    [
      { tag: "integer", val: 9007199254740993n },
      { tag: "real", val: 10 },
      { tag: "text", val: "x" },
      { tag: "null" },
    ],
  );
  assert.equal(
    text,
    "SELECT '?' AS q, x FROM t -- a ? here\nWHERE a = CAST(? AS INTEGER) AND b = CAST(? AS REAL) /* ? */ AND c = ? AND d = ?",
  );
  assert.deepEqual(values, ["9007199254740993", 10, "x", null]);
});

test("placeholder and parameter counts must agree; several statements are refused", () => {
  assert.throws(() => typedStatement("SELECT ?", []), { tag: "parameters" });
  assert.throws(() => typedStatement("SELECT 1", [{ tag: "null" }]), { tag: "parameters" });
  assert.throws(() => typedStatement("SELECT ?1", [{ tag: "null" }]), { tag: "parameters" });
  assert.throws(() => typedStatement("SELECT 1; SELECT 2", []), { tag: "refused" });
  assert.doesNotThrow(() => typedStatement("SELECT 1;  ", []));
});

test("integers and reals round-trip with their types, beyond 2^53 too", async () => {
  const db = await Database.open();
  db.exec("CREATE TABLE t (v)");
  db.execute("INSERT INTO t (v) VALUES (?), (?), (?)", [
    { tag: "integer", val: 9007199254740993n },
    { tag: "real", val: 10 },
    { tag: "real", val: 0.25 },
  ]);
  const rows = decode(db.query("SELECT v, typeof(v) FROM t ORDER BY rowid", []));
  assert.deepEqual(rows, [
    [{ tag: "integer", val: 9007199254740993n }, { tag: "text", val: "integer" }],
    [{ tag: "real", val: 10 }, { tag: "text", val: "real" }],
    [{ tag: "real", val: 0.25 }, { tag: "text", val: "real" }],
  ]);
  assert.throws(() => db.query("BEGIN", []), { tag: "refused" });
  assert.throws(() => db.query("SELECT * FROM _host_migrations", []), { tag: "refused" });
  assert.throws(() => db.query("SELECT * FROM nope", []), { tag: "syntax" });
});

test("a columnar result carries every kind; text ends are UTF-8 byte offsets", () => {
  const lone = String.fromCharCode(0xd83d); // a lone surrogate: jco encodes it as U+FFFD
  const columns = ["id", "n", "x", "b"];
  const rows = [
    ["é-1", -7n, 0.5, new Uint8Array([1, 2])],
    ["", null, 3n, new Uint8Array()],
    ["日本語🎉", 9223372036854775807n, null, null],
    [lone, -9223372036854775808n, 10, "z"],
  ];
  const encoded = encodeRows(columns, rows);
  assert.deepEqual(encoded.columns, columns);
  assert.deepEqual(encoded.kinds, [
    "text", "integer", "real", "blob",
    "text", "null", "integer", "blob",
    "text", "integer", "null", "null",
    "text", "integer", "real", "text",
  ]);
  assert.deepEqual([...encoded.integers], [-7n, 3n, 9223372036854775807n, -9223372036854775808n]);
  assert.deepEqual([...encoded.reals], [0.5, 10]);
  assert.equal(encoded.text, `é-1日本語🎉${lone}z`);
  // "é-1" is 4 bytes, "" 0, "日本語🎉" 9 + 4, the lone surrogate 3 (U+FFFD), "z" 1.
  assert.deepEqual([...encoded.textEnds], [4, 4, 17, 20, 21]);
  assert.deepEqual([...encoded.blobs], [1, 2]);
  assert.deepEqual([...encoded.blobEnds], [2, 2]);
  const decoded = decode(encoded);
  assert.deepEqual(decoded[2][0], { tag: "text", val: "日本語🎉" });
  assert.deepEqual(decoded[3][0], { tag: "text", val: "\ufffd" });
  assert.deepEqual(decoded[3][3], { tag: "text", val: "z" });
  assert.deepEqual(decoded[0][3], { tag: "blob", val: [1, 2] });
  assert.deepEqual(decoded[1][3], { tag: "blob", val: [] });

  const page = encodeRows(columns, rows, 2, 3);
  assert.deepEqual(decode(page), [decoded[2]]);
  assert.deepEqual([...page.textEnds], [13], "a page's text ends count from its own text");
  const past = encodeRows(columns, rows, 5, 9);
  assert.deepEqual(past.kinds, []);
  assert.deepEqual(past.columns, columns, "an empty page still names its columns");
});

test("query answers SQLite's values columnar, non-ASCII text included", async () => {
  const db = await Database.open();
  db.exec("CREATE TABLE t (a, b)");
  db.execute("INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)", [
    { tag: "text", val: "Zürich — 東京 🚀" },
    { tag: "blob", val: new Uint8Array([0, 255]) },
    { tag: "null" },
    { tag: "integer", val: -1n },
    { tag: "text", val: "ok" },
    { tag: "real", val: 2.5 },
  ]);
  const result = db.query("SELECT a, b FROM t ORDER BY rowid", []);
  assert.deepEqual(result.columns, ["a", "b"]);
  assert.deepEqual(decode(result), [
    [{ tag: "text", val: "Zürich — 東京 🚀" }, { tag: "blob", val: [0, 255] }],
    [{ tag: "null" }, { tag: "integer", val: -1n }],
    [{ tag: "text", val: "ok" }, { tag: "real", val: 2.5 }],
  ]);
  assert.deepEqual([...result.textEnds], [Buffer.byteLength("Zürich — 東京 🚀"), Buffer.byteLength("Zürich — 東京 🚀ok")]);
  const empty = db.query("SELECT a, b FROM t WHERE 0", []);
  assert.deepEqual(empty.columns, ["a", "b"]);
  assert.equal(empty.kinds.length, 0);
});

test("query refuses more than 100,000 rows, naming open-cursor; a cursor reads them all", async () => {
  const db = await Database.open();
  const many = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${MAX_ROWS + 1}) SELECT i FROM n`;
  assert.throws(() => db.query(many, []), (error) => error.tag === "refused" && error.val.includes("sql.open-cursor"));
  assert.equal(db.query(`${many} LIMIT ${MAX_ROWS}`, []).kinds.length, MAX_ROWS);
  const cursor = db.openCursor(many, []);
  let total = 0;
  let last = 0n;
  for (let page = cursor.next(1_000_000); page.kinds.length > 0; page = cursor.next(1_000_000)) {
    assert.ok(page.kinds.length <= 10_000, "a page holds at most 10,000 rows");
    total += page.kinds.length;
    last = page.integers[page.integers.length - 1];
  }
  assert.equal(total, MAX_ROWS + 1);
  assert.equal(last, BigInt(MAX_ROWS + 1));
});

test("a cursor pages through the rows it saw when it opened", async () => {
  const db = await Database.open();
  db.exec("CREATE TABLE t (v); INSERT INTO t VALUES (1), (2), (3), (4), (5)");
  let drops = 0;
  const cursor = db.openCursor("SELECT v, 'é' || v AS w FROM t ORDER BY v", [], { onDrop: () => (drops += 1) });
  assert.ok(cursor instanceof Cursor);
  db.execute("DELETE FROM t WHERE v > ?", [{ tag: "integer", val: 1n }]);
  db.execute("INSERT INTO t VALUES (?)", [{ tag: "integer", val: 6n }]);
  assert.throws(() => cursor.next(0), { tag: "parameters" });
  const pages = [];
  for (let page = cursor.next(2); page.kinds.length > 0; page = cursor.next(2)) pages.push(decode(page));
  assert.deepEqual(
    pages.map((page) => page.map(([v, w]) => [v.val, w.val])),
    [
      [[1n, "é1"], [2n, "é2"]],
      [[3n, "é3"], [4n, "é4"]],
      [[5n, "é5"]],
    ],
  );
  const exhausted = cursor.next(2);
  assert.deepEqual(exhausted.columns, ["v", "w"]);
  assert.equal(exhausted.kinds.length, 0, "an exhausted cursor keeps answering empty pages");
  cursor[Symbol.dispose]();
  cursor[Symbol.dispose]();
  assert.equal(drops, 1, "a drop is counted once");
  assert.throws(() => cursor.next(1), { tag: "refused" });
  assert.throws(() => db.openCursor("SELECT * FROM nope", []), { tag: "syntax" });
  assert.throws(() => db.openCursor("COMMIT", []), { tag: "refused" });
});

test("an invocation holds at most 16 cursors, and none outside a transaction", async () => {
  const host = importsHost(await Database.open());
  const held = host.invoke("handlers.on-job(q)", (imports) => {
    const sql = imports["checkstack:plugin/sql"];
    const cursors = Array.from({ length: MAX_OPEN_CURSORS }, () => sql.openCursor("SELECT 1", []));
    assert.throws(() => sql.openCursor("SELECT 1", []), { tag: "refused" });
    cursors[0][Symbol.dispose]();
    assert.ok(sql.openCursor("SELECT 1", []) instanceof sql.Cursor);
    return cursors[1];
  });
  assert.ok(held.ok, util.inspect(held));
  assert.throws(() => held.value.next(1), { tag: "refused" }, "a cursor dies with its invocation");
  const describe = host.invoke(
    "manifest.describe",
    (imports) => assert.throws(() => imports["checkstack:plugin/sql"].openCursor("SELECT 1", []), { tag: "refused" }),
    { transaction: false },
  );
  assert.ok(describe.ok, util.inspect(describe));
});

test("context.current names the invocation, its export, its caller and its trace", async () => {
  const host = importsHost(await Database.open());
  const admin = { kind: "user", id: "admin", accessRules: ["slo.read", "slo.manage"] };
  const rpc = host.invoke("rpc.handle(getObjective)", (imports) => imports["checkstack:plugin/context"].current(), { caller: admin });
  assert.deepEqual(rpc.value, {
    invocationId: "slo#1",
    export: "rpc.handle(getObjective)",
    caller: admin,
    traceId: traceId(7n, 1n),
  });
  const job = host.invoke("handlers.on-job(slo-daily-snapshots)", (imports) => {
    const context = imports["checkstack:plugin/context"];
    return { current: context.current(), left: context.deadlineRemainingMs() };
  });
  assert.deepEqual(job.value.current, {
    invocationId: "slo#2",
    export: "handlers.on-job(slo-daily-snapshots)",
    caller: { kind: "system", id: undefined, accessRules: [] },
    traceId: traceId(7n, 2n),
  });
  assert.equal(typeof job.value.left, "bigint");
  assert.ok(job.value.left > 0n && job.value.left <= 5_000n, `${job.value.left} ms left of 5 s`);
});

test("trace ids are the Rust harness's: Xoshiro256PlusPlus seeded from the seed and the sequence", () => {
  // Reference values from host-harness's `runtime::state::trace_id(Some(seed), sequence)`
  // (rand_xoshiro 0.8.1).
  assert.equal(traceId(7n, 1n), "3654972f9b5adc185799a7af2e8dc9b0");
  assert.equal(traceId(7n, 2n), "f744e9945aae00bea93fa0ee49a9ebbf");
  assert.equal(traceId(7n, 123n), "193ae224c4873a910d1eab4a3529a216");
  assert.equal(traceId(0n, 0n), "53175d61490b23df61da6f3dc380d507");
  assert.equal(traceId((1n << 64n) - 1n, 99999n), "85da1be97f43a9423093ae857b21f3de");
  assert.match(traceId(7n, 9n), /^[0-9a-f]{32}$/);
});

test("the diff reports changed top-level fields, sorted, and a tombstone's empty delta", () => {
  assert.deepEqual(diff({ a: 1, b: { y: 1, x: 2 } }, { b: { x: 2, y: 1 }, c: null }), {
    changedFields: ["a", "c"],
    delta: { a: null, c: null },
  });
  assert.deepEqual(diff({ a: 1 }, null), { changedFields: ["a"], delta: {} });
  assert.equal(canonical({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
});

test("the random source is rand_xoshiro's SplitMix64", () => {
  const u64 = splitMix64(1477776061723855037n);
  assert.deepEqual(
    [u64.getRandomU64(), u64.getRandomU64(), u64.getRandomU64()],
    [1985237415132408290n, 2979275885539914483n, 13511426838097143398n],
  );
  // One next_u32 per byte, its low 8 bits (the first next_u32 values for seed 10 are
  // 3930361779, 4016923089, 4113052479).
  const bytes = splitMix64(10n).getRandomBytes(3n);
  assert.deepEqual([...bytes], [3930361779 & 0xff, 4016923089 & 0xff, 4113052479 & 0xff]);
});
