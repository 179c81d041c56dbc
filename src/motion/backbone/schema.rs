//! Schema validation of a raw `GenerateRequest`, error for error as the reference server's pydantic models
//! report it (docs/mmcp.md#server-checks step 6): lax numbers (`4.0`, `"4"`, `true` are
//! integers), every unknown key refused (`extra_forbidden`), errors collected in field order with the union
//! tag inside the `loc` path, model-level rules (skeleton topology, cross-field rules, equal lengths) only
//! once a model's own fields are valid.
//!
//! serde alone cannot do this: it stops at the first error, does not coerce, and cannot say `loc`. The output
//! is the body normalised to strict JSON types, which then deserialises into [`crate::motion::wire`] types.

use serde_json::{Map, Value, json};

type Loc = Vec<Value>;

fn at(loc: &[Value], key: impl Into<Value>) -> Loc {
    let mut l = loc.to_vec();
    l.push(key.into());
    l
}

/// Python's `repr` of a string, which the reference server puts in its messages.
pub(crate) fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

#[derive(Default)]
struct Errors(Vec<Value>);

impl Errors {
    fn push(&mut self, loc: &[Value], kind: &str, msg: impl Into<String>, ctx: Option<Value>) {
        let mut e = json!({"type": kind, "loc": loc, "msg": msg.into()});
        if let Some(ctx) = ctx {
            e["ctx"] = ctx;
        }
        self.0.push(e);
    }

    fn value_error(&mut self, loc: &[Value], msg: &str) {
        self.push(
            loc,
            "value_error",
            format!("Value error, {msg}"),
            Some(json!({"error": msg})),
        );
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

#[derive(Clone, Copy)]
enum IntRange {
    /// Counts: stored as u32 on the typed side.
    U32,
    I64,
}

#[derive(Clone, Copy, Default)]
struct Bounds {
    gt: Option<i64>,
    ge: Option<i64>,
    le: Option<i64>,
}

fn int(e: &mut Errors, v: &Value, loc: &[Value], b: Bounds, range: IntRange) -> Option<Value> {
    let parsed: Result<i128, (&str, &str)> = match v {
        Value::Bool(x) => Ok(i128::from(*x)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !f.is_finite() {
                    Err(("finite_number", "Input should be a finite number"))
                } else if f.fract() != 0.0 {
                    Err((
                        "int_from_float",
                        "Input should be a valid integer, got a number with a fractional part",
                    ))
                } else {
                    Ok(f.clamp(-1e30, 1e30) as i128)
                }
            }
        }
        Value::String(s) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i128>() {
                Ok(i)
            } else if t.len() > 4300 && t.bytes().all(|c| c.is_ascii_digit()) {
                Err((
                    "int_parsing_size",
                    "Unable to parse input string as an integer, exceeded maximum size",
                ))
            } else {
                match t.parse::<f64>() {
                    Ok(f)
                        if f.is_finite()
                            && f.fract() == 0.0
                            && !t.contains(['e', 'E', 'i', 'n', 'N', 'I']) =>
                    {
                        Ok(f as i128)
                    }
                    _ => Err((
                        "int_parsing",
                        "Input should be a valid integer, unable to parse string as an integer",
                    )),
                }
            }
        }
        _ => Err(("int_type", "Input should be a valid integer")),
    };
    let i = match parsed {
        Ok(i) => i,
        Err((kind, msg)) => {
            e.push(loc, kind, msg, None);
            return None;
        }
    };
    if let Some(gt) = b.gt
        && i <= i128::from(gt)
    {
        e.push(
            loc,
            "greater_than",
            format!("Input should be greater than {gt}"),
            Some(json!({"gt": gt})),
        );
        return None;
    }
    if let Some(ge) = b.ge
        && i < i128::from(ge)
    {
        let msg = format!("Input should be greater than or equal to {ge}");
        e.push(loc, "greater_than_equal", msg, Some(json!({"ge": ge})));
        return None;
    }
    if let Some(le) = b.le
        && i > i128::from(le)
    {
        let msg = format!("Input should be less than or equal to {le}");
        e.push(loc, "less_than_equal", msg, Some(json!({"le": le})));
        return None;
    }
    // Python integers are unbounded; the typed side is not. Saturating keeps the meaning of every
    // later check (a huge duration is still too long, a huge frame still out of range).
    Some(match range {
        IntRange::U32 => json!(i.clamp(0, i128::from(u32::MAX)) as u32),
        IntRange::I64 => json!(i.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64),
    })
}

