// The contract's `sql` import (checkstack:plugin@0.2.0) on a real SQLite (sql.js, SQLite
// compiled to WebAssembly: no native build). One transaction per invocation, savepoints inside
// it, typed values both ways, results in the contract's columnar `rows` form.
//
// Typing: the contract's `sql-value` distinguishes integer (s64) from real (f64). sql.js binds a
// JS number as an integer when it happens to be integral and a BigInt as text, so each `?` is
// rewritten to `CAST(? AS INTEGER)` or `CAST(? AS REAL)` according to its parameter's type, and
// the integer is bound as its decimal text: SQLite sees exactly the value the plugin sent. Rows
// are read with `useBigInt`, so INTEGER columns come back as BigInt and REAL ones as numbers.
//
// Results (0.2.0): a result is a handful of flat buffers, cells numbered row-major. jco lowers
// `list<s64>`, `list<f64>`, `list<u32>` and `list<u8>` from typed arrays by one copy of their
// bytes (a plain array is checked and written value by value), so the encoder answers
// BigInt64Array, Float64Array, Uint32Array and Uint8Array. `text-ends` are UTF-8 byte offsets
// into `text`, not JavaScript string (UTF-16) indices.

import initSqlJs from "sql.js";

/** Statements a plugin may not run: the host owns the transaction and the connection. */
const REFUSED_KEYWORDS = new Set([
  "BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "ATTACH", "DETACH", "PRAGMA", "VACUUM",
]);

/** A typed SQL failure, thrown to the guest as the contract's `sql-error` variant. */
function sqlError(tag, message) {
  return { tag, val: message };
}

/** Classifies a SQLite error message into the contract's `sql-error` cases. */
function classify(error) {
  const message = String(error?.message ?? error);
  if (/constraint failed/i.test(message)) return sqlError("constraint", message);
  if (/syntax error|no such (table|column|function)|has no column|incomplete input/i.test(message)) {
    return sqlError("syntax", message);
  }
  if (/bind|parameter/i.test(message)) return sqlError("parameters", message);
  return sqlError("database", message);
}

/**
 * Rewrites each positional `?` outside literals, quoted identifiers and comments with the cast
 * its parameter's type needs; answers the statement and the values to bind. Refuses numbered
 * placeholders and several statements, as the Rust host does.
 */
export function typedStatement(statement, params) {
  let out = "";
  let index = 0;
  let i = 0;
  let trailingStatement = false;
  const n = statement.length;
  while (i < n) {
    const c = statement[i];
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      while (j < n) {
        if (statement[j] === close) {
          if (close !== "]" && statement[j + 1] === close) {
            j += 2;
            continue;
          }
          break;
        }
        j += 1;
      }
      out += statement.slice(i, j + 1);
      i = j + 1;
    } else if (c === "-" && statement[i + 1] === "-") {
      const j = statement.indexOf("\n", i);
      const end = j === -1 ? n : j;
      out += statement.slice(i, end);
      i = end;
    } else if (c === "/" && statement[i + 1] === "*") {
      const j = statement.indexOf("*/", i + 2);
      const end = j === -1 ? n : j + 2;
      out += statement.slice(i, end);
      i = end;
    } else if (c === ";") {
      if (statement.slice(i + 1).trim() !== "") trailingStatement = true;
      i += 1;
    } else if (c === "?") {
      if (/[0-9]/.test(statement[i + 1] ?? "")) {
        throw sqlError("parameters", "numbered placeholders (?NNN) are not supported: use positional ?");
      }
      const param = params[index];
      if (param === undefined) {
        throw sqlError("parameters", `the statement has more placeholders than the ${params.length} parameters given`);
      }
      out += param.tag === "integer" ? "CAST(? AS INTEGER)" : param.tag === "real" ? "CAST(? AS REAL)" : "?";
      index += 1;
      i += 1;
    } else {
      out += c;
      i += 1;
    }
  }
  if (trailingStatement) throw sqlError("refused", "several statements in one call are refused");
  if (index !== params.length) {
    throw sqlError("parameters", `the statement has ${index} placeholders but ${params.length} parameters were given`);
  }
  return { text: out, values: params.map(bindable) };
}

