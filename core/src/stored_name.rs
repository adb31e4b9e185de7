//! Enums kept in the history database as text (states, run types, statuses): one macro
//! gives each its stored names, parsing that names an unknown value, serde, and sqlx
//! decoding from a text column on PostgreSQL and SQLite.

/// A stored name that no variant has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}` (known: {known})")]
pub struct UnknownName {
    /// What was being read (`task state`).
    pub what: &'static str,
    /// The name found.
    pub name: String,
    /// The names there are, comma-separated.
    pub known: String,
}

#[doc(hidden)]
pub use utoipa;

/// The OpenAPI schema of a stored-name enum: a string among `names`, or null where a name
/// is `None` (the variant serialised as null).
pub fn enum_schema<'a>(
    names: impl Iterator<Item = Option<&'a str>>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let values: Vec<serde_json::Value> = names
        .map(|name| name.map_or(serde_json::Value::Null, serde_json::Value::from))
        .collect();
    let types = if values.contains(&serde_json::Value::Null) {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(types)
        .enum_values(Some(values))
        .into()
}

/// Declares an enum stored as text. `null = Variant` makes SQL NULL (and JSON null) that
/// variant; without it a NULL is a decoding error.
#[macro_export]
macro_rules! stored_name {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) $(null = $null:ident)? {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Reads a stored (or typed) name.
            pub fn parse(name: &str) -> Result<Self, $crate::stored_name::UnknownName> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name).ok_or_else(|| {
                    $crate::stored_name::UnknownName {
                        what: $what,
                        name: name.to_string(),
                        known: Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    }
                })
            }

            #[allow(unreachable_code)]
            fn from_null() -> Option<Self> {
                $(return Some($name::$null);)?
                None
            }

            #[allow(unreachable_code, unused_variables)]
            fn is_null(self) -> bool {
                $(return self == $name::$null;)?
                false
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compared with a stored name, as rows once held them.
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::stored_name::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if self.is_null() {
                    s.serialize_none()
                } else {
                    s.serialize_str(self.as_str())
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name: Option<String> = ::serde::Deserialize::deserialize(d)?;
                match name {
                    None => Self::from_null()
                        .ok_or_else(|| ::serde::de::Error::custom(concat!("a ", $what, " cannot be null"))),
                    Some(name) => Self::parse(&name).map_err(::serde::de::Error::custom),
                }
            }
        }

        /// In the API's OpenAPI document: one of the stored names (or null, where the
        /// null state is serialised as JSON null).
        impl $crate::stored_name::utoipa::PartialSchema for $name {
            fn schema() -> $crate::stored_name::utoipa::openapi::RefOr<
                $crate::stored_name::utoipa::openapi::schema::Schema,
            > {
                $crate::stored_name::enum_schema(
                    Self::ALL.iter().map(|v| (!v.is_null()).then(|| v.as_str())),
                )
            }
        }

        impl $crate::stored_name::utoipa::ToSchema for $name {}

        $crate::stored_name!(@sqlx $name, $what, ::sqlx::Postgres);
        $crate::stored_name!(@sqlx $name, $what, ::sqlx::Sqlite);
    };
    (@sqlx $name:ident, $what:literal, $db:ty) => {
        impl ::sqlx::Type<$db> for $name {
            fn type_info() -> <$db as ::sqlx::Database>::TypeInfo {
                <&str as ::sqlx::Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as ::sqlx::Database>::TypeInfo) -> bool {
                <&str as ::sqlx::Type<$db>>::compatible(ty)
            }
        }

        impl<'r> ::sqlx::Decode<'r, $db> for $name {
            fn decode(
                value: <$db as ::sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                if ::sqlx::ValueRef::is_null(&value) {
                    return Self::from_null()
                        .ok_or_else(|| concat!("a ", $what, " is NULL").into());
                }
                let name = <&str as ::sqlx::Decode<$db>>::decode(value)?;
                Ok(Self::parse(name)?)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::stored_name! {
        /// A test enum.
        pub enum Light ("light") null = Off {
            Off = "off",
            On = "on",
        }
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_named() {
        assert_eq!(Light::parse("on"), Ok(Light::On));
        let e = Light::parse("dim").unwrap_err();
        assert_eq!(e.to_string(), "unknown light `dim` (known: off, on)");
        assert_eq!(serde_json::to_string(&Light::Off).unwrap(), "null");
        assert_eq!(serde_json::to_string(&Light::On).unwrap(), "\"on\"");
        assert_eq!(serde_json::from_str::<Light>("null").unwrap(), Light::Off);
        assert!(serde_json::from_str::<Light>("\"dim\"").is_err());
    }
}
