//! The API's contract: every JSON answer a test gets is checked against the server's own
//! OpenAPI document (JSON Schema 2020-12, formats included), so an answer that drifts from
//! the document fails whichever test meets it.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A server's OpenAPI document, with its schemas compiled as they are needed.
pub struct Contract {
    doc: Value,
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Contract {
    /// The contract `doc` states.
    pub fn new(doc: Value) -> Self {
        assert_eq!(
            doc["openapi"],
            json!("3.1.0"),
            "not an OpenAPI 3.1 document"
        );
        Self {
            doc,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// Fails the test unless `body`, answered with `status` to `method path`, is what the
    /// document says that operation answers.
    pub fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let path = path.split('?').next().unwrap_or(path);
        let operation = self
            .template_of(path)
            .and_then(|template| self.doc["paths"][template].get(method));
        let answer = operation.map(|op| &op["responses"][status.to_string()]);
        let schema = match answer {
            Some(answer) if !answer.is_null() => {
                answer["content"]["application/json"]["schema"].clone()
            }
            // A 2xx must be documented; any error has the error shape.
            _ if status >= 400 => json!({"$ref": "#/components/schemas/ApiError"}),
            _ => panic!(
                "{method} {path} answered {status}, which the OpenAPI document does not list: {body}"
            ),
        };
        assert!(
            !schema.is_null(),
            "{method} {path} {status}: no JSON schema documented"
        );
        let validator = self.validator(&schema);
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status} does not match the OpenAPI document:\n  {}\nthe answer: {body}",
            errors.join("\n  ")
        );
    }

    /// The document's path template `path` is an instance of; where several are, the one
    /// with the most literal segments (`/dagRuns/list` before `/dagRuns/{dag_run_id}`).
    fn template_of(&self, path: &str) -> Option<&str> {
        let wanted: Vec<&str> = path.split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        paths
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != wanted.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, given) in parts.iter().zip(&wanted) {
                    if part.starts_with('{') {
                        continue;
                    }
                    if part != given {
                        return None;
                    }
                    literal += 1;
                }
                Some((literal, template.as_str()))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, template)| template)
    }

    /// `schema` compiled with the document's components beside it (its `$ref`s point there).
    fn validator(&self, schema: &Value) -> Arc<jsonschema::Validator> {
        let key = schema.to_string();
        let mut compiled = self.compiled.lock().expect("validators");
        if let Some(found) = compiled.get(&key) {
            return found.clone();
        }
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("the document's schema {schema} does not compile: {e}"));
        let validator = Arc::new(validator);
        compiled.insert(key, validator.clone());
        validator
    }
}