#[derive(Clone, Copy, Default)]
struct FloatRule {
    gt: Option<f64>,
    ge: Option<f64>,
}

fn float(e: &mut Errors, v: &Value, loc: &[Value], rule: FloatRule) -> Option<Value> {
    let f = match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) => f,
            Err(_) => {
                e.push(
                    loc,
                    "float_parsing",
                    "Input should be a valid number, unable to parse string as a number",
                    None,
                );
                return None;
            }
        },
        _ => {
            e.push(loc, "float_type", "Input should be a valid number", None);
            return None;
        }
    };
    if !f.is_finite() {
        // JSON has no NaN/Infinity; only a string can say "nan". Refused everywhere (stricter than the
        // reference server, which lets some through and then fails to encode them).
        e.push(
            loc,
            "finite_number",
            "Input should be a finite number",
            None,
        );
        return None;
    }
    if let Some(gt) = rule.gt
        && f <= gt
    {
        e.push(
            loc,
            "greater_than",
            format!("Input should be greater than {gt}"),
            Some(json!({"gt": gt})),
        );
        return None;
    }
    if let Some(ge) = rule.ge
        && f < ge
    {
        let msg = format!("Input should be greater than or equal to {ge}");
        e.push(loc, "greater_than_equal", msg, Some(json!({"ge": ge})));
        return None;
    }
    Some(json!(f))
}

fn boolean(e: &mut Errors, v: &Value, loc: &[Value]) -> Option<Value> {
    let b = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => None,
        },
        _ => {
            e.push(loc, "bool_type", "Input should be a valid boolean", None);
            return None;
        }
    };
    if b.is_none() {
        e.push(
            loc,
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
            None,
        );
    }
    b.map(Value::Bool)
}

#[derive(Clone, Copy, Default)]
struct StrRule {
    min: Option<usize>,
    max: Option<usize>,
}

fn string(e: &mut Errors, v: &Value, loc: &[Value], rule: StrRule) -> Option<Value> {
    let Value::String(s) = v else {
        e.push(loc, "string_type", "Input should be a valid string", None);
        return None;
    };
    let n = s.chars().count();
    if let Some(min) = rule.min
        && n < min
    {
        let unit = if min == 1 { "character" } else { "characters" };
        let msg = format!("String should have at least {min} {unit}");
        e.push(
            loc,
            "string_too_short",
            msg,
            Some(json!({"min_length": min})),
        );
        return None;
    }
    if let Some(max) = rule.max
        && n > max
    {
        let msg = format!("String should have at most {max} characters");
        e.push(
            loc,
            "string_too_long",
            msg,
            Some(json!({"max_length": max})),
        );
        return None;
    }
    Some(v.clone())
}

fn literal(e: &mut Errors, v: &Value, loc: &[Value], allowed: &[&str]) -> Option<Value> {
    if let Value::String(s) = v
        && allowed.contains(&s.as_str())
    {
        return Some(v.clone());
    }
    let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    let expected = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    };
    e.push(
        loc,
        "literal_error",
        format!("Input should be {expected}"),
        Some(json!({"expected": expected})),
    );
    None
}

fn list<'a>(e: &mut Errors, v: &'a Value, loc: &[Value], min: usize) -> Option<&'a Vec<Value>> {
    let Value::Array(items) = v else {
        e.push(loc, "list_type", "Input should be a valid list", None);
        return None;
    };
    if items.len() < min {
        let unit = if min == 1 { "item" } else { "items" };
        let msg = format!(
            "List should have at least {min} {unit} after validation, not {}",
            items.len()
        );
        let ctx = json!({"field_type": "List", "min_length": min, "actual_length": items.len()});
        e.push(loc, "too_short", msg, Some(ctx));
        return None;
    }
    Some(items)
}

