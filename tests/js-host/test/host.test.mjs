// Unit tests of the JS host's own pieces (run by `node --test`, which tests/tests/polyglot.rs
// calls): the SQL typing rewrite, the canonical diff, and the seeded random source, against the
// reference vectors of rand_xoshiro's SplitMix64 (the Rust harness's generator).

import assert from "node:assert/strict";
import { test } from "node:test";

import { canonical, diff } from "../src/canonical.mjs";
import { splitMix64 } from "../src/host.mjs";
import { Database, typedStatement } from "../src/sql.mjs";

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
  const { rows } = db.query("SELECT v, typeof(v) FROM t ORDER BY rowid", []);
  assert.deepEqual(rows, [
    [{ tag: "integer", val: 9007199254740993n }, { tag: "text", val: "integer" }],
    [{ tag: "real", val: 10 }, { tag: "text", val: "real" }],
    [{ tag: "real", val: 0.25 }, { tag: "text", val: "real" }],
  ]);
  assert.throws(() => db.query("BEGIN", []), { tag: "refused" });
  assert.throws(() => db.query("SELECT * FROM _host_migrations", []), { tag: "refused" });
  assert.throws(() => db.query("SELECT * FROM nope", []), { tag: "syntax" });
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
