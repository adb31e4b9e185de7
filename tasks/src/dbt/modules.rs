//! `modules`: the Python modules dbt's Jinja offers, as far as projects and packages use
//! them — `modules.re` (`sub`, `match`, `search`, `findall`, `split`, `escape`,
//! `compile`, `IGNORECASE`) and `modules.datetime` (`date`, `datetime` with `now`,
//! `utcnow`, `strptime`, `fromisoformat`; their fields, `strftime`, `isoformat`,
//! `weekday`, `replace`). Nothing here reaches the file system or the network.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use minijinja::value::{Kwargs, Object, Value};
use minijinja::{Error, ErrorKind, State};
use std::fmt;
use std::sync::Arc;

/// The `modules` global.
pub fn modules() -> Value {
    minijinja::context! {
        re => Value::from_object(Re),
        datetime => minijinja::context! {
            date => Value::from_object(Class::Date),
            datetime => Value::from_object(Class::DateTime),
        },
    }
}

fn fail(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

const IGNORECASE: i64 = 2;

/// A Python pattern as Rust's regex reads it (`(?P<name>` is the same; `\Z` is `\z`).
fn pattern(text: &str, flags: i64) -> Result<regex::Regex, Error> {
    let text = text.replace("\\Z", "\\z");
    regex::RegexBuilder::new(&text)
        .case_insensitive(flags & IGNORECASE != 0)
        .build()
        .map_err(|e| fail(format!("re: the pattern {text:?}: {e}")))
}

/// Python's replacement syntax (`\1`, `\g<name>`) in Rust's (`${1}`, `${name}`).
fn replacement(text: &str) -> String {
    let escaped = text.replace('$', "$$");
    let groups = regex::Regex::new(r"\\(\d+)|\\g<(\w+)>").ok();
    match groups {
        Some(re) => re
            .replace_all(&escaped, |c: &regex::Captures| {
                let name = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
                format!("${{{name}}}")
            })
            .into_owned(),
        None => escaped,
    }
}

#[derive(Debug)]
struct Re;

/// A compiled pattern (`re.compile`).
#[derive(Debug)]
struct Pattern(regex::Regex);

/// What `re.match` / `re.search` found.
#[derive(Debug)]
struct Found(Vec<Option<String>>);

impl Object for Found {
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let group = |i: usize| Value::from(self.0.get(i).cloned().flatten());
        match method {
            "group" => {
                let (index,): (Option<usize>,) = minijinja::value::from_args(args)?;
                Ok(group(index.unwrap_or(0)))
            }
            "groups" => Ok(Value::from(
                (1..self.0.len()).map(group).collect::<Vec<_>>(),
            )),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a match has no method {method}()"),
            )),
        }
    }
}

fn regex_call(re: &regex::Regex, method: &str, args: &[Value]) -> Result<Value, Error> {
    let (text, rest, kwargs): (String, Option<Value>, Kwargs) = match method {
        "sub" => {
            let (repl, text, count, kwargs): (String, String, Option<usize>, Kwargs) =
                minijinja::value::from_args(args)?;
            let _: Option<i64> = kwargs.get("flags")?;
            kwargs.assert_all_used()?;
            let repl = replacement(&repl);
            return Ok(Value::from(match count {
                Some(n) if n > 0 => re.replacen(&text, n, repl.as_str()).into_owned(),
                _ => re.replace_all(&text, repl.as_str()).into_owned(),
            }));
        }
        _ => minijinja::value::from_args(args)?,
    };
    let _: Option<i64> = kwargs.get("flags")?;
    kwargs.assert_all_used()?;
    let _ = rest;
    let found = |c: regex::Captures| {
        Value::from_object(Found(
            c.iter()
                .map(|m| m.map(|m| m.as_str().to_string()))
                .collect(),
        ))
    };
    match method {
        "match" => Ok(re
            .captures(&text)
            .filter(|c| c.get(0).is_some_and(|m| m.start() == 0))
            .map(found)
            .unwrap_or(Value::from(()))),
        "fullmatch" => Ok(re
            .captures(&text)
            .filter(|c| {
                c.get(0)
                    .is_some_and(|m| m.start() == 0 && m.end() == text.len())
            })
            .map(found)
            .unwrap_or(Value::from(()))),
        "search" => Ok(re.captures(&text).map(found).unwrap_or(Value::from(()))),
        "findall" => Ok(Value::from(
            re.captures_iter(&text)
                .map(|c| match c.len() {
                    1 => Value::from(c.get(0).map(|m| m.as_str().to_string())),
                    2 => Value::from(c.get(1).map(|m| m.as_str().to_string())),
                    _ => Value::from(
                        c.iter()
                            .skip(1)
                            .map(|m| m.map(|m| m.as_str().to_string()))
                            .collect::<Vec<_>>(),
                    ),
                })
                .collect::<Vec<_>>(),
        )),
        "split" => Ok(Value::from(
            re.split(&text).map(str::to_string).collect::<Vec<_>>(),
        )),
        _ => Err(Error::new(
            ErrorKind::UnknownMethod,
            format!("re.{method}() is not supported"),
        )),
    }
}

