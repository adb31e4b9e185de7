//! Macros as dbt calls them. Each package is a namespace (`dbt_utils.star()`): the root
//! project's, every installed package's, and `dbt`'s own (the cross-database macros of
//! `cross_db.sql`). A bare name is the root project's macro, else dbt's, as dbt resolves
//! it for the project's nodes. `adapter.dispatch` searches packages in dbt's order (the
//! project's `dispatch:` config, else the root project then the namespace), each for
//! `<adapter>__<name>` then `default__<name>`. `return(value)` makes a call give that
//! value (a list, a map, a bool...) instead of the text it rendered.
//!
//! How: each macro file is a template whose macros are renamed `__m_<name>`, and every
//! rendering first imports all the files into its own state (minijinja calls a macro only
//! from the state that defined it, which `caller()` of a `{% call %}` block needs too).
//! A macro as a value (a global, a namespace's attribute, what dispatch finds) finds its
//! function in the imported module and calls it; so every call goes through that value,
//! which is where `return()` is caught.

use crate::TaskError;
use minijinja::value::{Object, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use regex::Regex;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
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
    /// The text as written (for the manifest).
    pub written: String,
    /// The macros it defines (`test_<name>` for a `{% test %}` block).
    pub macros: Vec<String>,
    /// The package it belongs to (the root project's name, a package's, or `dbt`).
    pub package: String,
}

/// The namespace of dbt's own macros.
pub const DBT: &str = "dbt";

static MACRO_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{%(-?)\s*(macro|test|materialization)\s+([A-Za-z_][A-Za-z0-9_]*)\s*(\(|,)?")
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});
static MATERIALIZATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)\{%-?\s*materialization\s.*?\{%-?\s*endmaterialization\s*-?%\}")
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});
static TEST_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{%(-?)\s*endtest\s*(-?)%\}").unwrap_or_else(|e| unreachable!("{e}"))
});

fn read_text(path: &Path) -> Result<String, TaskError> {
    std::fs::read_to_string(path)
        .map_err(|e| TaskError::Config(format!("cannot read {}: {e}", path.display())))
}

/// Reads a macro file of `package`, named `name` as a template.
pub fn read_file(path: &Path, name: &str, package: &str) -> Result<MacroFile, TaskError> {
    parse(&read_text(path)?, path, name, package)
}

/// Reads a macro file of an installed package: its custom materializations are left
/// out (a model asking for one is refused by its `materialized`), the rest as the
/// project's.
pub fn read_package_file(path: &Path, name: &str, package: &str) -> Result<MacroFile, TaskError> {
    parse(
        &blank_materializations(&read_text(path)?),
        path,
        name,
        package,
    )
}

/// The text of dbt's own macros, as shipped.
const BUILTIN: &str = include_str!("cross_db.sql");

/// dbt's own macros (the `dbt` namespace).
pub fn builtin() -> Result<MacroFile, TaskError> {
    parse(
        BUILTIN,
        Path::new("<updraft>/dbt/cross_db.sql"),
        "<dbt>/cross_db.sql",
        DBT,
    )
}

/// `text` with each `{% materialization %}` block blanked, its lines kept (so errors
/// elsewhere keep their line numbers).
fn blank_materializations(text: &str) -> String {
    MATERIALIZATION
        .replace_all(text, |c: &regex::Captures| {
            "\n".repeat(c[0].matches('\n').count())
        })
        .into_owned()
}

/// Renames a file's macros (and turns `{% test name %}` blocks into the macros
/// `test_<name>`, as dbt does).
fn parse(text: &str, path: &Path, name: &str, package: &str) -> Result<MacroFile, TaskError> {
    let written = text.to_string();
    let text = &super::mutable::rewrite(text);
    let mut macros = Vec::new();
    let mut problem = None;
    let renamed = MACRO_START.replace_all(text, |c: &regex::Captures| {
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
        written,
        macros,
        package: package.to_string(),
    })
}

/// Where each macro lives, by package, and the project's `dispatch:` search orders.
#[derive(Debug)]
pub struct Namespaces {
    root: String,
    by_package: BTreeMap<String, BTreeMap<String, usize>>,
    search_orders: BTreeMap<String, Vec<String>>,
}

