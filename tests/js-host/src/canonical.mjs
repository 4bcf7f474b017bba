// Canonical JSON and the entity diff (host-contract.md §1.4, §1.5), as the Rust host computes
// them: object keys sorted, compact; the diff runs over the union of top-level keys.

/** A value with every object's keys sorted (arrays keep their order). */
export function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sorted(value[key])]),
    );
  }
  return value;
}

/** The canonical text of a value: sorted keys, compact. */
export function canonical(value) {
  return JSON.stringify(sorted(value));
}

/** The diff of `prev` → `next` (either may be null): changed top-level fields and the delta. */
export function diff(prev, next) {
  const before = prev !== null && typeof prev === "object" && !Array.isArray(prev) ? prev : {};
  const after = next !== null && typeof next === "object" && !Array.isArray(next) ? next : {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changedFields = keys.filter((key) => {
    const a = key in before ? canonical(before[key]) : undefined;
    const b = key in after ? canonical(after[key]) : undefined;
    return a !== b;
  });
  const delta = next === null ? {} : Object.fromEntries(changedFields.map((key) => [key, key in after ? after[key] : null]));
  return { changedFields, delta };
}
