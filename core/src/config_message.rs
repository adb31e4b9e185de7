//! serde's messages as a person reads them: its Rust type names (`u32`, `struct
//! DagSpec`, `a map`) become what the YAML should hold.

/// Rust spellings and what a DAG author would call them, longest first.
const SPELLINGS: &[(&str, &str)] = &[
    ("internally tagged enum", "one of the allowed kinds"),
    ("a borrowed string", "a string"),
    ("a sequence", "a list"),
    ("a map", "a mapping of keys to values"),
    ("a boolean", "true or false"),
    ("a string", "a string"),
    ("unit value", "nothing (null)"),
    ("unit", "nothing (null)"),
    ("u128", "a whole number of at least 0"),
    ("u64", "a whole number of at least 0"),
    ("u32", "a whole number of at least 0 (at most 4294967295)"),
    ("u16", "a whole number from 0 to 65535"),
    ("u8", "a whole number from 0 to 255"),
    ("usize", "a whole number of at least 0"),
    ("i128", "a whole number"),
    ("i64", "a whole number"),
    ("i32", "a whole number"),
    ("f64", "a number"),
    ("f32", "a number"),
    ("char", "a single character"),
];

/// Rewrites one serde message (`invalid type: string "x", expected u32`).
pub fn for_people(message: &str) -> String {
    let mut text = message.to_string();
    // `expected struct DagSpec`, `expected enum DurationSpec`, `untagged enum X`
    for kind in ["struct ", "enum ", "untagged enum "] {
        while let Some(at) = text.find(&format!("expected {kind}")) {
            let start = at + "expected ".len();
            let name_end = text[start + kind.len()..]
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .map_or(text.len(), |i| start + kind.len() + i);
            let plain = if kind == "struct " {
                "a mapping of keys to values"
            } else {
                "one of the allowed forms"
            };
            text.replace_range(start..name_end, plain);
        }
    }
    if let Some(at) = text.find("expected ") {
        let start = at + "expected ".len();
        for (rust, plain) in SPELLINGS {
            if text[start..].starts_with(rust)
                && !text[start + rust.len()..].starts_with(|c: char| c.is_alphanumeric())
            {
                text.replace_range(start..start + rust.len(), plain);
                break;
            }
        }
    }
    text.replace(" as u128", "")
        .replace("integer `", "number `")
}

#[cfg(test)]
mod tests {
    use super::for_people;

    #[test]
    fn rust_types_become_yaml_words() {
        assert_eq!(
            for_people("invalid type: string \"x\", expected u32"),
            "invalid type: string \"x\", expected a whole number of at least 0 (at most 4294967295)"
        );
        assert_eq!(
            for_people("invalid type: sequence, expected struct DagSpec"),
            "invalid type: sequence, expected a mapping of keys to values"
        );
        assert_eq!(
            for_people("invalid value: integer `-1`, expected u32"),
            "invalid value: number `-1`, expected a whole number of at least 0 (at most 4294967295)"
        );
        assert_eq!(for_people("missing field `tasks`"), "missing field `tasks`");
    }
}