impl Object for Pattern {
    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        regex_call(&self.0, method, args)
    }
}

impl Object for Re {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "IGNORECASE" | "I" => Some(Value::from(IGNORECASE)),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (first, rest) = args
            .split_first()
            .ok_or_else(|| fail(format!("re.{method}() takes a pattern")))?;
        let text = first
            .as_str()
            .ok_or_else(|| fail(format!("re.{method}(): the pattern is a string")))?;
        // Flags as `flags=` or after the string (`re.match(p, s, re.IGNORECASE)`).
        let named = rest
            .last()
            .filter(|v| v.is_kwargs())
            .and_then(|v| v.get_attr("flags").ok())
            .and_then(|f| f.as_i64());
        let positional = match method {
            "compile" => rest.first(),
            "sub" => None,
            _ => rest.get(1),
        }
        .and_then(Value::as_i64);
        let flags = named.or(positional).unwrap_or(0);
        match method {
            "escape" => Ok(Value::from(regex::escape(text))),
            "compile" => Ok(Value::from_object(Pattern(pattern(text, flags)?))),
            _ => regex_call(&pattern(text, flags)?, method, rest),
        }
    }
}

/// `datetime.date` or `datetime.datetime` as a class.
#[derive(Debug, Clone, Copy)]
enum Class {
    Date,
    DateTime,
}

/// A date or a date and time (naive, as dbt's templates mostly use them).
#[derive(Debug, Clone)]
enum When {
    Date(NaiveDate),
    DateTime(NaiveDateTime),
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            When::DateTime(t) if t.nanosecond() == 0 => {
                write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S"))
            }
            When::DateTime(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f")),
        }
    }
}

fn int(args: &[Value], i: usize, default: Option<u32>) -> Result<u32, Error> {
    match args.get(i) {
        Some(v) => v
            .as_i64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                fail(format!(
                    "datetime: argument {} must be a whole number",
                    i + 1
                ))
            }),
        None => default.ok_or_else(|| fail("datetime: year, month and day are needed")),
    }
}

impl Object for Class {
    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let date = NaiveDate::from_ymd_opt(
            i32::try_from(int(args, 0, None)?).unwrap_or(0),
            int(args, 1, None)?,
            int(args, 2, None)?,
        )
        .ok_or_else(|| fail("datetime: no such date"))?;
        Ok(Value::from_object(match **self {
            Class::Date => When::Date(date),
            Class::DateTime => When::DateTime(
                date.and_hms_opt(
                    int(args, 3, Some(0))?,
                    int(args, 4, Some(0))?,
                    int(args, 5, Some(0))?,
                )
                .ok_or_else(|| fail("datetime: no such time"))?,
            ),
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let now = chrono::Utc::now().naive_utc();
        let when = match method {
            "now" | "utcnow" | "today" => match **self {
                Class::Date => When::Date(now.date()),
                Class::DateTime => When::DateTime(now),
            },
            "strptime" => {
                let (text, format): (String, String) = minijinja::value::from_args(args)?;
                match NaiveDateTime::parse_from_str(&text, &format) {
                    Ok(t) => When::DateTime(t),
                    Err(_) => When::DateTime(
                        NaiveDate::parse_from_str(&text, &format)
                            .map_err(|e| fail(format!("strptime({text:?}, {format:?}): {e}")))?
                            .and_time(chrono::NaiveTime::MIN),
                    ),
                }
            }
            "fromisoformat" => {
                let (text,): (String,) = minijinja::value::from_args(args)?;
                let parsed = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
                    .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f"))
                    .or_else(|_| {
                        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                            .map(|d| d.and_time(chrono::NaiveTime::MIN))
                    })
                    .map_err(|e| fail(format!("fromisoformat({text:?}): {e}")))?;
                match **self {
                    Class::Date => When::Date(parsed.date()),
                    Class::DateTime => When::DateTime(parsed),
                }
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!("datetime.{method}() is not supported"),
                ));
            }
        };
        Ok(Value::from_object(when))
    }
}

