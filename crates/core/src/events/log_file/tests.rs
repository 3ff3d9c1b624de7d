use super::{each_record, Item, DEFAULT_MAX_RECORD_BYTES};

/// Each record's event name, `?` for a record of another shape, `!why` for one that
/// could not be read.
fn names_within(text: &[u8], max: usize) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut index = 0;
    each_record(text, max, |item| {
        out.push(match item {
            Item::Record(r) => match serde_json::from_slice::<serde_json::Value>(r) {
                Ok(r) => r["eventName"].as_str().unwrap_or("?").to_owned(),
                Err(why) => format!("!{index} {why}"),
            },
            Item::Unreadable { index, why } => format!("!{index} {why}"),
        });
        index += 1;
    })
    .map_err(|e| e.to_string())?;
    Ok(out)
}

fn names(text: &str) -> Result<Vec<String>, String> {
    names_within(text.as_bytes(), DEFAULT_MAX_RECORD_BYTES)
}

#[test]
fn every_record_in_order_other_keys_skipped() {
    let text = r#"{"Other": {"x": [1, {"Records": "no"}], "y": "]}\"["}, "Records": [{"eventName": "A"}, 7, {"eventName": "B", "s": "}]\\\"{"}], "z": null}"#;
    assert_eq!(names(text).unwrap(), ["A", "?", "B"]);
    assert_eq!(
        names(" {\n\"Records\" : [ ] }\n").unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        names(r#"{"Records": ["x", true, -1.5e3]}"#).unwrap(),
        ["?", "?", "?"]
    );
}

#[test]
fn a_file_of_another_shape_is_an_error_after_the_records_before_it() {
    for bad in [
        r#"{"Records": {"eventName": "A"}}"#,
        r#"[{"eventName": "A"}]"#,
        r#"{"Records": [{"eventName": "A"}"#,
        r#"{"Records": [{"eventName": "A"} {"eventName": "B"}]}"#,
        r#"{"Records": []} {"Records": []}"#,
        r#"{"eventName": "CreateAccessKey"}"#,
        r#"{"Records": [], "Records": [{"eventName": "A"}]}"#,
        r#"{"Records": ["unterminated]}"#,
        r#"{"Records": [,]}"#,
        "",
        "{}",
    ] {
        assert!(names(bad).is_err(), "{bad}");
    }
    let mut seen = Vec::new();
    let err = each_record(
        &br#"{"Records": [{"eventName": "A"}, {"eventName": "B""#[..],
        DEFAULT_MAX_RECORD_BYTES,
        |_| seen.push(()),
    )
    .unwrap_err();
    assert_eq!(seen.len(), 1, "the record before the fault was passed on");
    assert!(err.to_string().contains("ends inside"), "{err}");
}

#[test]
fn a_record_too_deep_too_large_or_broken_is_skipped_and_named_and_the_next_is_read() {
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let big = format!(r#"{{"eventName": "Big", "x": "{}"}}"#, "a".repeat(5_000));
    let text = format!(
        r#"{{"Records": [{{"eventName": "A"}}, {deep}, {big}, {{"eventName": tru}}, {{"eventName": "B"}}]}}"#
    );
    let got = names_within(text.as_bytes(), 4_096).unwrap();
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[0], "A");
    assert!(
        got[1].starts_with("!1 ") && got[1].contains("larger than 4096"),
        "{}",
        got[1]
    );
    assert!(
        got[2].starts_with("!2 ") && got[2].contains("larger than 4096"),
        "{}",
        got[2]
    );
    assert!(got[3].starts_with("!3 "), "{}", got[3]);
    assert_eq!(got[4], "B");
    // Under a cap that holds it, the deep record is the parser's to refuse.
    let text = format!(r#"{{"Records": [{deep}, {{"eventName": "C"}}]}}"#);
    let got = names_within(text.as_bytes(), 1 << 20).unwrap();
    assert!(got[0].contains("recursion limit"), "{}", got[0]);
    assert_eq!(got[1], "C");
}

#[test]
fn records_split_across_reads_are_read_whole() {
    // A reader that hands over three bytes at a time crosses every boundary.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(3).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let text =
        r#"{"Records" : [ {"eventName": "A\"}]", "n": [1, {"x": "\\"}]} , {"eventName":"B"} ] }"#;
    let mut names = Vec::new();
    each_record(Trickle(text.as_bytes()), 64, |i| {
        names.push(match i {
            Item::Record(r) => {
                let r: serde_json::Value = serde_json::from_slice(r).unwrap();
                r["eventName"].as_str().unwrap().to_owned()
            }
            Item::Unreadable { why, .. } => why,
        })
    })
    .unwrap();
    assert_eq!(names, ["A\"}]", "B"]);
}
