// The platform plugins a Checkstack plugin calls through the `platform` import (catalog,
// healthcheck, dependency, incident, maintenance), stubbed with the answers the Rust harness's
// simulated platform gives (host-contract.md §3–5): the same shapes, the same errors.

/** A typed plugin error, thrown to the guest as the contract's `plugin-error` variant. */
export function pluginError(tag, message) {
  return { tag, val: message };
}

/** RFC 3339 with milliseconds in UTC, as the Rust harness formats instants. */
export function rfc3339(ms) {
  return new Date(ms).toISOString();
}

function parseInstant(field, text) {
  const ms = Date.parse(text);
  if (typeof text !== "string" || Number.isNaN(ms)) {
    throw pluginError("invalid", `${field}: expected an RFC 3339 instant, found ${JSON.stringify(text)}`);
  }
  return ms;
}

function parse(procedure, input, required) {
  let value;
  try {
    value = JSON.parse(input);
  } catch (error) {
    throw pluginError("invalid", `${procedure}: ${error.message}`);
  }
  for (const field of required) {
    if (value?.[field] === undefined) throw pluginError("invalid", `${procedure}: missing field \`${field}\``);
  }
  return value;
}

/** Systems, their health (with history), dependency edges; no incidents, no maintenance. */
export class Platform {
  constructor(clock) {
    this.clock = clock;
    this.systems = new Map();
    /** [source, target]: source depends on target. */
    this.dependencies = [];
    /** [system, at, status] health check runs, in time order. */
    this.history = [];
  }

  /** Adds a catalog system; it starts healthy. */
  addSystem(id, name) {
    this.systems.set(id, { name, health: "healthy" });
    this.history.push([id, this.clock.now(), "healthy"]);
  }

  /** `source` depends on `target`. */
  addDependency(source, target) {
    this.dependencies.push([source, target]);
  }

  /** Sets a system's health; answers the status before. */
  setHealth(id, status) {
    const system = this.systems.get(id);
    const before = system.health;
    system.health = status;
    this.history.push([id, this.clock.now(), status]);
    return before;
  }

  /** The systems that depend on `id`. */
  downstreams(id) {
    return this.dependencies.filter(([, target]) => target === id).map(([source]) => source);
  }

  /** The `platform.call` import. */
  call(pluginId, procedure, input) {
    const answer = this.answer(pluginId, procedure, input);
    return JSON.stringify(answer);
  }

  answer(pluginId, procedure, input) {
    switch (`${pluginId}.${procedure}`) {
      case "healthcheck.getSystemHealthStatus": {
        const { systemId } = parse(procedure, input, ["systemId"]);
        const system = this.systems.get(systemId);
        if (!system) throw pluginError("not-found", `system ${JSON.stringify(systemId)}`);
        return { status: system.health };
      }
      case "healthcheck.getHistory": {
        const query = parse(procedure, input, ["systemId", "startDate"]);
        const since = parseInstant("startDate", query.startDate);
        const filter = query.statusFilter ?? [];
        const runs = this.history
          .filter(([s, at, status]) => s === query.systemId && at >= since && (filter.length === 0 || filter.includes(status)))
          .slice(0, query.limit ?? Infinity)
          .map(([, at, status]) => ({ timestamp: rfc3339(at), status }));
        return { runs };
      }
      case "catalog.getSystem": {
        const { systemId } = parse(procedure, input, ["systemId"]);
        const system = this.systems.get(systemId);
        if (!system) throw pluginError("not-found", `system ${JSON.stringify(systemId)}`);
        return { id: systemId, name: system.name };
      }
      case "dependency.getDependencies": {
        const { systemId, direction } = parse(procedure, input, ["systemId", "direction"]);
        const edges = [...this.dependencies]
          .sort(([a, b], [c, d]) => (a === c ? cmp(b, d) : cmp(a, c)))
          .filter(([source, target]) => (direction === "upstream" ? source === systemId : target === systemId))
          .map(([source, target]) => ({ sourceSystemId: source, targetSystemId: target }));
        return { dependencies: edges };
      }
      case "incident.getActiveHealthOverrides": {
        const { systemIds } = parse(procedure, input, ["systemIds"]);
        return { overrides: Object.fromEntries(systemIds.map((id) => [id, []])) };
      }
      case "maintenance.getMaintenanceWindowsForRange": {
        const range = parse(procedure, input, ["systemIds", "from", "to"]);
        parseInstant("from", range.from);
        parseInstant("to", range.to);
        return { maintenances: Object.fromEntries(range.systemIds.map((id) => [id, []])) };
      }
      default:
        throw pluginError("not-found", `platform procedure ${pluginId}.${procedure} is not simulated`);
    }
  }
}

function cmp(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}