impl When {
    fn moment(&self) -> NaiveDateTime {
        match self {
            When::Date(d) => d.and_time(chrono::NaiveTime::MIN),
            When::DateTime(t) => *t,
        }
    }
}

impl Object for When {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let t = self.moment();
        Some(Value::from(match key.as_str()? {
            "year" => i64::from(t.year()),
            "month" => i64::from(t.month()),
            "day" => i64::from(t.day()),
            "hour" => i64::from(t.hour()),
            "minute" => i64::from(t.minute()),
            "second" => i64::from(t.second()),
            "microsecond" => i64::from(t.nanosecond() / 1000),
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let t = self.moment();
        match method {
            "strftime" => {
                let (format,): (String,) = minijinja::value::from_args(args)?;
                let mut out = String::new();
                use std::fmt::Write;
                write!(out, "{}", t.format(&format))
                    .map_err(|_| fail(format!("strftime: the format {format:?}")))?;
                Ok(Value::from(out))
            }
            "isoformat" => Ok(Value::from(match &**self {
                When::Date(d) => d.format("%Y-%m-%d").to_string(),
                When::DateTime(t) => t.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
            })),
            "date" => Ok(Value::from_object(When::Date(t.date()))),
            "weekday" => Ok(Value::from(t.weekday().num_days_from_monday())),
            "isoweekday" => Ok(Value::from(t.weekday().number_from_monday())),
            "timestamp" => Ok(Value::from(t.and_utc().timestamp())),
            "replace" => {
                let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
                let get = |k: &str, v: u32| -> Result<u32, Error> {
                    Ok(kwargs.get::<Option<u32>>(k)?.unwrap_or(v))
                };
                let year = kwargs.get::<Option<i32>>("year")?.unwrap_or(t.year());
                let date =
                    NaiveDate::from_ymd_opt(year, get("month", t.month())?, get("day", t.day())?)
                        .ok_or_else(|| fail("replace(): no such date"))?;
                let moment = date
                    .and_hms_opt(
                        get("hour", t.hour())?,
                        get("minute", t.minute())?,
                        get("second", t.second())?,
                    )
                    .ok_or_else(|| fail("replace(): no such time"))?;
                let _: Option<u32> = kwargs.get("microsecond")?;
                kwargs.assert_all_used()?;
                Ok(Value::from_object(match &**self {
                    When::Date(_) => When::Date(moment.date()),
                    When::DateTime(_) => When::DateTime(moment),
                }))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a date has no method {method}()"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_and_datetime_answer_as_pythons_do() {
        let mut env = minijinja::Environment::new();
        env.add_global("modules", modules());
        let out = env
            .render_str(
                "{{ modules.re.sub('[^a-z0-9]+', '_', 'hello world!') }} \
                 {{ modules.re.sub('(a)(b)', '\\\\2\\\\1', 'xaby') }} \
                 {{ modules.re.search('(\\\\d+)', 'v12').group(1) }} \
                 {{ modules.re.match('x', 'ax') is none }} \
                 {{ modules.re.findall('[0-9]', 'a1b2') | join(',') }} \
                 {{ modules.re.compile('ab', modules.re.IGNORECASE).sub('-', 'xAbx') }} \
                 {{ modules.datetime.date(2024, 2, 29) }} \
                 {{ modules.datetime.date(2024, 2, 29).strftime('%d/%m/%Y') }} \
                 {{ modules.datetime.datetime(2024, 1, 2, 3, 4, 5).isoformat() }} \
                 {{ modules.datetime.datetime.strptime('2024-03-01', '%Y-%m-%d').month }} \
                 {{ modules.datetime.date(2024, 1, 1).weekday() }}",
                (),
            )
            .unwrap();
        assert_eq!(
            out,
            "hello_world_ xbay 12 True 1,2 x-x 2024-02-29 29/02/2024 2024-01-02T03:04:05 3 0"
        );
    }
}
