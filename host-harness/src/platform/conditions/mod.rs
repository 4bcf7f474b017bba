//! Automation conditions (host-contract.md §8.1–8.3, §8.5) over entity state.
//!
//! Supported: template expressions (a comparison, or a bare value, over
//! `state.<kind>['<id>'].<field>` / `state.<kind>.<id>.<field>`, numbers, strings, booleans,
//! null), `and` / `or` / `not`, `numeric_state` (strict bounds, null never matches), the health
//! `state` condition with its optional `for` duration, and `time` (see [`time`]). Unlike the
//! original, `state.<kind>` refs are resolved through the entity's `read` wherever a condition
//! is evaluated (decisions §3).
//!
//! A condition can become true through time alone (a `time` window opens, a status has now
//! been held long enough). [`next_change`] answers the first instant at which that can
//! happen, so that the engine re-evaluates exactly then instead of polling.

pub mod time;

use std::collections::BTreeSet;

use serde_json::Value;

pub use time::TimeWindow;

/// What a condition is evaluated against: the instant, entity state, and since when each
/// system has held its current health status.
pub struct Scope<'a> {
    /// The host clock's instant, epoch ms.
    pub now_ms: i64,
    /// An entity's current state by kind and id.
    pub resolve: &'a dyn Fn(&str, &str) -> Option<Value>,
    /// Since when (epoch ms) a system has held its current health status.
    pub health_since: &'a dyn Fn(&str) -> Option<i64>,
}

/// A duration as the spec writes one: `{seconds}`, `{minutes}`, `{hours}` or `{template}`
/// (an expression that renders to seconds).
#[derive(Debug, Clone, PartialEq)]
pub enum Duration {
    /// A fixed length, in ms.
    Fixed(i64),
    /// An expression rendering to seconds, evaluated each time it is needed.
    Template(Expr),
}

impl Duration {
    /// Parses `{seconds}`, `{minutes}`, `{hours}` or `{template}`; errors name `field`.
    pub fn parse(value: &Value, field: &str) -> Result<Self, String> {
        let map = value.as_object().filter(|m| m.len() == 1).ok_or(format!(
            "{field}: expected one of {{seconds}}, {{minutes}}, {{hours}} or {{template}}"
        ))?;
        let (unit, amount) = map.iter().next().ok_or(format!("{field}: empty"))?;
        if unit == "template" {
            let text = amount
                .as_str()
                .ok_or(format!("{field}.template: expected an expression"))?;
            return parse_expr(text)
                .map(Duration::Template)
                .map_err(|e| format!("{field}.template: {e}"));
        }
        let scale = match unit.as_str() {
            "seconds" => 1_000.0,
            "minutes" => 60_000.0,
            "hours" => 3_600_000.0,
            other => return Err(format!("{field}.{other}: unknown unit")),
        };
        amount
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0 && *n * scale < 1e15)
            .map(|n| Duration::Fixed((n * scale).round() as i64))
            .ok_or(format!("{field}.{unit}: expected a non-negative number"))
    }

    /// The length in ms, or `None` when a template does not render to a non-negative number.
    pub fn millis(&self, resolve: &dyn Fn(&str, &str) -> Option<Value>) -> Option<i64> {
        match self {
            Duration::Fixed(ms) => Some(*ms),
            Duration::Template(expr) => {
                let seconds = match value_of(expr, resolve) {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                }?;
                (0.0..1e12)
                    .contains(&seconds)
                    .then(|| (seconds * 1000.0).round() as i64)
            }
        }
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A template expression.
    Expr(Expr),
    /// All hold.
    And(Vec<Condition>),
    /// Any holds.
    Or(Vec<Condition>),
    /// Does not hold.
    Not(Box<Condition>),
    /// A numeric value strictly inside the bounds.
    NumericState {
        /// The value (a literal or an expression).
        value: Expr,
        /// Strict lower bound.
        above: Option<f64>,
        /// Strict upper bound.
        below: Option<f64>,
    },
    /// A system's health status, held for at least a duration when one is given.
    HealthState {
        /// The system.
        system: String,
        /// The status.
        status: String,
        /// How long the status must have been held.
        held_for: Option<Duration>,
    },
    /// A time-of-day window and weekdays in a time zone.
    Time(TimeWindow),
}

/// An operand or a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Literal(Value),
    /// `state.<kind>.<id>.<field…>`.
    Path {
        /// Entity kind.
        kind: String,
        /// Entity id.
        id: String,
        /// Field path within the state.
        fields: Vec<String>,
    },
    /// `left op right`.
    Compare(Box<Expr>, String, Box<Expr>),
}

