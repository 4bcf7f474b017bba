// A minimal JavaScript host for the Checkstack plugin contract, version 0.2.0 (wit/0.2.0/): it
// loads a plugin component through jco (transpiled in memory, instantiated synchronously),
// implements every import of the contract, and runs the invocation model the Rust host runs:
//
// * one fresh instance per invocation (the guest keeps no state between calls);
// * one SQL transaction per invocation, committed on `ok`, rolled back on `err` or a trap;
// * a transactional outbox: queue jobs, hooks, signals, entity requests and cache writes are
//   buffered and published only after the commit (a savepoint rollback drops its entries);
// * entity mutations are host-driven: read prev → the owner's `apply` → canonical diff;
// * each invocation has a context (`context.current`): an id `<plugin>#<sequence>`, the export
//   and its subject, the caller (the RPC caller, else the `system` principal) and a trace id
//   derived from the seed and the sequence as the Rust harness derives it.
//
// It is deliberately small: no durable queue, no retries, no schema validation, and the
// deadline `context.deadline-remaining-ms` counts down is reported, not enforced. What it must
// get right is everything the plugin can observe.

import { readFile } from "node:fs/promises";

import { transpile } from "@bytecodealliance/jco";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";

import { canonical, diff } from "./canonical.mjs";
import { Cursor, Database } from "./sql.mjs";

/** A virtual clock in epoch milliseconds, moved only by the driver. */
export class Clock {
  constructor(startMs) {
    this.ms = startMs;
  }

  now() {
    return this.ms;
  }

  advance(ms) {
    this.ms += ms;
  }
}

const MASK64 = (1n << 64n) - 1n;
const PHI = 0x9e3779b97f4a7c15n;

/** The invocation deadline of the Rust harness's default limits (5 s). */
export const DEFAULT_DEADLINE_MS = 5_000;

/** Most cursors one invocation may hold open at once, as in the Rust harness. */
export const MAX_OPEN_CURSORS = 16;

/** rand_xoshiro's SplitMix64 from `seed`: its `next_u64` and `next_u32`. */
function splitMix64Words(seed) {
  let x = BigInt.asUintN(64, seed);
  const advance = () => {
    x = (x + PHI) & MASK64;
    return x;
  };
  return {
    nextU64() {
      let z = advance();
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
      return z ^ (z >> 31n);
    },
    nextU32() {
      let z = advance();
      z = ((z ^ (z >> 33n)) * 0x62a9d9ed799705f5n) & MASK64;
      z = ((z ^ (z >> 28n)) * 0xcb24d0a5c88c35b3n) & MASK64;
      return z >> 32n;
    },
  };
}

/**
 * Deterministic `wasi:random/random`, the generator the Rust harness serves when seeded:
 * SplitMix64 (as rand_xoshiro implements it), seeded per invocation with
 * `seed ^ (sequence × 0x9e3779b97f4a7c15)`. `get-random-u64` is one `next_u64`;
 * `get-random-bytes` spends one `next_u32` per byte (wasmtime-wasi samples bytes that way).
 */
export function splitMix64(seed) {
  const { nextU64, nextU32 } = splitMix64Words(seed);
  return {
    getRandomU64: nextU64,
    getRandomBytes(len) {
      const bytes = new Uint8Array(Number(len));
      for (let i = 0; i < bytes.length; i += 1) bytes[i] = Number(nextU32() & 0xffn);
      return bytes;
    },
  };
}

const rotl64 = (x, k) => ((x << k) | (x >> (64n - k))) & MASK64;

/**
 * The W3C trace id (32 lower-case hex digits, never all zero) of invocation `sequence`, as the
 * Rust harness derives it for a seeded host (`runtime::state::trace_id`): two `next_u64` of
 * rand_xoshiro's Xoshiro256PlusPlus seeded (`seed_from_u64`, i.e. through SplitMix64) with
 * `seed ^ (sequence × 0xd6e8feb86659fd93)`, high word first.
 */
export function traceId(seed, sequence) {
  const base = BigInt.asUintN(64, BigInt(seed)) ^ ((BigInt(sequence) * 0xd6e8feb86659fd93n) & MASK64);
  const words = splitMix64Words(base);
  const s = [words.nextU64(), words.nextU64(), words.nextU64(), words.nextU64()];
  const next = () => {
    const result = (rotl64((s[0] + s[3]) & MASK64, 23n) + s[0]) & MASK64;
    const t = (s[1] << 17n) & MASK64;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45n);
    return result;
  };
  const high = next();
  const low = next();
  const id = (high << 64n) | low;
  return (id === 0n ? 1n : id).toString(16).padStart(32, "0");
}

