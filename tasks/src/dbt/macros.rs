//! A project's macros as dbt calls them: every macro of every file in `macro-paths` is a
//! global, callable by its bare name from models, tests, hooks and other macros, and
//! `return(value)` makes a call give that value (a list, a map, a bool...) instead of
//! the text it rendered.
//!
//! How: each macro file is a template whose macros are renamed `__m_<name>`, and every
//! rendering first imports all the files into its own state (minijinja calls a macro only
//! from the state that defined it, which `caller()` of a `{% call %}` block needs too).
//! The global `<name>` finds the macro in the imported module and calls it; so every call
//! goes through that global, which is where `return()` is caught.

use crate::TaskError;
use minijinja::value::{Object, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use regex::Regex;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// One file of macros, as registered.
#[derive(Debug, Clone)]
pub struct MacroFile {
    /// Its path inside the project, which is also its template name.
    pub name: String,
    pub path: PathBuf,
    /// The text with macros renamed (lines unchanged).
    pub text: String,
    /// The macros it defines (`test_<name>` for a `{% test %}` block).
    pub macros: Vec<String>,
}

static MACRO_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{%(-?)\s*(macro|test|materialization)\s+([A-Za-z_][A-Za-z0-9_]*)\s*(\(|,)?")
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});
static TEST_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{%(-?)\s*endtest\s*(-?)%\}").unwrap_or_else(|e| unreachable!("{e}"))
});

/// Reads a macro file: renames its macros (and turns `{% test name %}` blocks into the
/// macros `test_<name>`, as dbt does).
pub fn read_file(path: &Path, name: &str) -> Result<MacroFile, TaskError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TaskError::Config(format!("cannot read {}: {e}", path.display())))?;
    let mut macros = Vec::new();
    let mut problem = None;
    let renamed = MACRO_START.replace_all(&text, |c: &regex::Captures| {
        let (dash, kind, macro_name) = (&c[1], &c[2], &c[3]);
        let open = c.get(4).map_or("", |m| m.as_str());
        match kind {
            "macro" => {
                macros.push(macro_name.to_string());
                format!("{{%{dash} macro __m_{macro_name}{open}")
            }
            "test" => {
                macros.push(format!("test_{macro_name}"));
                format!("{{%{dash} macro __m_test_{macro_name}{open}")
            }
            _ => {
                let line = text[..c.get(0).map_or(0, |m| m.start())]
                    .lines()
                    .count()
                    .max(1);
                problem.get_or_insert(format!(
                    "{}:{line}: custom materializations (`{{% materialization {macro_name} %}}`) \
                     are not supported: use table, view, incremental or ephemeral",
                    path.display()
                ));
                c[0].to_string()
            }
        }
    });
    let text = TEST_END
        .replace_all(&renamed, "{%$1 endmacro $2%}")
        .into_owned();
    if let Some(problem) = problem {
        return Err(TaskError::Config(problem));
    }
    Ok(MacroFile {
        name: name.to_string(),
        path: path.to_path_buf(),
        text,
        macros,
    })
}

/// Which file defines each macro (a later file's macro of the same name is an error, as
/// in dbt).
pub fn index(files: &[MacroFile]) -> Result<BTreeMap<String, usize>, TaskError> {
    let mut index = BTreeMap::new();
    for (i, file) in files.iter().enumerate() {
        for name in &file.macros {
            if let Some(first) = index.insert(name.clone(), i) {
                return Err(TaskError::Config(format!(
                    "the macro `{name}` is defined twice: in {} and in {}",
                    files[first].path.display(),
                    file.path.display()
                )));
            }
        }
    }
    Ok(index)
}

/// Registers the files as templates and each macro as a global of `env`.
pub fn register(env: &mut Environment<'static>, files: &[MacroFile]) -> Result<(), TaskError> {
    for (i, file) in files.iter().enumerate() {
        env.add_template_owned(file.name.clone(), file.text.clone())
            .map_err(|e| TaskError::Config(super::jinja_error(&file.path, &e)))?;
        for name in &file.macros {
            env.add_global(
                name.clone(),
                Value::from_object(MacroCall {
                    file: i,
                    name: format!("__m_{name}"),
                }),
            );
        }
    }
    env.add_function("__load_macros", load_macros);
    env.add_function("return", return_value);
    Ok(())
}

/// What every rendering starts with, on the first line so that lines keep their numbers:
/// the macro files imported into the rendering's state.
pub fn prelude(files: &[MacroFile]) -> String {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "{{%- import {name:?} as __mf{i} -%}}{{%- do __load_macros({i}, __mf{i}) -%}}",
                name = f.name
            )
        })
        .collect()
}

fn load_macros(state: &State, index: usize, module: Value) {
    state.set_temp(&format!("__mf{index}"), module);
}

thread_local! {
    /// One slot per macro call under way: what `return()` gave, if it was called.
    static RETURNED: RefCell<Vec<Option<Value>>> = const { RefCell::new(Vec::new()) };
}

const RETURNING: &str = "return() called";

fn return_value(value: Value) -> Result<Value, Error> {
    let inside = RETURNED.with(|slots| match slots.borrow_mut().last_mut() {
        Some(slot) => {
            *slot = Some(value);
            true
        }
        None => false,
    });
    if !inside {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "return() is for macros: it was called outside one",
        ));
    }
    // Unwinds to the call of the macro, which takes the value from the slot.
    Err(Error::new(ErrorKind::InvalidOperation, RETURNING))
}

/// A macro as a global: calls it in the rendering's state.
#[derive(Debug)]
struct MacroCall {
    file: usize,
    name: String,
}

impl Object for MacroCall {
    fn call(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let module = state
            .get_temp(&format!("__mf{}", self.file))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    "the project's macros are not loaded in this rendering",
                )
            })?;
        let found = module.get_attr(&self.name)?;
        RETURNED.with(|slots| slots.borrow_mut().push(None));
        let result = found.call(state, args);
        let returned = RETURNED.with(|slots| slots.borrow_mut().pop().flatten());
        match (returned, result) {
            (Some(value), _) => Ok(value),
            (None, result) => result,
        }
    }
}
