//! CloudTrail log files as CloudTrail delivers them to S3, `{"Records": [...]}`, read one
//! record at a time: memory stays flat however large the file, and each record goes to
//! the caller as it is read, readable or not (the caller's intake decides).

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::io::Read;

/// Calls `each` for every record of the log file `reader` holds, in order. A file that is
/// not one `{"Records": [...]}` document (truncated, another shape, trailing bytes) is an
/// error naming where; the records before the fault have been passed on already.
pub fn each_record<R: Read>(
    reader: R,
    mut each: impl FnMut(Value),
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    Records(&mut each).deserialize(&mut de)?;
    de.end()
}

struct Records<'a, F: FnMut(Value)>(&'a mut F);

impl<'de, F: FnMut(Value)> DeserializeSeed<'de> for Records<'_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Value)> Visitor<'de> for Records<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a CloudTrail log file: {"Records": [...]}"#)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" && !seen {
                seen = true;
                map.next_value_seed(Each(&mut *self.0))?;
            } else if key == "Records" {
                return Err(serde::de::Error::duplicate_field("Records"));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        // Any other object (a single event, an export of another kind) is not a log file.
        if seen {
            Ok(())
        } else {
            Err(serde::de::Error::missing_field("Records"))
        }
    }
}

struct Each<'a, F: FnMut(Value)>(&'a mut F);

impl<'de, F: FnMut(Value)> DeserializeSeed<'de> for Each<'_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Value)> Visitor<'de> for Each<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of CloudTrail records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<Value>()? {
            (self.0)(record);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::each_record;

    fn names(text: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        each_record(text.as_bytes(), |r| {
            out.push(r["eventName"].as_str().unwrap_or("?").to_owned())
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn every_record_in_order_other_keys_skipped() {
        let text =
            r#"{"Other": {"x": [1]}, "Records": [{"eventName": "A"}, 7, {"eventName": "B"}]}"#;
        assert_eq!(names(text).unwrap(), ["A", "?", "B"]);
    }

    #[test]
    fn a_file_of_another_shape_is_an_error() {
        for bad in [
            r#"{"Records": {"eventName": "A"}}"#,
            r#"[{"eventName": "A"}]"#,
            r#"{"Records": [{"eventName": "A"}"#,
            r#"{"Records": []} {"Records": []}"#,
            r#"{"eventName": "CreateAccessKey"}"#,
            r#"{"Records": [], "Records": [{"eventName": "A"}]}"#,
            "",
        ] {
            assert!(names(bad).is_err(), "{bad}");
        }
        assert_eq!(names(r#"{"Records": []}  "#).unwrap(), Vec::<String>::new());
    }
}