/// Parses a condition from its JSON form.
pub fn parse(value: &Value) -> Result<Condition, String> {
    match value {
        Value::String(text) => parse_expr(text).map(Condition::Expr),
        Value::Object(map) if map.len() == 1 => {
            let (key, inner) = map.iter().next().ok_or("empty condition")?;
            match key.as_str() {
                "and" | "or" => {
                    let items = inner
                        .as_array()
                        .ok_or(format!("{key}: expected an array"))?;
                    let parsed = items.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
                    Ok(if key == "and" {
                        Condition::And(parsed)
                    } else {
                        Condition::Or(parsed)
                    })
                }
                "not" => Ok(Condition::Not(Box::new(parse(inner)?))),
                "numeric_state" => {
                    let value = match &inner["value"] {
                        Value::String(s) => parse_expr(s)?,
                        Value::Number(n) => Expr::Literal(Value::Number(n.clone())),
                        _ => {
                            return Err(
                                "numeric_state.value: expected a number or an expression".into()
                            )
                        }
                    };
                    let bound = |k: &str| match &inner[k] {
                        Value::Null => Ok(None),
                        v => v
                            .as_f64()
                            .map(Some)
                            .ok_or(format!("numeric_state.{k}: expected a number")),
                    };
                    let (above, below) = (bound("above")?, bound("below")?);
                    if above.is_none() && below.is_none() {
                        return Err("numeric_state: needs above, below or both".into());
                    }
                    Ok(Condition::NumericState {
                        value,
                        above,
                        below,
                    })
                }
                "state" => {
                    let held_for = match &inner["for"] {
                        Value::Null => None,
                        value => Some(Duration::parse(value, "state.for")?),
                    };
                    Ok(Condition::HealthState {
                        held_for,
                        system: inner["entity"]
                            .as_str()
                            .ok_or("state.entity: required string")?
                            .to_owned(),
                        status: inner["status"]
                            .as_str()
                            .ok_or("state.status: required string")?
                            .to_owned(),
                    })
                }
                "time" => TimeWindow::parse(inner).map(Condition::Time),
                other => Err(format!("unknown condition {other:?}")),
            }
        }
        _ => Err("a condition is a template string or an object with one key".into()),
    }
}

const OPERATORS: [&str; 6] = ["==", "!=", "<=", ">=", "<", ">"];

/// Parses a template expression: one operand, or `operand op operand`.
pub fn parse_expr(text: &str) -> Result<Expr, String> {
    let text = text.trim();
    if text.contains("{{") {
        return Err(format!(
            "{text:?}: write the bare expression, without {{{{ }}}}"
        ));
    }
    let mut in_quote: Option<char> = None;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        match (in_quote, c) {
            (Some(q), c) if c == q => in_quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => in_quote = Some(c),
            (None, _) => {
                if let Some(op) = OPERATORS.iter().find(|op| text[at..].starts_with(**op)) {
                    // `<` must not be the first half of `<=` seen at the next index
                    let _ = i;
                    let left = parse_operand(&text[..at])?;
                    let right = parse_operand(&text[at + op.len()..])?;
                    return Ok(Expr::Compare(
                        Box::new(left),
                        (*op).to_owned(),
                        Box::new(right),
                    ));
                }
            }
        }
    }
    parse_operand(text)
}

fn parse_operand(text: &str) -> Result<Expr, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty operand".into());
    }
    if let Some(rest) = t.strip_prefix("state") {
        return parse_path(rest).map_err(|e| format!("{t:?}: {e}"));
    }
    if (t.starts_with('\'') && t.ends_with('\'') || t.starts_with('"') && t.ends_with('"'))
        && t.len() >= 2
    {
        return Ok(Expr::Literal(Value::String(t[1..t.len() - 1].to_owned())));
    }
    serde_json::from_str::<Value>(t)
        .ok()
        .filter(|v| !v.is_object() && !v.is_array())
        .map(Expr::Literal)
        .ok_or(format!("{t:?}: expected state.<kind>.<id>.<field>, a number, a quoted string, true, false or null"))
}

fn parse_path(mut rest: &str) -> Result<Expr, String> {
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let ident = &r[..end];
            if ident.is_empty()
                || !ident
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!("bad segment {ident:?}"));
            }
            segments.push(ident.to_owned());
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let quote = r
                .chars()
                .next()
                .filter(|c| *c == '\'' || *c == '"')
                .ok_or("dynamic ids are not supported")?;
            let close = r[1..].find(quote).ok_or("unterminated quoted id")? + 1;
            segments.push(r[1..close].to_owned());
            rest = r[close + 1..].strip_prefix(']').ok_or("expected ]")?;
        } else {
            return Err(format!("unexpected {rest:?}"));
        }
    }
    if segments.len() < 3 {
        return Err("expected state.<kind>.<id>.<field>".into());
    }
    let fields = segments.split_off(2);
    Ok(Expr::Path {
        kind: segments[0].clone(),
        id: segments[1].clone(),
        fields,
    })
}