/** The `system` principal: who runs deliveries, jobs, entity work and start-up. */
function systemCaller() {
  return { kind: "system", id: undefined, accessRules: [] };
}

function refused(message) {
  return { tag: "refused", val: message };
}

function invalid(message) {
  return { tag: "invalid", val: message };
}

/** Whether `caller` holds `rule`, where `<scope>.manage` implies `<scope>.read`. */
function holds(caller, rule) {
  return caller.accessRules.some(
    (held) => held === rule || (rule.endsWith(".read") && held === `${rule.slice(0, -".read".length)}.manage`),
  );
}

/** The plugin in its JavaScript host. */
export class PluginHost {
  /**
   * Loads the component at `componentPath`: transpiles it with jco, compiles its core modules
   * once, reads its manifest, applies its migrations and runs its `init` in one transaction.
   */
  static async load({ componentPath, clock, platform, seed = 7, deadlineMs = DEFAULT_DEADLINE_MS }) {
    const bytes = await readFile(componentPath);
    const { files } = await transpile(bytes, {
      name: "plugin",
      instantiation: "sync",
      noTypescript: true,
      quiet: true,
    });
    const source = Buffer.from(files["plugin.js"]).toString("base64");
    const bindings = await import(`data:text/javascript;base64,${source}`);
    const cores = new Map(
      Object.entries(files)
        .filter(([name]) => name.endsWith(".wasm"))
        .map(([name, data]) => [name, new WebAssembly.Module(data)]),
    );
    const database = await Database.open();
    const host = new PluginHost({ bindings, cores, database, clock, platform, seed, deadlineMs });
    host.start();
    return host;
  }

  constructor({ bindings, cores, database, clock, platform, seed = 7, deadlineMs = DEFAULT_DEADLINE_MS }) {
    this.bindings = bindings;
    this.cores = cores;
    this.db = database;
    this.clock = clock;
    this.platform = platform;
    this.seed = BigInt(seed);
    this.deadlineMs = deadlineMs;
    this.wasi = new WASIShim({ sandbox: { preopens: {}, env: {}, args: ["plugin"], enableNetwork: false } });
    this.current = null;
    this.sequence = 0;
    this.cache = new Map();
    /** Everything committed invocations published, in order. */
    this.published = [];
    this.routed = 0;
    /** Entity changes the pipeline produced, in order. */
    this.changes = [];
    this.logs = [];
    this.manifest = null;
  }

  start() {
    const described = this.invoke("manifest.describe", (plugin) => plugin.manifest.describe(), { transaction: false });
    if (!described.ok) throw new Error(`describe failed: ${JSON.stringify(described)}`);
    this.manifest = described.value;
    const migrations = this.manifest.migrations;
    const init = this.invoke("lifecycle.init", (plugin) => plugin.lifecycle.init(), {
      beforeCall: () => {
        for (const migration of migrations) this.db.exec(migration.sql);
      },
    });
    if (!init.ok) throw new Error(`init failed: ${JSON.stringify(init)}`);
  }

  /** A fresh instance whose imports act on the invocation in progress. */
  instantiate() {
    const imports = { ...this.wasi.getImportObject(), ...this.contractImports() };
    const sequence = BigInt(this.invocation().sequence);
    imports["wasi:random/random"] = splitMix64(this.seed ^ ((sequence * PHI) & MASK64));
    return this.bindings.instantiate((name) => this.cores.get(name), imports);
  }

  invocation() {
    if (!this.current) throw new Error("a host call outside an invocation");
    return this.current;
  }

  transaction() {
    const invocation = this.invocation();
    if (!invocation.transaction) throw refused("this invocation has no database");
    return invocation;
  }

  buffer(entry) {
    this.invocation().outbox.push(entry);
  }

