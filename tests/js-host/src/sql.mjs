// The contract's `sql` import on a real SQLite (sql.js, SQLite compiled to WebAssembly: no
// native build). One transaction per invocation, savepoints inside it, typed values both ways.
//
// Typing: the contract's `sql-value` distinguishes integer (s64) from real (f64). sql.js binds a
// JS number as an integer when it happens to be integral and a BigInt as text, so each `?` is
// rewritten to `CAST(? AS INTEGER)` or `CAST(? AS REAL)` according to its parameter's type, and
// the integer is bound as its decimal text: SQLite sees exactly the value the plugin sent. Rows
// are read with `useBigInt`, so INTEGER columns come back as BigInt and REAL ones as numbers.

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

function sqlValue(column) {
  if (column === null || column === undefined) return { tag: "null" };
  if (typeof column === "bigint") return { tag: "integer", val: column };
  if (typeof column === "number") return { tag: "real", val: column };
  if (typeof column === "string") return { tag: "text", val: column };
  return { tag: "blob", val: column };
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

  /** The contract's `query`: rows with their column names. */
  query(statement, params) {
    this.check(statement);
    const { text, values } = typedStatement(statement, params);
    let stmt;
    try {
      stmt = this.db.prepare(text);
      stmt.bind(values);
      const columns = stmt.getColumnNames();
      const rows = [];
      while (stmt.step()) rows.push(stmt.get(null, { useBigInt: true }).map(sqlValue));
      return { columns, rows };
    } catch (error) {
      throw error?.tag ? error : classify(error);
    } finally {
      stmt?.free();
    }
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
