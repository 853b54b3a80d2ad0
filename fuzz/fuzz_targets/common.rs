//! Checks shared by the reader targets: what every reader promises about its output.
#![allow(dead_code)] // each target uses some of these

use entendu::TrainingData;

/// Every entity annotation lies on character boundaries of its example and quotes it exactly.
pub fn check_data(data: &TrainingData) {
    for example in &data.examples {
        for e in &example.entities {
            assert!(
                e.start <= e.end && e.end <= example.text.len(),
                "span {}..{} out of {:?}",
                e.start,
                e.end,
                example.text
            );
            let quoted = example.text.get(e.start..e.end);
            assert_eq!(quoted, Some(e.text.as_str()), "span {}..{} of {:?}", e.start, e.end, example.text);
        }
    }
    // The diagnostics and the YAML writer run on whatever a reader accepted.
    let _ = data.check();
    let _ = data.to_yaml();
}

/// Whether `text` could make a reader open a device or pseudo-file (Rasa lookup tables name
/// files): such inputs would test the file system, not the parser.
pub fn names_special_file(text: &str) -> bool {
    ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p))
}
