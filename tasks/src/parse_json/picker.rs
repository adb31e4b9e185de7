//! Reading only the schema's fields of a JSON record, without building the whole
//! document: the fast way for the common record that fits. Strings without escapes are
//! borrowed from the record; fields the schema does not name are skipped unparsed into
//! values. A record this reader cannot settle (invalid JSON, not an object, a field of
//! the wrong type) is read again as a whole document by the checks in `columns`, which
//! say why, so both ways reach the same verdicts.
//!
//! Semantics follow `serde_json::Value`, which the checks use: a key given twice keeps
//! its last value, and a path through a value that is not an object finds nothing.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A field's value as read, when it is one the schema's types can take.
#[derive(Debug, Clone, PartialEq)]
pub enum Picked<'de> {
    /// Not in the record (or under a value that is not an object).
    Absent,
    Null,
    Str(Cow<'de, str>),
    /// An integer that fits in i64.
    Int(i64),
    /// An integer above i64's range.
    UInt(u64),
    Float(f64),
    Bool(bool),
    /// An array of strings (also an empty array).
    Strs(Vec<Cow<'de, str>>),
    /// A non-empty array of integers that fit in i64.
    Ints(Vec<i64>),
    /// Anything else (an object, a mixed array...), which no scalar or list type accepts.
    Other,
}

/// The tree of object keys leading to the schema's fields.
#[derive(Debug)]
pub struct FieldPicker {
    nodes: Vec<Node>,
    fields: usize,
}

#[derive(Debug, Default)]
struct Node {
    children: Vec<(String, Child)>,
    /// The fields at or below this node, reset when the node's key is seen again.
    below: Vec<usize>,
}

#[derive(Debug)]
enum Child {
    Node(usize),
    /// The indices of the fields with this path (two columns may read the same path).
    Fields(Vec<usize>),
}

impl FieldPicker {
    /// A picker for fields at `paths` (each a list of keys); `None` when one path is a
    /// prefix of another, which only a whole document can serve.
    pub fn new(paths: &[Vec<String>]) -> Option<Self> {
        let mut picker = Self {
            nodes: vec![Node::default()],
            fields: paths.len(),
        };
        for (field, path) in paths.iter().enumerate() {
            let (last, parents) = path.split_last()?;
            let mut node = 0;
            picker.nodes[0].below.push(field);
            for key in parents {
                node = picker.child_node(node, key)?;
                picker.nodes[node].below.push(field);
            }
            match picker.child(node, last) {
                Some(Child::Fields(fields)) => fields.push(field),
                Some(Child::Node(_)) => return None,
                None => picker.nodes[node]
                    .children
                    .push((last.clone(), Child::Fields(vec![field]))),
            }
        }
        Some(picker)
    }

    fn child(&mut self, node: usize, key: &str) -> Option<&mut Child> {
        self.nodes[node]
            .children
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, c)| c)
    }

    fn child_node(&mut self, node: usize, key: &str) -> Option<usize> {
        match self.child(node, key) {
            Some(Child::Node(n)) => return Some(*n),
            Some(Child::Fields(_)) => return None,
            None => {}
        }
        let n = self.nodes.len();
        self.nodes.push(Node::default());
        self.nodes[node]
            .children
            .push((key.to_string(), Child::Node(n)));
        Some(n)
    }

    /// The fields of `record`, in the order of the paths; `None` when the record is not a
    /// JSON object (or not JSON).
    #[cfg(test)]
    pub fn pick<'de>(&self, record: &'de str) -> Option<Vec<Picked<'de>>> {
        let mut values = Vec::new();
        self.pick_into(record, &mut values).then_some(values)
    }

    /// Fills `values` with the fields of `record`, in the order of the paths; false when
    /// the record is not a JSON object (or not JSON).
    pub fn pick_into<'de>(&self, record: &'de str, values: &mut Vec<Picked<'de>>) -> bool {
        values.clear();
        values.resize(self.fields, Picked::Absent);
        let mut de = serde_json::Deserializer::from_str(record);
        let seed = ObjectSeed {
            picker: self,
            node: 0,
            values,
            top: true,
        };
        seed.deserialize(&mut de).is_ok() && de.end().is_ok()
    }
}