  contractImports() {
    const host = this;
    return {
      "checkstack:plugin/sql": {
        Cursor,
        query: (statement, params) => (host.transaction(), host.db.query(statement, params)),
        openCursor(statement, params) {
          const invocation = host.transaction();
          if (invocation.openCursors >= MAX_OPEN_CURSORS) {
            throw refused(`${MAX_OPEN_CURSORS} cursors are already open in this invocation: drop one first`);
          }
          const cursor = host.db.openCursor(statement, params, {
            onDrop: () => {
              invocation.openCursors -= 1;
            },
            isLive: () => host.current === invocation,
          });
          invocation.openCursors += 1;
          return cursor;
        },
        execute: (statement, params) => (host.transaction(), host.db.execute(statement, params)),
        savepoint() {
          const invocation = host.transaction();
          const id = invocation.nextSavepoint++;
          host.db.exec(`SAVEPOINT sp_${id}`);
          invocation.savepoints.set(id, invocation.outbox.length);
          return id;
        },
        release(id) {
          const invocation = host.transaction();
          if (!invocation.savepoints.has(id)) throw refused(`no savepoint ${id}`);
          host.db.exec(`RELEASE sp_${id}`);
          for (const open of [...invocation.savepoints.keys()]) if (open >= id) invocation.savepoints.delete(open);
        },
        rollbackTo(id) {
          const invocation = host.transaction();
          const mark = invocation.savepoints.get(id);
          if (mark === undefined) throw refused(`no savepoint ${id}`);
          host.db.exec(`ROLLBACK TO sp_${id}; RELEASE sp_${id}`);
          invocation.outbox.length = mark;
          for (const open of [...invocation.savepoints.keys()]) if (open >= id) invocation.savepoints.delete(open);
        },
      },
      "checkstack:plugin/queue": {
        enqueue(queue, payload, options) {
          const invocation = host.invocation();
          JSON.parse(payload);
          const jobId = options.jobId ?? `${queue}:${invocation.sequence}-${++invocation.jobsMade}`;
          host.buffer({
            type: "enqueue",
            queue,
            payload,
            jobId,
            delayMs: Number(options.delayMs ?? 0n),
            priority: options.priority ?? 0,
          });
          return jobId;
        },
      },
      "checkstack:plugin/hooks": {
        emit: (id, payload) => host.buffer({ type: "hook", id, payload }),
      },
      "checkstack:plugin/entities": {
        request: (kind, id, op) => host.buffer({ type: "entity-request", kind, id, op: { [op.tag]: op.val } }),
      },
      "checkstack:plugin/platform": {
        call: (pluginId, procedure, input) => host.platform.call(pluginId, procedure, input),
      },
      "checkstack:plugin/signals": {
        broadcast: (id, payload) => host.buffer({ type: "signal", id, payload }),
      },
      "checkstack:plugin/cache": {
        get(key) {
          const pending = [...host.invocation().outbox]
            .reverse()
            .find((e) => (e.type === "cache-set" && e.key === key) || (e.type === "cache-invalidate" && e.keys.includes(key)));
          if (pending) return pending.type === "cache-set" ? pending.value : undefined;
          const entry = host.cache.get(key);
          return entry && host.clock.now() < entry.expiresAt ? entry.value : undefined;
        },
        set: (key, value, ttlMs) => host.buffer({ type: "cache-set", key, value, ttlMs: Number(ttlMs) }),
        invalidate: (keys) => host.buffer({ type: "cache-invalidate", keys }),
      },
      "checkstack:plugin/log": {
        write: (level, message) => host.logs.push({ level, message }),
      },
      "checkstack:plugin/clock": {
        nowMs: () => BigInt(host.clock.now()),
      },
      "checkstack:plugin/context": {
        current() {
          const invocation = host.invocation();
          const caller = invocation.caller ?? systemCaller();
          return {
            invocationId: host.invocationId(invocation),
            export: invocation.name,
            caller: { kind: caller.kind, id: caller.id, accessRules: [...caller.accessRules] },
            traceId: invocation.traceId,
          };
        },
        deadlineRemainingMs() {
          const invocation = host.invocation();
          const left = invocation.deadline - performance.now();
          return BigInt(Math.max(0, Math.floor(left)));
        },
      },
    };
  }

