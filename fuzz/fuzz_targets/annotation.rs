//! `data::annotation::parse` on arbitrary text: spans hold, and rendering the result back and
//! parsing it again gives the same text and entities.
#![no_main]

use entendu::data::annotation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let Ok(parsed) = annotation::parse(input) else { return };
    for e in &parsed.entities {
        assert_eq!(
            parsed.text.get(e.start..e.end),
            Some(e.text.as_str()),
            "span {}..{} of {:?}",
            e.start,
            e.end,
            parsed.text
        );
    }
    let rendered = annotation::render(&parsed.text, &parsed.entities);
    let again =
        annotation::parse(&rendered).unwrap_or_else(|e| panic!("render gave {rendered:?}, which does not parse: {e}"));
    assert_eq!(again.text, parsed.text, "round trip through {rendered:?}");
    assert_eq!(again.entities, parsed.entities, "round trip through {rendered:?}");
});