function bindable(value) {
  switch (value.tag) {
    case "null":
      return null;
    case "integer":
      return value.val.toString();
    case "real":
      return value.val;
    case "text":
      return value.val;
    case "blob":
      return value.val;
    default:
      throw sqlError("parameters", `unknown sql-value ${JSON.stringify(value.tag)}`);
  }
}

/** Most rows one `query` may answer; a larger result is refused, naming `open-cursor`. */
export const MAX_ROWS = 100_000;

/** Most rows one cursor may hold (they live in the host while the guest pages through them). */
export const MAX_CURSOR_ROWS = 10_000_000;

/** Largest page one `cursor.next` hands out; larger asks are cut to it. */
export const MAX_PAGE_ROWS = 10_000;

/** Why a query's rows were refused, as the Rust host words it. */
export function tooManyRows(maxRows) {
  return sqlError(
    "refused",
    `the query returns more than ${maxRows} rows: page it with LIMIT, or read it through sql.open-cursor (contract 0.2.0)`,
  );
}

/** Largest offset a `u32` end can hold. */
const MAX_OFFSET = 0xffff_ffff;

function offset(end, what) {
  if (end > MAX_OFFSET) {
    throw sqlError(
      "refused",
      `the result's ${what} cells pass 4 GiB, more than one answer can address: page it with LIMIT or a cursor`,
    );
  }
  return end;
}

/**
 * Encodes rows `from..to` of a result (cut to the rows that exist) in the contract's columnar
 * `rows` form. A row is an array of sql.js values: `null`, a BigInt (INTEGER), a number
 * (REAL), a string (TEXT) or a Uint8Array (BLOB). An empty page still names its columns.
 */
export function encodeRows(columns, rows, from = 0, to = rows.length) {
  const end = Math.min(to, rows.length);
  const start = Math.min(from, end);
  const kinds = [];
  const integers = [];
  const reals = [];
  const texts = [];
  const textEnds = [];
  const blobs = [];
  const blobEnds = [];
  let textBytes = 0;
  let blobBytes = 0;
  for (let r = start; r < end; r += 1) {
    for (const value of rows[r]) {
      if (value === null || value === undefined) {
        kinds.push("null");
      } else if (typeof value === "bigint") {
        kinds.push("integer");
        integers.push(value);
      } else if (typeof value === "number") {
        kinds.push("real");
        reals.push(value);
      } else if (typeof value === "string") {
        kinds.push("text");
        texts.push(value);
        // UTF-8 bytes, as jco encodes the string (a lone surrogate becomes U+FFFD: 3 bytes).
        textBytes += Buffer.byteLength(value, "utf8");
        textEnds.push(offset(textBytes, "text"));
      } else if (value instanceof Uint8Array) {
        kinds.push("blob");
        blobs.push(value);
        blobBytes += value.byteLength;
        blobEnds.push(offset(blobBytes, "blob"));
      } else {
        throw sqlError("database", `a cell of unexpected type ${typeof value}`);
      }
    }
  }
  const blobBuffer = new Uint8Array(blobBytes);
  let at = 0;
  for (const blob of blobs) {
    blobBuffer.set(blob, at);
    at += blob.byteLength;
  }
  return {
    columns: [...columns],
    kinds,
    integers: BigInt64Array.from(integers),
    reals: Float64Array.from(reals),
    text: texts.join(""),
    textEnds: Uint32Array.from(textEnds),
    blobs: blobBuffer,
    blobEnds: Uint32Array.from(blobEnds),
  };
}

/**
 * An open cursor (`sql.open-cursor`): the rows its statement produced when it opened (an
 * insensitive cursor), handed out a page at a time. jco checks that `open-cursor` answers an
 * instance of the class the host passed as the `sql` interface's `Cursor`, calls `next` on
 * it for `[method]cursor.next`, and `[Symbol.dispose]` when the guest drops it.
 */