impl Namespaces {
    /// The macros of `files`; a package defining a name twice is an error, as in dbt.
    pub fn new(
        files: &[MacroFile],
        root: &str,
        search_orders: BTreeMap<String, Vec<String>>,
    ) -> Result<Self, TaskError> {
        let mut by_package: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (i, file) in files.iter().enumerate() {
            let package = by_package.entry(file.package.clone()).or_default();
            for name in &file.macros {
                if let Some(first) = package.insert(name.clone(), i) {
                    return Err(TaskError::Config(format!(
                        "the macro `{name}` is defined twice: in {} and in {}",
                        files[first].path.display(),
                        file.path.display()
                    )));
                }
            }
        }
        by_package.entry(root.to_string()).or_default();
        Ok(Self {
            root: root.to_string(),
            by_package,
            search_orders,
        })
    }

    fn call(&self, package: &str, name: &str) -> Option<Value> {
        let file = *self.by_package.get(package)?.get(name)?;
        Some(Value::from_object(MacroCall {
            file,
            name: format!("__m_{name}"),
        }))
    }

    /// Whether the root project defines `name`.
    pub fn in_root(&self, name: &str) -> bool {
        self.by_package
            .get(&self.root)
            .is_some_and(|m| m.contains_key(name))
    }

    /// A bare name as the project's nodes see it: the root project's macro, else dbt's.
    fn bare(&self, name: &str) -> Option<Value> {
        self.call(&self.root, name).or_else(|| self.call(DBT, name))
    }

    /// `adapter.dispatch(name, namespace)`: the first of `<prefix>__<name>` for each
    /// prefix ([`dispatch_prefixes`]) in each package of dbt's search order.
    pub fn dispatch(
        &self,
        name: &str,
        namespace: Option<&str>,
        prefixes: &[&str],
    ) -> Result<Value, String> {
        let search: Vec<Option<&str>> = match namespace {
            None => vec![None],
            Some(ns) => match self.search_orders.get(ns) {
                Some(order) => order.iter().map(|p| Some(p.as_str())).collect(),
                None if self.by_package.contains_key(ns) => vec![Some(&self.root), Some(ns)],
                None => vec![Some(ns)],
            },
        };
        let mut tried = Vec::new();
        for package in search {
            for prefix in prefixes {
                let candidate = format!("{prefix}__{name}");
                let found = match package {
                    None => self.bare(&candidate),
                    Some(p) => self.call(p, &candidate),
                };
                if let Some(found) = found {
                    return Ok(found);
                }
                tried.push(match package {
                    None => format!("'{candidate}'"),
                    Some(p) => format!("'{p}.{candidate}'"),
                });
            }
        }
        Err(format!(
            "In dispatch: No macro named '{name}' found within namespace: '{}'; searched for: {}",
            namespace.unwrap_or("None"),
            tried.join(", ")
        ))
    }

    /// The generic test written `written` in a property file (`positive`,
    /// `dbt_utils.accepted_range`): its macro. A bare name is the root project's, as dbt
    /// resolves it; a package's test is named with its package.
    pub fn generic_test(&self, written: &str) -> Option<Value> {
        match written.split_once('.') {
            Some((package, name)) => self.call(package, &format!("test_{name}")),
            None => self.call(&self.root, &format!("test_{written}")),
        }
    }

    /// Every name a property file may give a generic test of the project (bare, or with
    /// the project's name) or of its packages (with the package's name).
    pub fn generic_tests(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (package, macros) in &self.by_package {
            if package == DBT {
                continue;
            }
            for test in macros.keys().filter_map(|m| m.strip_prefix("test_")) {
                if *package == self.root {
                    out.insert(test.to_string());
                }
                out.insert(format!("{package}.{test}"));
            }
        }
        out
    }
}

/// A package as a global: its macros as attributes (`dbt_utils.star`).
#[derive(Debug)]
struct Namespace {
    package: String,
    all: Arc<Namespaces>,
}

impl Object for Namespace {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.all.call(&self.package, key.as_str()?)
    }
}

/// `context`: dbt's mapping of what a template sees, for templates that look a macro up
/// by a name they build (`context[name]`, `context.get(name)`, `name in context`): the
/// bare macros (the project's, then dbt's) and the packages as namespaces.
#[derive(Debug)]
struct Context {
    all: Arc<Namespaces>,
}

