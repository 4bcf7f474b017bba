// Runs sequence.json against a plugin component in the JavaScript host and prints what the
// plugin did as one JSON document (the Rust harness builds the same document; the polyglot
// test compares them).
//
//   node run.mjs <component.wasm> [sequence.json]

import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { Clock, PluginHost } from "./src/host.mjs";
import { Platform, rfc3339 } from "./src/platform.mjs";
import { canonical, diff } from "./src/canonical.mjs";

const ADMIN = { kind: "user", id: "admin", accessRules: ["slo.read", "slo.manage"] };

function usage(message) {
  process.stderr.write(`${message}\nusage: node run.mjs <component.wasm> [sequence.json]\n`);
  process.exit(2);
}

/** Replaces `$alias` strings with the objective ids the aliases stand for. */
function resolve(value, ids) {
  if (typeof value === "string" && value.startsWith("$")) {
    const id = ids.get(value.slice(1));
    if (id === undefined) throw new Error(`unknown alias ${value}`);
    return id;
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, ids));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, ids)]));
  }
  return value;
}

/** The JSON shape of an invocation outcome, as the Rust side writes it. */
function outcome(result) {
  if (result.ok) return { ok: result.value === undefined ? null : JSON.parse(result.value) };
  if (result.error) return { error: { code: result.error.tag, message: result.error.val } };
  return { trap: result.trap };
}

function healthState(status) {
  return { healthyChecks: status === "healthy" ? 1 : 0, status, totalChecks: 1 };
}

/** Integers read as BigInt become JSON numbers (epoch ms and counters fit exactly). */
function plain(value) {
  return typeof value === "bigint" ? Number(value) : value;
}

function publication(entry) {
  switch (entry.type) {
    case "enqueue":
      return { type: "enqueue", queue: entry.queue, jobId: entry.jobId, payload: JSON.parse(entry.payload), delayMs: entry.delayMs, priority: entry.priority };
    case "hook":
    case "signal":
      return { type: entry.type, id: entry.id, payload: JSON.parse(entry.payload) };
    case "entity-request": {
      const [op, json] = Object.entries(entry.op)[0];
      return { type: "entity-request", kind: entry.kind, id: entry.id, op, payload: JSON.parse(json) };
    }
    case "cache-set":
      return { type: "cache-set", key: entry.key, value: JSON.parse(entry.value), ttlMs: entry.ttlMs };
    case "cache-invalidate":
      return { type: "cache-invalidate", keys: entry.keys };
    default:
      throw new Error(`unknown publication ${entry.type}`);
  }
}

async function main() {
  const [componentPath, sequencePath = fileURLToPath(new URL("./sequence.json", import.meta.url))] = process.argv.slice(2);
  if (!componentPath) usage("missing the component path");
  const sequence = JSON.parse(await readFile(sequencePath, "utf8"));
  const clock = new Clock(Date.parse(sequence.start));
  const platform = new Platform(clock);
  for (const system of sequence.systems) platform.addSystem(system.id, system.name);
  for (const edge of sequence.dependencies) platform.addDependency(edge.source, edge.target);
  const host = await PluginHost.load({ componentPath, clock, platform, seed: sequence.seed });

  const ids = new Map();
  const steps = [];
  let changes = 0;
  for (const step of sequence.steps) {
    if (step.rpc !== undefined) {
      const result = host.callRpc(step.rpc, JSON.stringify(resolve(step.input, ids)), ADMIN);
      const answer = outcome(result);
      if (step.alias && answer.ok) ids.set(step.alias, answer.ok.id);
      steps.push({ rpc: step.rpc, ...answer });
    } else if (step.advance !== undefined) {
      clock.advance(step.advance * 1000);
    } else if (step.health !== undefined) {
      const prev = healthState(platform.setHealth(step.health, step.status));
      const next = healthState(step.status);
      const { changedFields, delta } = diff(prev, next);
      changes += 1;
      const change = {
        kind: "health",
        id: step.health,
        prev: canonical(prev),
        next: canonical(next),
        delta: canonical(delta),
        changedFields,
        actor: { kind: "system", id: "system", name: "System" },
        occurredAt: BigInt(clock.now()),
        changeId: `health-${changes}`,
      };
      steps.push({ health: step.health, deliveries: host.deliverEntityChange(change).map(outcome) });
    } else if (step.job !== undefined) {
      const consumer = host.manifest.queueConsumers.find((c) => c.queue === step.job);
      const recurring = host.manifest.recurringJobs.find((j) => j.queue === step.job);
      const job = {
        queue: step.job,
        consumerGroup: consumer.consumerGroup,
        id: `${recurring.jobId}:${clock.now()}`,
        payload: recurring.payload,
        attempt: 1,
        enqueuedAt: BigInt(clock.now()),
      };
      const result = host.deliverJob(job);
      steps.push({ job: step.job, ...outcome(result) });
    } else {
      throw new Error(`unknown step ${JSON.stringify(step)}`);
    }
    host.runEntityRequests();
  }

  const { kind, aliases } = sequence.observe.entities;
  const read = host.readEntities(kind, aliases.map((a) => ids.get(a)));
  const entities = read.ok ? read.value.map((s) => ({ id: s.id, state: JSON.parse(s.state) })) : outcome(read);
  const tables = {};
  const names = host.db.rows(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '${sequence.observe.tablesLike}' ORDER BY name`);
  for (const [name] of names.rows) {
    const { columns, rows } = host.db.rows(`SELECT * FROM "${name}"`);
    tables[name] = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, plain(row[i])])));
  }
  const document = {
    host: "javascript (jco)",
    now: rfc3339(clock.now()),
    steps,
    changes: host.changes,
    published: host.published.map(publication),
    entities,
    tables,
  };
  process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