/// The entity refs a condition reads, as `<kind>:<id>` (health conditions as `health:<id>`).
pub fn wake_refs(condition: &Condition) -> BTreeSet<String> {
    fn expr(e: &Expr, out: &mut BTreeSet<String>) {
        match e {
            Expr::Path { kind, id, .. } => {
                out.insert(format!("{kind}:{id}"));
            }
            Expr::Compare(l, _, r) => {
                expr(l, out);
                expr(r, out);
            }
            Expr::Literal(_) => {}
        }
    }
    fn walk(c: &Condition, out: &mut BTreeSet<String>) {
        match c {
            Condition::Expr(e) | Condition::NumericState { value: e, .. } => expr(e, out),
            Condition::And(items) | Condition::Or(items) => items.iter().for_each(|i| walk(i, out)),
            Condition::Not(inner) => walk(inner, out),
            Condition::HealthState { system, .. } => {
                out.insert(format!("health:{system}"));
            }
            Condition::Time(_) => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(condition, &mut out);
    out
}

/// Evaluates `condition` in `scope`.
pub fn evaluate(condition: &Condition, scope: &Scope<'_>) -> bool {
    let resolve = scope.resolve;
    match condition {
        Condition::Expr(e) => truthy(&value_of(e, resolve)),
        Condition::And(items) => items.iter().all(|c| evaluate(c, scope)),
        Condition::Or(items) => items.iter().any(|c| evaluate(c, scope)),
        Condition::Not(inner) => !evaluate(inner, scope),
        Condition::NumericState {
            value,
            above,
            below,
        } => {
            let n = match value_of(value, resolve) {
                Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
                Value::String(s) if !s.trim().is_empty() => {
                    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
                }
                _ => None,
            };
            match n {
                None => false,
                Some(v) => above.is_none_or(|a| v > a) && below.is_none_or(|b| v < b),
            }
        }
        Condition::HealthState {
            system,
            status,
            held_for,
        } => {
            in_status(scope, system, status)
                && match held_for {
                    None => true,
                    Some(duration) => {
                        match (duration.millis(resolve), (scope.health_since)(system)) {
                            (Some(ms), Some(since)) => scope.now_ms - since >= ms,
                            _ => false,
                        }
                    }
                }
        }
        Condition::Time(window) => window.holds(scope.now_ms),
    }
}

/// Whether `system`'s health entity has `status` now.
fn in_status(scope: &Scope<'_>, system: &str, status: &str) -> bool {
    (scope.resolve)("health", system).is_some_and(|s| s["status"].as_str() == Some(status))
}

/// The first instant after `scope.now_ms` at which `condition` may change through time alone
/// (no entity change): a `time` window's next boundary, or the instant a `state` condition's
/// status will have been held for its duration. `None`: only an entity change can change it.
/// Conservative for combinations: it answers the earliest instant any part may change.
pub fn next_change(condition: &Condition, scope: &Scope<'_>) -> Option<i64> {
    match condition {
        Condition::Expr(_) | Condition::NumericState { .. } => None,
        Condition::And(items) | Condition::Or(items) => {
            items.iter().filter_map(|c| next_change(c, scope)).min()
        }
        Condition::Not(inner) => next_change(inner, scope),
        Condition::HealthState {
            system,
            status,
            held_for: Some(duration),
        } => {
            let since = (scope.health_since)(system)?;
            let ms = duration.millis(scope.resolve)?;
            let due = since.checked_add(ms)?;
            (in_status(scope, system, status) && due > scope.now_ms).then_some(due)
        }
        Condition::HealthState { held_for: None, .. } => None,
        Condition::Time(window) => window.next_change(scope.now_ms),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn value_of(e: &Expr, resolve: &dyn Fn(&str, &str) -> Option<Value>) -> Value {
    match e {
        Expr::Literal(v) => v.clone(),
        Expr::Path { kind, id, fields } => {
            let state = resolve(kind, id).unwrap_or(Value::Null);
            fields
                .iter()
                .fold(state, |v, f| v.get(f).cloned().unwrap_or(Value::Null))
        }
        Expr::Compare(l, op, r) => {
            let (a, b) = (value_of(l, resolve), value_of(r, resolve));
            let ordered = match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => match (a.as_str(), b.as_str()) {
                    (Some(x), Some(y)) => Some(x.cmp(y)),
                    _ => None,
                },
            };
            let equal = match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x == y,
                _ => a == b,
            };
            Value::Bool(match op.as_str() {
                "==" => equal,
                "!=" => !equal,
                "<" => ordered == Some(std::cmp::Ordering::Less),
                ">" => ordered == Some(std::cmp::Ordering::Greater),
                "<=" => matches!(
                    ordered,
                    Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                ),
                _ => matches!(
                    ordered,
                    Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn world(kind: &str, id: &str) -> Option<Value> {
        match (kind, id) {
            ("slo", "payments-slo") => Some(
                json!({"budgetRemainingPercent": 19.5, "currentStreak": 0, "budgetState": "critical"}),
            ),
            ("slo", "obj1") => Some(json!({"budgetRemainingPercent": null})),
            ("health", "api") => Some(json!({"status": "degraded"})),
            _ => None,
        }
    }

    fn scope_at(now_ms: i64) -> Scope<'static> {
        Scope {
            now_ms,
            resolve: &world,
            health_since: &|system| (system == "api").then_some(1_000_000),
        }
    }

    fn holds(condition: Value) -> bool {
        evaluate(&parse(&condition).unwrap(), &scope_at(1_000_000))
    }

    #[test]
    fn numeric_state_is_strict_and_null_never_matches() {
        assert!(holds(
            json!({"numeric_state": {"value": "state.slo['payments-slo'].budgetRemainingPercent", "below": 20}})
        ));
        assert!(!holds(
            json!({"numeric_state": {"value": "state.slo['payments-slo'].budgetRemainingPercent", "below": 19.5}})
        ));
        assert!(holds(
            json!({"numeric_state": {"value": "state.slo['payments-slo'].budgetRemainingPercent", "above": 10, "below": 20}})
        ));
        assert!(!holds(
            json!({"numeric_state": {"value": "state.slo.obj1.budgetRemainingPercent", "below": 100}})
        ));
        assert!(!holds(
            json!({"numeric_state": {"value": "state.slo.missing.budgetRemainingPercent", "below": 100}})
        ));
        assert!(
            parse(&json!({"numeric_state": {"value": 1}})).is_err(),
            "a bound is required"
        );
    }

    #[test]
    fn expressions_and_combinators() {
        assert!(holds(json!("state.slo['payments-slo'].currentStreak == 0")));
        assert!(holds(json!(
            "state.slo['payments-slo'].budgetState == 'critical'"
        )));
        assert!(holds(
            json!({"and": ["state.slo['payments-slo'].currentStreak <= 0", {"not": "state.slo.missing.x == 1"}]})
        ));
        assert!(holds(
            json!({"or": ["false", {"state": {"entity": "api", "status": "degraded"}}]})
        ));
        assert!(parse(&json!("{{ state.slo.x.y }}")).is_err());
        assert!(parse(&json!({"time": {"after": "09:00", "timezone": "Nowhere/Else"}})).is_err());
    }

    #[test]
    fn a_held_status_turns_true_when_its_duration_is_up() {
        // api has been degraded since 1 000 000 ms
        let condition = parse(
            &json!({"state": {"entity": "api", "status": "degraded", "for": {"minutes": 10}}}),
        )
        .unwrap();
        let due = 1_000_000 + 600_000;
        assert!(!evaluate(&condition, &scope_at(due - 1)));
        assert_eq!(next_change(&condition, &scope_at(due - 1)), Some(due));
        assert!(evaluate(&condition, &scope_at(due)));
        assert_eq!(next_change(&condition, &scope_at(due)), None);
        let template =
            parse(&json!({"state": {"entity": "api", "status": "degraded", "for": {"template": "state.slo['payments-slo'].currentStreak"}}}))
                .unwrap();
        assert!(evaluate(&template, &scope_at(1_000_000)), "0 seconds");
        let unrenderable =
            parse(&json!({"state": {"entity": "api", "status": "degraded", "for": {"template": "state.slo.obj1.budgetRemainingPercent"}}}))
                .unwrap();
        assert!(!evaluate(&unrenderable, &scope_at(2_000_000)));
        for bad in [
            json!({"minutes": -1}),
            json!({"days": 1}),
            json!({"seconds": 1, "minutes": 1}),
        ] {
            let error =
                parse(&json!({"state": {"entity": "api", "status": "degraded", "for": bad}}))
                    .expect_err("refused");
            assert!(error.starts_with("state.for"), "{error}");
        }
    }

    #[test]
    fn wake_refs_name_the_entities_read() {
        let c = parse(&json!({"and": [
            {"numeric_state": {"value": "state.slo['payments-slo'].budgetRemainingPercent", "below": 20}},
            {"state": {"entity": "api", "status": "unhealthy"}},
            "state.slo.obj1.currentStreak == 0"
        ]}))
        .unwrap();
        let refs: Vec<String> = wake_refs(&c).into_iter().collect();
        assert_eq!(refs, ["health:api", "slo:obj1", "slo:payments-slo"]);
    }
}