/// `list[T]` with each item validated by `item`.
fn list_of(
    e: &mut Errors,
    v: &Value,
    loc: &[Value],
    min: usize,
    mut item: impl FnMut(&mut Errors, &Value, &[Value]) -> Option<Value>,
) -> Option<Value> {
    let items = list(e, v, loc, min)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, x) in items.iter().enumerate() {
        match item(e, x, &at(loc, i)) {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    ok.then_some(Value::Array(out))
}

/// A fixed-size tuple of floats (`Vec2`, `Vec3`, `Quaternion`).
fn tuple(e: &mut Errors, v: &Value, loc: &[Value], n: usize) -> Option<Value> {
    let Value::Array(items) = v else {
        e.push(loc, "tuple_type", "Input should be a valid tuple", None);
        return None;
    };
    if items.len() > n {
        let msg = format!(
            "Tuple should have at most {n} items after validation, not {}",
            items.len()
        );
        let ctx = json!({"field_type": "Tuple", "max_length": n, "actual_length": items.len()});
        e.push(loc, "too_long", msg, Some(ctx));
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let mut ok = true;
    for i in 0..n {
        match items.get(i) {
            Some(x) => match float(e, x, &at(loc, i), FloatRule::default()) {
                Some(x) => out.push(x),
                None => ok = false,
            },
            None => {
                e.push(&at(loc, i), "missing", "Field required", None);
                ok = false;
            }
        }
    }
    ok.then_some(Value::Array(out))
}

/// A pydantic model with `extra="forbid"`: fields in declaration order, then the unknown keys.
struct Model<'a> {
    obj: &'a Map<String, Value>,
    loc: Loc,
    out: Map<String, Value>,
    start_errors: usize,
    ok: bool,
}

impl<'a> Model<'a> {
    fn open(e: &mut Errors, v: &'a Value, loc: &[Value], class: &str) -> Option<Model<'a>> {
        let Value::Object(obj) = v else {
            let msg = format!("Input should be a valid dictionary or instance of {class}");
            e.push(loc, "model_type", msg, Some(json!({"class_name": class})));
            return None;
        };
        Some(Model {
            obj,
            loc: loc.to_vec(),
            out: Map::new(),
            start_errors: e.len(),
            ok: true,
        })
    }

    /// A required field.
    fn req(
        &mut self,
        e: &mut Errors,
        name: &str,
        f: impl FnOnce(&mut Errors, &Value, &[Value]) -> Option<Value>,
    ) {
        match self.obj.get(name) {
            None => {
                e.push(&at(&self.loc, name), "missing", "Field required", None);
                self.ok = false;
            }
            Some(v) => self.keep(name, f(e, v, &at(&self.loc, name))),
        }
    }

    /// An optional field (absent, or `null` when `nullable`).
    fn opt(
        &mut self,
        e: &mut Errors,
        name: &str,
        nullable: bool,
        f: impl FnOnce(&mut Errors, &Value, &[Value]) -> Option<Value>,
    ) {
        match self.obj.get(name) {
            None => {}
            Some(Value::Null) if nullable => {}
            Some(v) => self.keep(name, f(e, v, &at(&self.loc, name))),
        }
    }

    fn keep(&mut self, name: &str, v: Option<Value>) {
        match v {
            Some(v) => {
                self.out.insert(name.to_string(), v);
            }
            None => self.ok = false,
        }
    }

    /// Refuse unknown keys; `Some(fields)` when the model is valid so far (its own rules may run).
    fn close(mut self, e: &mut Errors, fields: &[&str]) -> Option<(Map<String, Value>, Loc)> {
        for key in self.obj.keys() {
            if !fields.contains(&key.as_str()) {
                e.push(
                    &at(&self.loc, key.as_str()),
                    "extra_forbidden",
                    "Extra inputs are not permitted",
                    None,
                );
                self.ok = false;
            }
        }
        (self.ok && e.len() == self.start_errors).then_some((self.out, self.loc))
    }
}

fn joint(e: &mut Errors, v: &Value, loc: &[Value]) -> Option<Value> {
    let mut m = Model::open(e, v, loc, "Joint")?;
    m.req(e, "name", |e, v, l| {
        string(
            e,
            v,
            l,
            StrRule {
                min: Some(1),
                max: Some(128),
            },
        )
    });
    m.opt(e, "parent", true, |e, v, l| {
        string(e, v, l, StrRule::default())
    });
    m.req(e, "rest_translation", |e, v, l| tuple(e, v, l, 3));
    m.req(e, "rest_rotation", |e, v, l| tuple(e, v, l, 4));
    m.opt(e, "display_name", true, |e, v, l| {
        string(
            e,
            v,
            l,
            StrRule {
                min: None,
                max: Some(256),
            },
        )
    });
    let (out, _) = m.close(
        e,
        &[
            "name",
            "parent",
            "rest_translation",
            "rest_rotation",
            "display_name",
        ],
    )?;
    Some(Value::Object(out))
}

fn skeleton(e: &mut Errors, v: &Value, loc: &[Value]) -> Option<Value> {
    let mut m = Model::open(e, v, loc, "Skeleton")?;
    m.req(e, "joints", |e, v, l| list_of(e, v, l, 1, joint));
    m.opt(e, "coordinate_system", false, |e, v, l| {
        literal(e, v, l, &["right_handed_y_up"])
    });
    m.opt(e, "units", false, |e, v, l| literal(e, v, l, &["meters"]));
    let (out, loc) = m.close(e, &["joints", "coordinate_system", "units"])?;
    // Topology (a 400 invalid_skeleton, not a 422), in the reference order of checks.
    let joints = out
        .get("joints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = joints.iter().filter_map(|j| j["name"].as_str()).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    let topology = |e: &mut Errors, msg: String| e.push(&loc, "invalid_skeleton", msg, None);
    if unique.len() != names.len() {
        topology(e, "joint names must be unique within the skeleton".into());
        return None;
    }
    let roots = joints.iter().filter(|j| j["parent"].is_null()).count();
    if roots != 1 {
        topology(
            e,
            format!("exactly one joint must have parent=null; got {roots}"),
        );
        return None;
    }
    let mut seen: Vec<&str> = Vec::new();
    for j in &joints {
        let name = j["name"].as_str().unwrap_or_default();
        if let Some(parent) = j["parent"].as_str()
            && !seen.contains(&parent)
        {
            let msg = format!(
                "joint {} references parent {} that is not defined or appears later in the joints list",
                py_repr(name),
                py_repr(parent)
            );
            topology(e, msg);
            return None;
        }
        seen.push(name);
    }
    Some(Value::Object(out))
}

const SEGMENT_TAGS: [&str; 5] = [
    "text",
    "unconditioned",
    "pose",
    "motion_reference",
    "video_reference",
];
const CONSTRAINT_TAGS: [&str; 4] = [
    "root_path",
    "effector_target",
    "pose_keyframe",
    "ground_height",
];

/// A discriminated union member: find the tag, then validate as that model with the tag in the `loc`.
fn tagged(
    e: &mut Errors,
    v: &Value,
    loc: &[Value],
    tags: &[&'static str],
) -> Option<(&'static str, Loc)> {
    let Value::Object(obj) = v else {
        e.push(
            loc,
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
            None,
        );
        return None;
    };
    let Some(tag) = obj.get("type") else {
        let ctx = json!({"discriminator": "'type'"});
        e.push(
            loc,
            "union_tag_not_found",
            "Unable to extract tag using discriminator 'type'",
            Some(ctx),
        );
        return None;
    };
    let tag_text = match tag {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match tags.iter().find(|t| **t == tag_text) {
        Some(t) => Some((t, at(loc, *t))),
        None => {
            let expected: Vec<String> = tags.iter().map(|t| format!("'{t}'")).collect();
            let expected = expected.join(", ");
            let msg = format!(
                "Input tag '{tag_text}' found using 'type' does not match any of the expected tags: {expected}"
            );
            let ctx =
                json!({"discriminator": "'type'", "tag": tag_text, "expected_tags": expected});
            e.push(loc, "union_tag_invalid", msg, Some(ctx));
            None
        }
    }
}

fn opt_seed(m: &mut Model, e: &mut Errors) {
    m.opt(e, "seed", true, |e, v, l| {
        int(e, v, l, Bounds::default(), IntRange::I64)
    });
}

fn frames_gt0(e: &mut Errors, v: &Value, l: &[Value]) -> Option<Value> {
    int(
        e,
        v,
        l,
        Bounds {
            gt: Some(0),
            ..Bounds::default()
        },
        IntRange::U32,
    )
}

fn prompt(e: &mut Errors, v: &Value, l: &[Value]) -> Option<Value> {
    string(
        e,
        v,
        l,
        StrRule {
            min: Some(1),
            max: None,
        },
    )
}

fn segment(e: &mut Errors, v: &Value, loc: &[Value]) -> Option<Value> {
    let (tag, loc) = tagged(e, v, loc, &SEGMENT_TAGS)?;
    let type_field = |e: &mut Errors, v: &Value, l: &[Value]| literal(e, v, l, &[tag]);
    let finite = FloatRule::default();
    match tag {
        "text" => {
            let mut m = Model::open(e, v, &loc, "TextSegment")?;
            m.req(e, "type", type_field);
            m.req(e, "prompt", prompt);
            m.req(e, "duration_frames", frames_gt0);
            m.opt(e, "language", true, |e, v, l| {
                string(e, v, l, StrRule::default())
            });
            opt_seed(&mut m, e);
            m.close(
                e,
                &["type", "prompt", "duration_frames", "language", "seed"],
            )
            .map(|(o, _)| Value::Object(o))
        }
        "unconditioned" => {
            let mut m = Model::open(e, v, &loc, "UnconditionedSegment")?;
            m.req(e, "type", type_field);
            m.req(e, "duration_frames", frames_gt0);
            opt_seed(&mut m, e);
            m.close(e, &["type", "duration_frames", "seed"])
                .map(|(o, _)| Value::Object(o))
        }
        "pose" => {
            let mut m = Model::open(e, v, &loc, "PoseSegment")?;
            m.req(e, "type", type_field);
            m.req(e, "prompt", prompt);
            m.opt(e, "language", true, |e, v, l| {
                string(e, v, l, StrRule::default())
            });
            m.close(e, &["type", "prompt", "language"])
                .map(|(o, _)| Value::Object(o))
        }
        "motion_reference" => {
            let mut m = Model::open(e, v, &loc, "MotionReferenceSegment")?;
            m.req(e, "type", type_field);
            m.req(e, "duration_frames", frames_gt0);
            m.opt(e, "skeleton", true, skeleton);
            m.req(e, "joint_names", |e, v, l| {
                list_of(e, v, l, 1, |e, v, l| string(e, v, l, StrRule::default()))
            });
            m.req(e, "rotations", |e, v, l| {
                list_of(e, v, l, 2, |e, v, l| {
                    list_of(e, v, l, 0, |e, v, l| tuple(e, v, l, 4))
                })
            });
            m.req(e, "root_positions", |e, v, l| {
                list_of(e, v, l, 2, |e, v, l| tuple(e, v, l, 3))
            });
            m.req(e, "fps", |e, v, l| {
                float(
                    e,
                    v,
                    l,
                    FloatRule {
                        gt: Some(0.0),
                        ..finite
                    },
                )
            });
            opt_seed(&mut m, e);
            let fields = [
                "type",
                "duration_frames",
                "skeleton",
                "joint_names",
                "rotations",
                "root_positions",
                "fps",
                "seed",
            ];
            let (out, loc) = m.close(e, &fields)?;
            let names: Vec<&str> = out["joint_names"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            let rotations = out["rotations"].as_array().cloned().unwrap_or_default();
            let roots = out["root_positions"].as_array().map_or(0, Vec::len);
            if unique.len() != names.len() {
                e.value_error(&loc, "joint_names must be unique");
                return None;
            }
            if roots != rotations.len() {
                let msg = format!(
                    "root_positions must have one entry per frame ({}), got {roots}",
                    rotations.len()
                );
                e.value_error(&loc, &msg);
                return None;
            }
            for (i, frame) in rotations.iter().enumerate() {
                let got = frame.as_array().map_or(0, Vec::len);
                if got != names.len() {
                    let msg = format!(
                        "rotations[{i}] must have one quaternion per joint_names entry ({}), got {got}",
                        names.len()
                    );
                    e.value_error(&loc, &msg);
                    return None;
                }
            }
            Some(Value::Object(out))
        }
        _ => {
            let mut m = Model::open(e, v, &loc, "VideoReferenceSegment")?;
            m.req(e, "type", type_field);
            m.req(e, "duration_frames", frames_gt0);
            m.req(e, "video", video_source);
            m.opt(e, "start_s", true, |e, v, l| {
                float(
                    e,
                    v,
                    l,
                    FloatRule {
                        ge: Some(0.0),
                        ..finite
                    },
                )
            });
            m.opt(e, "end_s", true, |e, v, l| {
                float(
                    e,
                    v,
                    l,
                    FloatRule {
                        gt: Some(0.0),
                        ..finite
                    },
                )
            });
            m.opt(e, "fps", true, |e, v, l| {
                float(
                    e,
                    v,
                    l,
                    FloatRule {
                        gt: Some(0.0),
                        ..finite
                    },
                )
            });
            opt_seed(&mut m, e);
            let (out, loc) = m.close(
                e,
                &[
                    "type",
                    "duration_frames",
                    "video",
                    "start_s",
                    "end_s",
                    "fps",
                    "seed",
                ],
            )?;
            if let (Some(s), Some(end)) = (
                out.get("start_s").and_then(Value::as_f64),
                out.get("end_s").and_then(Value::as_f64),
            ) && s >= end
            {
                e.value_error(
                    &loc,
                    &format!("start_s ({s:?}) must be before end_s ({end:?})"),
                );
                return None;
            }
            Some(Value::Object(out))
        }
    }
}

fn video_source(e: &mut Errors, v: &Value, loc: &[Value]) -> Option<Value> {
    let mut m = Model::open(e, v, loc, "VideoSource")?;
    m.opt(e, "url", true, |e, v, l| {
        string(
            e,
            v,
            l,
            StrRule {
                min: Some(1),
                max: None,
            },
        )
    });
    m.opt(e, "data", true, |e, v, l| {
        string(
            e,
            v,
            l,
            StrRule {
                min: Some(1),
                max: None,
            },
        )
    });
    m.opt(e, "media_type", true, |e, v, l| {
        literal(e, v, l, &["video/mp4", "video/quicktime", "video/webm"])
    });
    let (out, loc) = m.close(e, &["url", "data", "media_type"])?;
    let (url, data) = (
        out.get("url").and_then(Value::as_str),
        out.get("data").and_then(Value::as_str),
    );
    let why = match (url, data) {
        (Some(_), Some(_)) | (None, None) => Some("video needs exactly one of `url` or `data`".to_string()),
        (Some(_), None) if out.contains_key("media_type") => Some("`media_type` goes with `data`, not `url`".into()),
        (Some(u), None) => {
            let lower = u.to_ascii_lowercase();
            if !lower.starts_with("https://") || u.len() <= "https://".len() {
                Some("video.url must be an https URL".into())
            } else if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Some("video.url must not contain whitespace or control characters".into())
            } else {
                None
            }
        }
        (None, Some(d)) if !out.contains_key("media_type") => Some(
            "video.data needs a `media_type`, one of ['video/mp4', 'video/quicktime', 'video/webm']".into(),
        )
        .filter(|_| !d.is_empty()),
        (None, Some(d)) => {
            let alphabet = d.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=');
            (!alphabet || !d.len().is_multiple_of(4))
                .then(|| "video.data must be standard base64 (A-Z a-z 0-9 + /, padded with =, no line breaks)".into())
        }
    };
    if let Some(why) = why {
        e.value_error(&loc, &why);
        return None;
    }
    Some(Value::Object(out))
}

fn int_list(e: &mut Errors, v: &Value, l: &[Value]) -> Option<Value> {
    list_of(e, v, l, 1, |e, v, l| {
        int(e, v, l, Bounds::default(), IntRange::I64)
    })
}

fn constraint(e: &mut Errors, v: &Value, loc: &[Value]) -> Option<Value> {
    let (tag, loc) = tagged(e, v, loc, &CONSTRAINT_TAGS)?;
    let type_field = |e: &mut Errors, v: &Value, l: &[Value]| literal(e, v, l, &[tag]);
    let len_of = |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_array).map(Vec::len);
    match tag {
        "root_path" => {
            let mut m = Model::open(e, v, &loc, "RootPathConstraint")?;
            m.req(e, "type", type_field);
            m.req(e, "frames", int_list);
            m.req(e, "positions_xz", |e, v, l| {
                list_of(e, v, l, 1, |e, v, l| tuple(e, v, l, 2))
            });
            m.opt(e, "heading_radians", true, |e, v, l| {
                list_of(e, v, l, 0, |e, v, l| float(e, v, l, FloatRule::default()))
            });
            let (out, loc) = m.close(e, &["type", "frames", "positions_xz", "heading_radians"])?;
            let n = len_of(&out, "frames").unwrap_or(0);
            let p = len_of(&out, "positions_xz").unwrap_or(0);
            if p != n {
                e.value_error(&loc, &format!("positions_xz must have length {n}, got {p}"));
                return None;
            }
            if let Some(h) = len_of(&out, "heading_radians")
                && h != n
            {
                e.value_error(
                    &loc,
                    &format!("heading_radians must have length {n}, got {h}"),
                );
                return None;
            }
            let frames: Vec<i64> = out["frames"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            if frames.windows(2).any(|w| w[1] <= w[0]) {
                e.value_error(&loc, "frames must be strictly ascending");
                return None;
            }
            Some(Value::Object(out))
        }
        "effector_target" => {
            let mut m = Model::open(e, v, &loc, "EffectorTargetConstraint")?;
            m.req(e, "type", type_field);
            m.req(e, "joint", |e, v, l| string(e, v, l, StrRule::default()));
            m.req(e, "frames", int_list);
            m.req(e, "positions", |e, v, l| {
                list_of(e, v, l, 1, |e, v, l| tuple(e, v, l, 3))
            });
            m.opt(e, "rotations", true, |e, v, l| {
                list_of(e, v, l, 0, |e, v, l| tuple(e, v, l, 4))
            });
            let (out, loc) = m.close(e, &["type", "joint", "frames", "positions", "rotations"])?;
            let n = len_of(&out, "frames").unwrap_or(0);
            let p = len_of(&out, "positions").unwrap_or(0);
            if p != n {
                e.value_error(&loc, &format!("positions must have length {n}, got {p}"));
                return None;
            }
            if let Some(r) = len_of(&out, "rotations")
                && r != n
            {
                e.value_error(&loc, &format!("rotations must have length {n}, got {r}"));
                return None;
            }
            Some(Value::Object(out))
        }
        "pose_keyframe" => {
            let mut m = Model::open(e, v, &loc, "PoseKeyframeConstraint")?;
            m.req(e, "type", type_field);
            m.req(e, "frame", |e, v, l| {
                int(
                    e,
                    v,
                    l,
                    Bounds {
                        ge: Some(0),
                        ..Bounds::default()
                    },
                    IntRange::I64,
                )
            });
            m.req(e, "joint_rotations", |e, v, l| {
                let Value::Object(map) = v else {
                    e.push(l, "dict_type", "Input should be a valid dictionary", None);
                    return None;
                };
                if map.is_empty() {
                    let ctx =
                        json!({"field_type": "Dictionary", "min_length": 1, "actual_length": 0});
                    e.push(
                        l,
                        "too_short",
                        "Dictionary should have at least 1 item after validation, not 0",
                        Some(ctx),
                    );
                    return None;
                }
                let mut out = Map::new();
                let mut ok = true;
                for (k, q) in map {
                    match tuple(e, q, &at(l, k.as_str()), 4) {
                        Some(q) => {
                            out.insert(k.clone(), q);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(Value::Object(out))
            });
            m.opt(e, "root_position", true, |e, v, l| tuple(e, v, l, 3));
            m.opt(e, "fill_mode", false, |e, v, l| {
                literal(e, v, l, &["rest", "generate"])
            });
            let (out, _) = m.close(
                e,
                &[
                    "type",
                    "frame",
                    "joint_rotations",
                    "root_position",
                    "fill_mode",
                ],
            )?;
            Some(Value::Object(out))
        }
        _ => {
            let mut m = Model::open(e, v, &loc, "GroundHeightConstraint")?;
            m.req(e, "type", type_field);
            m.req(e, "points", |e, v, l| {
                list_of(e, v, l, 1, |e, v, l| tuple(e, v, l, 3))
            });
            m.close(e, &["type", "points"])
                .map(|(o, _)| Value::Object(o))
        }
    }
}

fn options(e: &mut Errors, v: &Value, loc: &[Value]) -> Option<Value> {
    let mut m = Model::open(e, v, loc, "Options")?;
    let range = |lo: i64, hi: i64| Bounds {
        ge: Some(lo),
        le: Some(hi),
        gt: None,
    };
    m.opt(e, "diffusion_steps", false, |e, v, l| {
        int(e, v, l, range(1, 500), IntRange::U32)
    });
    m.opt(e, "num_samples", false, |e, v, l| {
        int(e, v, l, range(1, 16), IntRange::U32)
    });
    opt_seed(&mut m, e);
    m.opt(e, "post_processing", false, boolean);
    m.opt(e, "transition_frames", false, |e, v, l| {
        int(e, v, l, range(0, 60), IntRange::U32)
    });
    m.opt(e, "guidance", true, |e, v, l| {
        let mut g = Model::open(e, v, l, "Guidance")?;
        g.req(e, "type", |e, v, l| {
            literal(e, v, l, &["nocfg", "regular", "separated"])
        });
        g.opt(e, "weight", false, |e, v, l| {
            list_of(e, v, l, 0, |e, v, l| float(e, v, l, FloatRule::default()))
        });
        let (out, loc) = g.close(e, &["type", "weight"])?;
        let kind = out["type"].as_str().unwrap_or_default();
        let expected = match kind {
            "nocfg" => 0,
            "regular" => 1,
            _ => 2,
        };
        let got = out
            .get("weight")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if got != expected {
            let msg = format!(
                "guidance.weight must have length {expected} for type={}, got {got}",
                py_repr(kind)
            );
            e.value_error(&loc, &msg);
            return None;
        }
        Some(Value::Object(out))
    });
    m.opt(e, "loop", false, boolean);
    m.opt(e, "keyframe_budget", true, |e, v, l| {
        float(
            e,
            v,
            l,
            FloatRule {
                gt: Some(0.0),
                ge: None,
            },
        )
    });
    m.opt(e, "model_options", true, |e, v, l| {
        if v.is_object() {
            Some(v.clone())
        } else {
            e.push(l, "dict_type", "Input should be a valid dictionary", None);
            None
        }
    });
    let fields = [
        "diffusion_steps",
        "num_samples",
        "seed",
        "post_processing",
        "transition_frames",
        "guidance",
        "loop",
        "keyframe_budget",
        "model_options",
    ];
    m.close(e, &fields).map(|(o, _)| Value::Object(o))
}

/// Validate a raw request. `Ok` holds the body with strict JSON types; `Err` the error list, pydantic style.
pub(crate) fn validate(raw: &Value) -> Result<Value, Vec<Value>> {
    let mut e = Errors::default();
    let Some(mut m) = Model::open(&mut e, raw, &[], "GenerateRequest") else {
        return Err(e.0);
    };
    m.req(&mut e, "protocol_version", |e, v, l| {
        let s = string(e, v, l, StrRule::default())?;
        if super::well_formed_version(s.as_str().unwrap_or_default()) {
            Some(s)
        } else {
            let pattern = r"^\d+\.\d+$";
            let msg = format!("String should match pattern '{pattern}'");
            e.push(
                l,
                "string_pattern_mismatch",
                msg,
                Some(json!({"pattern": pattern})),
            );
            None
        }
    });
    m.req(&mut e, "model", |e, v, l| {
        string(e, v, l, StrRule::default())
    });
    m.req(&mut e, "skeleton", skeleton);
    m.opt(&mut e, "segments", false, |e, v, l| {
        list_of(e, v, l, 0, segment)
    });
    m.opt(&mut e, "constraints", false, |e, v, l| {
        list_of(e, v, l, 0, constraint)
    });
    m.opt(&mut e, "duration_frames", true, frames_gt0);
    m.opt(&mut e, "timing", true, |e, v, l| {
        let mut t = Model::open(e, v, l, "Timing")?;
        t.req(e, "fps", |e, v, l| {
            float(
                e,
                v,
                l,
                FloatRule {
                    gt: Some(0.0),
                    ge: None,
                },
            )
        });
        t.close(e, &["fps"]).map(|(o, _)| Value::Object(o))
    });
    m.opt(&mut e, "options", true, options);
    let fields = [
        "protocol_version",
        "model",
        "skeleton",
        "segments",
        "constraints",
        "duration_frames",
        "timing",
        "options",
    ];
    let Some((out, loc)) = m.close(&mut e, &fields) else {
        return Err(e.0);
    };
    let non_empty = |k: &str| {
        out.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    let (segments, constraints) = (non_empty("segments"), non_empty("constraints"));
    let duration = out.contains_key("duration_frames");
    let rule = if !segments && !constraints {
        Some("at least one of `segments` or `constraints` must be non-empty")
    } else if !segments && !duration {
        Some("`duration_frames` is required when `segments` is empty")
    } else if segments && duration {
        Some("`duration_frames` is forbidden when `segments` is non-empty")
    } else {
        None
    };
    if let Some(rule) = rule {
        e.value_error(&loc, rule);
        return Err(e.0);
    }
    Ok(Value::Object(out))
}