  /**
   * Runs one export in a fresh instance: `{ ok: true, value }`, `{ ok: false, error }` for a
   * typed `err` (or a host refusal), `{ ok: false, trap }` for a trap. The transaction commits
   * only on `ok`; the outbox is published only after the commit.
   */
  invoke(name, call, { transaction = true, beforeCall = () => {}, caller = null } = {}) {
    const sequence = ++this.sequence;
    const invocation = {
      name,
      transaction,
      outbox: [],
      savepoints: new Map(),
      nextSavepoint: 1,
      jobsMade: 0,
      sequence,
      caller,
      traceId: traceId(this.seed, sequence),
      deadline: performance.now() + this.deadlineMs,
      openCursors: 0,
    };
    this.current = invocation;
    if (transaction) this.db.exec("BEGIN");
    try {
      beforeCall();
      const value = call(this.instantiate());
      if (transaction) this.db.exec("COMMIT");
      this.current = null;
      this.publish(name, invocation.outbox);
      return { ok: true, value };
    } catch (error) {
      if (transaction) this.db.exec("ROLLBACK");
      this.current = null;
      if (error && Object.prototype.hasOwnProperty.call(error, "payload")) return { ok: false, error: error.payload };
      return { ok: false, trap: String(error?.stack ?? error) };
    }
  }

  /** An invocation's id, `<plugin id>#<sequence>` (`(loading)` before the manifest is read). */
  invocationId(invocation) {
    return `${this.manifest?.id ?? "(loading)"}#${invocation.sequence}`;
  }

  publish(name, outbox) {
    for (const entry of outbox) {
      if (entry.type === "cache-set") this.cache.set(entry.key, { value: entry.value, expiresAt: this.clock.now() + entry.ttlMs });
      if (entry.type === "cache-invalidate") for (const key of entry.keys) this.cache.delete(key);
      this.published.push({ export: name, ...entry });
    }
  }

  /** `rpc.handle` after the host's own checks (procedure known, signed in, access rules, JSON). */
  callRpc(procedure, input, caller) {
    const spec = this.manifest.procedures.find((p) => p.name === procedure);
    if (!spec) return { ok: false, error: { tag: "not-found", val: `procedure ${JSON.stringify(procedure)} does not exist` } };
    if (caller.kind === "anonymous" && !spec.public) {
      return { ok: false, error: { tag: "denied", val: `procedure ${JSON.stringify(procedure)} needs a signed-in caller` } };
    }
    const missing = spec.access.find((rule) => !holds(caller, rule));
    if (missing) {
      return { ok: false, error: { tag: "denied", val: `procedure ${JSON.stringify(procedure)} needs access rule ${JSON.stringify(missing)}` } };
    }
    try {
      JSON.parse(input);
    } catch (error) {
      return { ok: false, error: invalid(`input is not valid JSON: ${error.message}`) };
    }
    return this.invoke(`rpc.handle(${procedure})`, (plugin) => plugin.rpc.handle(procedure, input, caller), { caller });
  }

  /** Delivers an entity change to every subscription of its kind, in manifest order. */
  deliverEntityChange(change) {
    return this.manifest.entitySubscriptions
      .filter((s) => s.kind === change.kind)
      .map((s) =>
        this.invoke(`handlers.on-entity-change(${s.workerGroup})`, (plugin) => plugin.handlers.onEntityChange(s.workerGroup, change)),
      );
  }

  /** Delivers one run of a queue's job to its consumer group. */
  deliverJob(job) {
    return this.invoke(`handlers.on-job(${job.queue})`, (plugin) => plugin.handlers.onJob(job));
  }

  /** The owner's `read` of entities `ids` of `kind`. */
  readEntities(kind, ids) {
    return this.invoke(`entity-provider.read(${kind})`, (plugin) => plugin.entityProvider.read(kind, ids));
  }

  /**
   * Runs every entity request published since the last call through the framework pipeline
   * (read prev → `apply` → canonical diff), including those the pipeline itself publishes.
   */
  runEntityRequests() {
    while (this.routed < this.published.length) {
      const entry = this.published[this.routed];
      this.routed += 1;
      if (entry.type === "entity-request") this.mutate(entry.kind, entry.id, entry.op);
    }
  }

  mutate(kind, id, op) {
    const read = this.readEntities(kind, [id]);
    if (!read.ok) return;
    const found = read.value.find((s) => s.id === id);
    const prev = found ? JSON.parse(found.state) : null;
    const witOp = "mutate" in op ? { tag: "mutate", val: op.mutate } : { tag: "remove", val: op.remove };
    const applied = this.invoke(`entity-provider.apply(${kind})`, (plugin) => plugin.entityProvider.apply(kind, id, witOp));
    if (!applied.ok) return;
    const next = applied.value === undefined ? null : JSON.parse(applied.value);
    if (canonical(prev) === canonical(next)) return;
    const { changedFields } = diff(prev, next);
    this.changes.push({ kind, id, prev, next, changedFields });
  }
}