impl Object for Context {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        self.all.bare(name).or_else(|| {
            self.all.by_package.contains_key(name).then(|| {
                Value::from_object(Namespace {
                    package: name.to_string(),
                    all: self.all.clone(),
                })
            })
        })
    }
}

/// Registers the files as templates, each package as a global namespace, and the root
/// project's and dbt's macros by their bare names.
pub fn register(
    env: &mut Environment<'static>,
    files: &[MacroFile],
    namespaces: &Arc<Namespaces>,
) -> Result<(), TaskError> {
    for file in files {
        env.add_template_owned(file.name.clone(), file.text.clone())
            .map_err(|e| TaskError::Config(super::jinja_error(&file.path, &e)))?;
    }
    for package in namespaces.by_package.keys() {
        env.add_global(
            package.clone(),
            Value::from_object(Namespace {
                package: package.clone(),
                all: namespaces.clone(),
            }),
        );
    }
    for package in [DBT, namespaces.root.as_str()] {
        for name in namespaces
            .by_package
            .get(package)
            .into_iter()
            .flatten()
            .map(|(n, _)| n)
        {
            if let Some(call) = namespaces.bare(name) {
                env.add_global(name.clone(), call);
            }
        }
    }
    env.add_global(
        "context",
        Value::from_object(Context {
            all: namespaces.clone(),
        }),
    );
    env.add_function("__load_macros", load_macros);
    env.add_function("return", return_value);
    Ok(())
}

/// What a rendering starts with, on the first line so that lines keep their numbers:
/// the macro files imported into the rendering's state — only those the template can
/// reach (a name it writes, then what those files write, and so on), since importing
/// hundreds of package files into every rendering would cost more than the rendering.
/// A macro reached by a name built at run time (`context[name]`) is not seen: such a
/// rendering is done again with every file imported ([`render`]).
#[derive(Debug)]
pub struct Prelude {
    imports: Vec<String>,
    /// The files that define a name, or a macro dispatch may reach from it
    /// (`default__x` from `x`).
    by_name: BTreeMap<String, Vec<usize>>,
    /// Each file's files, itself and all it reaches.
    reach: Vec<BTreeSet<usize>>,
}

static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").unwrap_or_else(|e| unreachable!("{e}")));

impl Prelude {
    /// The prelude of `files`.
    pub fn new(files: &[MacroFile]) -> Self {
        let imports = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                format!(
                    "{{%- import {name:?} as __mf{i} -%}}{{%- do __load_macros({i}, __mf{i}) -%}}",
                    name = f.name
                )
            })
            .collect();
        let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, file) in files.iter().enumerate() {
            for name in &file.macros {
                by_name.entry(name.clone()).or_default().push(i);
                if let Some((_, dispatched)) = name.split_once("__") {
                    by_name.entry(dispatched.to_string()).or_default().push(i);
                }
            }
        }
        let direct: Vec<BTreeSet<usize>> = files
            .iter()
            .map(|f| Self::named(&by_name, &f.text))
            .collect();
        let reach = (0..files.len())
            .map(|i| {
                let mut seen = BTreeSet::from([i]);
                let mut pending = vec![i];
                while let Some(f) = pending.pop() {
                    for &next in &direct[f] {
                        if seen.insert(next) {
                            pending.push(next);
                        }
                    }
                }
                seen
            })
            .collect();
        Self {
            imports,
            by_name,
            reach,
        }
    }

    /// The files defining a name `text` writes.
    fn named(by_name: &BTreeMap<String, Vec<usize>>, text: &str) -> BTreeSet<usize> {
        WORD.find_iter(text)
            .filter_map(|w| by_name.get(w.as_str()))
            .flatten()
            .copied()
            .collect()
    }

    /// The imports a rendering of `template` needs.
    pub fn of(&self, template: &str) -> String {
        let mut files = BTreeSet::new();
        for f in Self::named(&self.by_name, template) {
            files.extend(self.reach[f].iter().copied());
        }
        files
            .into_iter()
            .map(|i| self.imports[i].as_str())
            .collect()
    }

    /// Every file's import.
    pub fn all(&self) -> String {
        self.imports.concat()
    }
}

