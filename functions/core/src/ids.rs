//! Checked ids (campaigns.md): a brand or campaign id names folders and object keys, a note id is
//! RED's. Parsed once where raw input enters (a Lambda event, a command-line argument, a key read
//! back from a bucket); past that point a `BrandId` is known to be safe in a key.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An id the rule refuses, with what the rule is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not {what}: use {rule}")]
pub struct IdError {
    pub value: String,
    pub what: &'static str,
    pub rule: &'static str,
}

const KEY_RULE: &str = "1 to 64 ASCII letters, digits, '-', '_' or '.', not beginning with '.'";
const NOTE_RULE: &str = "1 to 64 ASCII letters and digits (RED's 24-character id)";

fn key_id_ok(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn note_id_ok(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

macro_rules! checked_id {
    ($(#[$doc:meta])* $name:ident, $ok:ident, $what:expr, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<$name, IdError> {
                $name::try_from(raw.to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<$name, IdError> {
                if $ok(&raw) {
                    Ok($name(raw))
                } else {
                    Err(IdError {
                        value: raw,
                        what: $what,
                        rule: $rule,
                    })
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(raw: &str) -> Result<$name, IdError> {
                $name::parse(raw)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

checked_id!(
    /// A brand id: it names the brand's folder of reports.
    BrandId, key_id_ok, "an id", KEY_RULE
);
checked_id!(
    /// A campaign id: it names the campaign in keys and files.
    CampaignId, key_id_ok, "an id", KEY_RULE
);
checked_id!(
    /// A RED note id.
    NoteId, note_id_ok, "a note id", NOTE_RULE
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_follow_the_rule() {
        for ok in [
            "b-shuihua",
            "c-2025-618-face",
            "a.b_c",
            "x",
            &"a".repeat(64),
        ] {
            assert_eq!(BrandId::parse(ok).unwrap().as_str(), ok);
            assert_eq!(CampaignId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", ".hidden", "..", "a/b", "品牌", "a b", &"a".repeat(65)] {
            let e = BrandId::parse(bad).unwrap_err();
            assert_eq!(e.value, bad);
            assert!(e.to_string().contains("is not an id: use 1 to 64"), "{e}");
        }
    }

    #[test]
    fn note_ids_are_letters_and_digits() {
        assert!(NoteId::parse("664f1c2a000000001e02b3c4").is_ok());
        for bad in ["", "664f-1c2a", "a.b", &"a".repeat(65)] {
            let e = NoteId::parse(bad).unwrap_err();
            assert!(e.to_string().contains("is not a note id"), "{e}");
        }
    }

    #[test]
    fn ids_read_and_write_as_plain_json_strings_and_refuse_bad_ones() {
        let id: BrandId = serde_json::from_str("\"b-01\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"b-01\"");
        let e = serde_json::from_str::<BrandId>("\"../etc\"").unwrap_err();
        assert!(e.to_string().contains("is not an id"), "{e}");
        assert_eq!("b-01".parse::<BrandId>().unwrap(), "b-01");
    }
}
