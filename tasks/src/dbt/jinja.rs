//! The Jinja dialect of dbt projects: Python's string, list and dict methods
//! (`.lower()`, `.split()`, `.items()`...), lists and dicts changed in place, `{% do %}`, and undefined names that render
//! empty, as dbt's Jinja has them.

use minijinja::{Environment, UndefinedBehavior};

/// Sets up `env` as dbt's Jinja behaves.
pub fn configure(env: &mut Environment<'static>) {
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // dbt keeps the newline after a block tag, as Jinja does by default.
    env.set_keep_trailing_newline(true);
    super::mutable::register(env);
}