export class Cursor {
  /** `onDrop` runs once, when the guest drops the cursor; `isLive` says whether it may still be read. */
  constructor({ columns, rows }, { onDrop = () => {}, isLive = () => true } = {}) {
    this.columns = columns;
    this.rows = rows;
    this.handedOut = 0;
    this.onDrop = onDrop;
    this.isLive = isLive;
  }

  /** The next page: at most `maxRows` rows (cut to 10,000); no rows once exhausted. */
  next(maxRows) {
    if (maxRows === 0) throw sqlError("parameters", "cursor.next: max-rows must be at least 1");
    if (!this.rows || !this.isLive()) throw sqlError("refused", "cursor.next: the cursor is closed");
    const from = this.handedOut;
    const to = from + Math.min(maxRows, MAX_PAGE_ROWS);
    const page = encodeRows(this.columns, this.rows, from, to);
    this.handedOut = Math.min(to, this.rows.length);
    return page;
  }

  [Symbol.dispose]() {
    if (this.rows === null) return;
    this.rows = null;
    this.onDrop();
  }
}

function firstKeyword(statement) {
  const stripped = statement.replace(/^(\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)+/, "");
  return (stripped.match(/^[A-Za-z]+/)?.[0] ?? "").toUpperCase();
}

/** The host's database: one SQLite in memory, shared by the host and the plugin. */
export class Database {
  /** Opens an empty in-memory database. */
  static async open() {
    const SQL = await initSqlJs();
    return new Database(new SQL.Database());
  }

  constructor(db) {
    this.db = db;
  }

  /** Runs host statements (migrations, transaction control); not for plugin input. */
  exec(sql) {
    this.db.exec(sql);
  }

  /** Refuses what a plugin may not run, before it reaches SQLite. */
  check(statement) {
    const keyword = firstKeyword(statement);
    if (REFUSED_KEYWORDS.has(keyword)) {
      throw sqlError("refused", `${keyword} is refused: the host owns the transaction (use savepoint / release / rollback-to)`);
    }
    if (/_host_/i.test(statement)) {
      throw sqlError("refused", "the host's tables (_host_*) are not the plugin's");
    }
  }

  /**
   * Runs a plugin statement that returns rows: its column names and at most `maxRows` rows
   * (sql.js values), or the `refused` error naming the cap when there are more.
   */
  select(statement, params, maxRows) {
    this.check(statement);
    const { text, values } = typedStatement(statement, params);
    let stmt;
    try {
      stmt = this.db.prepare(text);
      stmt.bind(values);
      const columns = stmt.getColumnNames();
      const rows = [];
      while (stmt.step()) {
        if (rows.length === maxRows) throw tooManyRows(maxRows);
        rows.push(stmt.get(null, { useBigInt: true }));
      }
      return { columns, rows };
    } catch (error) {
      throw error?.tag ? error : classify(error);
    } finally {
      stmt?.free();
    }
  }

  /** The contract's `query`: the columnar rows, at most 100,000 of them. */
  query(statement, params) {
    const { columns, rows } = this.select(statement, params, MAX_ROWS);
    return encodeRows(columns, rows);
  }

  /**
   * The contract's `open-cursor`: runs the statement now and keeps its rows behind a cursor.
   * `options` are the cursor's `onDrop` and `isLive` (see `Cursor`).
   */
  openCursor(statement, params, options) {
    return new Cursor(this.select(statement, params, MAX_CURSOR_ROWS), options);
  }

  /** The contract's `execute`: how many rows changed. */
  execute(statement, params) {
    this.check(statement);
    const { text, values } = typedStatement(statement, params);
    try {
      this.db.run(text, values);
      return BigInt(this.db.getRowsModified());
    } catch (error) {
      throw classify(error);
    }
  }

  /** Every row of a host query, as plain JS values (integers as BigInt). */
  rows(sql) {
    const stmt = this.db.prepare(sql);
    try {
      const columns = stmt.getColumnNames();
      const rows = [];
      while (stmt.step()) rows.push(stmt.get(null, { useBigInt: true }));
      return { columns, rows };
    } finally {
      stmt.free();
    }
  }
}