/// Reads one object level, filling the fields below `node`.
struct ObjectSeed<'p, 'v, 'de> {
    picker: &'p FieldPicker,
    node: usize,
    values: &'v mut [Picked<'de>],
    /// The record itself, which must be an object.
    top: bool,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let node = &self.picker.nodes[self.node];
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match node.children.iter().find(|(k, _)| *k == key.0) {
                Some((_, Child::Fields(fields))) => {
                    let value: Picked<'de> = map.next_value_seed(PickedSeed)?;
                    if let Some((&last, others)) = fields.split_last() {
                        for &field in others {
                            self.values[field] = value.clone();
                        }
                        self.values[last] = value;
                    }
                }
                Some((_, Child::Node(child))) => {
                    // A key seen again replaces all that its earlier value gave.
                    for &field in &self.picker.nodes[*child].below {
                        self.values[field] = Picked::Absent;
                    }
                    map.next_value_seed(ObjectSeed {
                        picker: self.picker,
                        node: *child,
                        values: &mut *self.values,
                        top: false,
                    })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    // Below the top, a value that is not an object holds none of the fields.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_an_object()
    }
}

impl ObjectSeed<'_, '_, '_> {
    fn not_an_object<E: de::Error>(self) -> Result<(), E> {
        if self.top {
            Err(E::custom("not a JSON object"))
        } else {
            Ok(())
        }
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor).map(Key)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Reads a field's value.
struct PickedSeed;

impl<'de> DeserializeSeed<'de> for PickedSeed {
    type Value = Picked<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PickedSeed {
    type Value = Picked<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Picked::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Picked::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Picked::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Picked::UInt(v), Picked::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Picked::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Picked::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Picked::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Picked::Str(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Picked::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut picked = Picked::Strs(Vec::new());
        while let Some(item) = seq.next_element_seed(PickedSeed)? {
            picked = match (picked, item) {
                (Picked::Strs(mut items), Picked::Str(s)) => {
                    items.push(s);
                    Picked::Strs(items)
                }
                (Picked::Strs(items), Picked::Int(i)) if items.is_empty() => Picked::Ints(vec![i]),
                (Picked::Ints(mut items), Picked::Int(i)) => {
                    items.push(i);
                    Picked::Ints(items)
                }
                _ => Picked::Other,
            };
        }
        Ok(picked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picker(paths: &[&str]) -> FieldPicker {
        let paths: Vec<Vec<String>> = paths
            .iter()
            .map(|p| p.split('.').map(str::to_string).collect())
            .collect();
        FieldPicker::new(&paths).unwrap()
    }

    #[test]
    fn picks_nested_fields_and_skips_the_rest() {
        let p = picker(&["id", "user.name", "user.n", "tags", "ids", "id"]);
        let got = p
            .pick(r#"{"skip":{"a":[1,{"b":2}]},"id":"x\"y","user":{"name":"ann","n":-3},"tags":[],"ids":[1,2]}"#)
            .unwrap();
        assert_eq!(got[0], Picked::Str(Cow::Owned("x\"y".into())));
        assert_eq!(got[1], Picked::Str(Cow::Borrowed("ann")));
        assert_eq!(got[2], Picked::Int(-3));
        assert_eq!(got[3], Picked::Strs(vec![]));
        assert_eq!(got[4], Picked::Ints(vec![1, 2]));
        assert_eq!(got[5], got[0]);
    }

    #[test]
    fn follows_value_semantics() {
        let p = picker(&["user.name", "n", "list"]);
        // A repeated key keeps its last value, also for an object.
        let got = p
            .pick(r#"{"user":{"name":"a"},"user":5,"n":1,"n":null,"list":["a",1]}"#)
            .unwrap();
        assert_eq!(got, vec![Picked::Absent, Picked::Null, Picked::Other]);
        let got = p
            .pick(r#"{"n": 18446744073709551615, "list": [1.5]}"#)
            .unwrap();
        assert_eq!(got[1], Picked::UInt(u64::MAX));
        assert_eq!(got[2], Picked::Other);
        assert!(p.pick("[1]").is_none());
        assert!(p.pick(r#"{"n":1} x"#).is_none());
        assert!(p.pick(r#"{"n":"#).is_none());
    }

    #[test]
    fn a_path_inside_another_needs_the_whole_document() {
        let paths = vec![
            vec!["a".to_string()],
            vec!["a".to_string(), "b".to_string()],
        ];
        assert!(FieldPicker::new(&paths).is_none());
    }
}
