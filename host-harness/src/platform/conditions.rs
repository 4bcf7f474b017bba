//! Automation conditions (host-contract.md §8.1–8.3, §8.5) over entity state.
//!
//! Supported: template expressions (a comparison, or a bare value, over
//! `state.<kind>['<id>'].<field>` / `state.<kind>.<id>.<field>`, numbers, strings, booleans,
//! null), `and` / `or` / `not`, `numeric_state` (strict bounds, null never matches) and the
//! health `state` condition (without `for`). Unlike the original, `state.<kind>` refs are
//! resolved through the entity's `read` wherever a condition is evaluated (decisions §3).

use std::collections::BTreeSet;

use serde_json::Value;

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
    /// A system's health status.
    HealthState {
        /// The system.
        system: String,
        /// The status.
        status: String,
    },
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
                    if !inner["for"].is_null() {
                        return Err(
                            "state.for: durations are not supported by this harness version".into(),
                        );
                    }
                    Ok(Condition::HealthState {
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
                "time" => Err(
                    "time: time-of-day conditions are not supported by this harness version".into(),
                ),
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
        }
    }
    let mut out = BTreeSet::new();
    walk(condition, &mut out);
    out
}

/// Evaluates `condition`, reading entity state through `resolve(kind, id)`.
pub fn evaluate(condition: &Condition, resolve: &dyn Fn(&str, &str) -> Option<Value>) -> bool {
    match condition {
        Condition::Expr(e) => truthy(&value_of(e, resolve)),
        Condition::And(items) => items.iter().all(|c| evaluate(c, resolve)),
        Condition::Or(items) => items.iter().any(|c| evaluate(c, resolve)),
        Condition::Not(inner) => !evaluate(inner, resolve),
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
        Condition::HealthState { system, status } => {
            resolve("health", system).is_some_and(|s| s["status"].as_str() == Some(status.as_str()))
        }
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

    fn holds(condition: Value) -> bool {
        evaluate(&parse(&condition).unwrap(), &world)
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
        assert!(parse(&json!({"time": {"after": "09:00"}})).is_err());
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