/// Renders `template` with the macro files it reaches imported; again with all of them
/// when it called a macro by a name the template does not write.
pub fn render(
    env: &Environment<'static>,
    prelude: &Prelude,
    template: &str,
    ctx: Value,
) -> Result<String, Error> {
    match env.render_str(&format!("{}{template}", prelude.of(template)), ctx.clone()) {
        Err(e) if not_loaded(&e) => env.render_str(&format!("{}{template}", prelude.all()), ctx),
        done => done,
    }
}

/// Whether an error (or what caused it) is a macro called without its file imported.
fn not_loaded(e: &Error) -> bool {
    let mut at: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = at {
        if err.to_string().contains(NOT_LOADED) {
            return true;
        }
        at = err.source();
    }
    false
}

const NOT_LOADED: &str = "the project's macros are not loaded in this rendering";

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
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, NOT_LOADED))?;
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

/// The macro prefixes `adapter.dispatch` tries for an adapter, in order: its own, the
/// adapters it inherits from, then `default` — as dbt-redshift inherits dbt-postgres'.
/// The lake inherits PostgreSQL's forms: DataFusion follows PostgreSQL's semantics
/// (integer division, `::` casts), which projects' and packages' `default__` forms
/// often do not assume (jaffle-shop's `cents_to_dollars`).
pub fn dispatch_prefixes(adapter: &str) -> &'static [&'static str] {
    match adapter {
        "lake" => &["lake", "postgres", "default"],
        "sqlite" => &["sqlite", "default"],
        _ => &["postgres", "default"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendering_imports_the_files_its_names_reach() {
        let file = |name: &str, text: &str| parse(text, Path::new(name), name, "shop").unwrap();
        let files = [
            file("a.sql", "{% macro x() %}{{ y() }}{% endmacro %}"),
            file(
                "b.sql",
                "{% macro default__y() %}1{% endmacro %}{% macro y() %}{{ adapter.dispatch('y')() }}{% endmacro %}",
            ),
            file("c.sql", "{% macro z() %}2{% endmacro %}"),
        ];
        let prelude = Prelude::new(&files);
        let imports = prelude.of("select {{ x() }}");
        assert!(
            imports.contains("\"a.sql\"") && imports.contains("\"b.sql\""),
            "{imports}"
        );
        assert!(!imports.contains("\"c.sql\""), "{imports}");
        assert_eq!(prelude.of("select 1"), "");
        assert!(prelude.all().contains("\"c.sql\""));
    }

    #[test]
    fn context_finds_macros_by_a_name_built_at_run_time() {
        let files = [
            parse(
                "{% macro shout(x) %}{{ x | upper }}{% endmacro %}",
                Path::new("m.sql"),
                "m.sql",
                "shop",
            )
            .unwrap(),
            parse(
                "{% macro whisper(x) %}{{ x | lower }}{% endmacro %}",
                Path::new("p.sql"),
                "p/m.sql",
                "pkg",
            )
            .unwrap(),
        ];
        let namespaces = Arc::new(Namespaces::new(&files, "shop", BTreeMap::new()).unwrap());
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        register(&mut env, &files, &namespaces).unwrap();
        let prelude = Prelude::new(&files);
        let template = "{% set n = 'sh' ~ 'out' %}{{ context[n]('a') }} {{ context['pkg']['whis' ~ 'per']('B') }} {{ 'pkg' in context }} {{ 'nothing' in context }}";
        let out = render(&env, &prelude, template, Value::from(())).unwrap();
        assert_eq!(out, "A b True False");
    }

    #[test]
    fn a_packages_materializations_are_left_out_and_the_projects_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.sql");
        std::fs::write(
            &file,
            "{% materialization audit, default %}\n{{ return({}) }}\n{% endmaterialization %}\n{% macro kept() %}1{% endmacro %}\n",
        )
        .unwrap();
        let read = read_package_file(&file, "dbt_packages/p/m.sql", "p").unwrap();
        assert_eq!(read.macros, ["kept"]);
        assert_eq!(read.text.lines().count(), 4, "lines kept: {}", read.text);
        let e = read_file(&file, "macros/m.sql", "shop")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.sql:1: custom materializations"), "{e}");
    }
}
