//! Mapping the syntax tree onto the schema's message types (through `prost-reflect`
//! descriptors): typed values, range checks, enums by name or number, and warnings for
//! fields the schema does not know.

use super::lexer::{parse_error, Pos, Tok};
use super::tree::{Field, Scalar, Value};
use super::Warning;
use crate::error::{Error, Result};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, ReflectMessage, Value as RValue};
use std::collections::HashSet;
use std::fmt;

pub(super) struct Filler<'a> {
    pub(super) file: &'a str,
    pub(super) warnings: Vec<Warning>,
}

/// `parent.name`, or `name` at the top.
pub(super) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// Human name of a field's type for messages.
pub(super) fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => "int32".into(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => "int64".into(),
        Kind::Uint32 | Kind::Fixed32 => "uint32".into(),
        Kind::Uint64 | Kind::Fixed64 => "uint64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
        Kind::Message(m) => format!("message {}", m.full_name()),
        Kind::Enum(e) => format!("enum {}", e.full_name()),
    }
}

impl Filler<'_> {
    pub(super) fn error(&self, pos: Pos, path: &str, detail: impl fmt::Display) -> Error {
        parse_error(self.file, pos, format!("{path}: {detail}"))
    }

    pub(super) fn warn(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.warnings.push(Warning {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub(super) fn fill(
        &mut self,
        msg: &mut DynamicMessage,
        fields: &[Field],
        path: &str,
    ) -> Result<()> {
        let descriptor = msg.descriptor();
        let mut seen = HashSet::new();
        for f in fields {
            let fpath = join(path, &f.name);
            let Some(fd) = descriptor.get_field_by_name(&f.name) else {
                self.warn(
                    f.pos,
                    &fpath,
                    format!(
                        "field `{}` is not in our schema of {}; skipped",
                        f.name,
                        descriptor.full_name()
                    ),
                );
                continue;
            };
            if fd.is_list() {
                let items: &[Value] = match &f.value {
                    Value::List(items, _) => items,
                    one => std::slice::from_ref(one),
                };
                for item in items {
                    let index = msg.get_field(&fd).as_list().map_or(0, |l| l.len());
                    let ipath = match item {
                        Value::Message(sub, _) => format!("{fpath}[{index}]{}", name_suffix(sub)),
                        _ => fpath.clone(),
                    };
                    let v = self.convert(&fd, item, &ipath)?;
                    if let RValue::List(list) = msg.get_field_mut(&fd) {
                        list.push(v);
                    }
                }
            } else if fd.is_map() {
                return Err(self.error(f.pos, &fpath, "map fields are not supported"));
            } else {
                if let Value::List(_, pos) = &f.value {
                    return Err(self.error(
                        *pos,
                        &fpath,
                        "the field is not repeated, a list `[...]` is not allowed",
                    ));
                }
                if !seen.insert(fd.number()) {
                    self.warn(
                        f.pos,
                        &fpath,
                        "non-repeated field given more than once; the last value is used",
                    );
                }
                let v = self.convert(&fd, &f.value, &fpath)?;
                msg.set_field(&fd, v);
            }
        }
        Ok(())
    }

    pub(super) fn convert(
        &mut self,
        fd: &FieldDescriptor,
        value: &Value,
        path: &str,
    ) -> Result<RValue> {
        let kind = fd.kind();
        if let Kind::Message(md) = &kind {
            return match value {
                Value::Message(fields, _) => {
                    let mut sub = DynamicMessage::new(md.clone());
                    self.fill(&mut sub, fields, path)?;
                    Ok(RValue::Message(sub))
                }
                other => Err(self.error(
                    other.pos(),
                    path,
                    format!("expected a message `{{ ... }}` of type {}", md.full_name()),
                )),
            };
        }
        let s = match value {
            Value::Scalar(s) => s,
            other => {
                return Err(self.error(
                    other.pos(),
                    path,
                    format!("expected a {} value, got a message", kind_name(&kind)),
                ))
            }
        };
        let mismatch = |this: &Self| {
            this.error(
                s.pos,
                path,
                format!("expected a {} value, got {s}", kind_name(&kind)),
            )
        };
        Ok(match &kind {
            Kind::Float | Kind::Double => self.float_value(s, path, &kind)?,
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                RValue::I32(self.int_in(s, path, &kind, i32::MIN.into(), i32::MAX.into())? as i32)
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                RValue::I64(self.int_in(s, path, &kind, i64::MIN.into(), i64::MAX.into())? as i64)
            }
            Kind::Uint32 | Kind::Fixed32 => {
                RValue::U32(self.int_in(s, path, &kind, 0, u32::MAX.into())? as u32)
            }
            Kind::Uint64 | Kind::Fixed64 => {
                RValue::U64(self.int_in(s, path, &kind, 0, u64::MAX.into())? as u64)
            }
            Kind::Bool => match (&s.tok, s.negative) {
                (Tok::Ident(t), false) if matches!(t.as_str(), "true" | "True" | "t") => {
                    RValue::Bool(true)
                }
                (Tok::Ident(t), false) if matches!(t.as_str(), "false" | "False" | "f") => {
                    RValue::Bool(false)
                }
                (Tok::Number(n), false) if n == "1" => RValue::Bool(true),
                (Tok::Number(n), false) if n == "0" => RValue::Bool(false),
                _ => return Err(mismatch(self)),
            },
            Kind::String => match &s.tok {
                Tok::Str(b) => RValue::String(
                    String::from_utf8(b.clone())
                        .map_err(|_| self.error(s.pos, path, "the string is not valid UTF-8"))?,
                ),
                _ => return Err(mismatch(self)),
            },
            Kind::Bytes => match &s.tok {
                Tok::Str(b) => RValue::Bytes(prost::bytes::Bytes::from(b.clone())),
                _ => return Err(mismatch(self)),
            },
            Kind::Enum(ed) => match (&s.tok, s.negative) {
                (Tok::Ident(name), false) => match ed.get_value_by_name(name) {
                    Some(v) => RValue::EnumNumber(v.number()),
                    None => {
                        let known: Vec<String> =
                            ed.values().map(|v| v.name().to_string()).collect();
                        return Err(self.error(
                            s.pos,
                            path,
                            format!(
                                "unknown value `{name}` of enum {} (known: {})",
                                ed.full_name(),
                                known.join(", ")
                            ),
                        ));
                    }
                },
                (Tok::Number(_), _) => {
                    let n = self.int_in(s, path, &kind, i32::MIN.into(), i32::MAX.into())? as i32;
                    if ed.get_value(n).is_none() {
                        return Err(self.error(
                            s.pos,
                            path,
                            format!("{n} is not a value of enum {}", ed.full_name()),
                        ));
                    }
                    RValue::EnumNumber(n)
                }
                _ => return Err(mismatch(self)),
            },
            Kind::Message(_) => return Err(mismatch(self)),
        })
    }

    /// A `float` or `double` field's value; a non-finite value is a warning, a finite double
    /// beyond the range of `float` an error.
    fn float_value(&mut self, s: &Scalar, path: &str, kind: &Kind) -> Result<RValue> {
        let Some(v) = self.float(s, path) else {
            return Err(self.error(
                s.pos,
                path,
                format!("expected a {} value, got {s}", kind_name(kind)),
            ));
        };
        if !v.is_finite() {
            self.warn(s.pos, path, format!("non-finite value {v}"));
        }
        if !matches!(kind, Kind::Float) {
            return Ok(RValue::F64(v));
        }
        let f = v as f32;
        if v.is_finite() && !f.is_finite() {
            return Err(self.error(s.pos, path, format!("{s} is out of range for float")));
        }
        Ok(RValue::F32(f))
    }

    /// A float from a number (decimal, exponent, `f` suffix, hex/octal integer) or from
    /// `inf`/`infinity`/`nan`; `None` if `s` is no float.
    pub(super) fn float(&self, s: &Scalar, _path: &str) -> Option<f64> {
        let v = match &s.tok {
            Tok::Ident(t) => match t.to_ascii_lowercase().as_str() {
                "inf" | "infinity" => f64::INFINITY,
                "nan" => f64::NAN,
                _ => return None,
            },
            Tok::Number(t) => {
                if let Some(i) = parse_integer(t) {
                    i as f64
                } else {
                    let body = t.strip_suffix(['f', 'F']).unwrap_or(t);
                    if body.is_empty()
                        || !body
                            .chars()
                            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                    {
                        return None;
                    }
                    body.parse::<f64>().ok()?
                }
            }
            _ => return None,
        };
        Some(if s.negative { -v } else { v })
    }

    /// An integer in `[min, max]`.
    pub(super) fn int_in(
        &self,
        s: &Scalar,
        path: &str,
        kind: &Kind,
        min: i128,
        max: i128,
    ) -> Result<i128> {
        let Tok::Number(t) = &s.tok else {
            return Err(self.error(
                s.pos,
                path,
                format!("expected a {} value, got {s}", kind_name(kind)),
            ));
        };
        let magnitude = parse_integer(t).ok_or_else(|| {
            self.error(
                s.pos,
                path,
                format!("expected an integer ({}), got {s}", kind_name(kind)),
            )
        })?;
        let v = if s.negative {
            -i128::from(magnitude)
        } else {
            i128::from(magnitude)
        };
        if v < min || v > max {
            return Err(self.error(
                s.pos,
                path,
                format!("{s} is out of range for {}", kind_name(kind)),
            ));
        }
        Ok(v)
    }
}

/// Decimal, `0x` hex or `0`-prefixed octal integer literal; `None` if `t` is not one or does
/// not fit 64 bits.
pub(super) fn parse_integer(t: &str) -> Option<u64> {
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// `("conv1")` when a message's fields include `name: "conv1"`, for readable paths.
pub(super) fn name_suffix(fields: &[Field]) -> String {
    fields
        .iter()
        .find_map(|f| match (&f.name[..], &f.value) {
            (
                "name",
                Value::Scalar(Scalar {
                    tok: Tok::Str(s), ..
                }),
            ) => Some(format!("(\"{}\")", String::from_utf8_lossy(s))),
            _ => None,
        })
        .unwrap_or_default()
}
