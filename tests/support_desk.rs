//! The example bot (`examples/support_desk.rs`) driven by a script, on the real support model:
//! every branch of the conversation policy, plus input a bot must survive. The script is
//! `tests/support_desk/script.txt`; `expected.txt` gives, line by line, the action the bot must
//! take (`*` where any action will do, for hostile input).

mod common;
#[path = "../examples/support_desk.rs"]
mod support_desk;

use entendu::conversation::Action;
use entendu::Nlu;

/// A short, stable name for an action: `answer track_order`, `ask_for order_id`, …
fn describe(action: &Action) -> String {
    match action {
        Action::Answer { intent, .. } => format!("answer {intent}"),
        Action::AskFor { entity, .. } => format!("ask_for {entity}"),
        Action::Clarify { .. } => "clarify".to_string(),
        Action::Fallback { reason, .. } => {
            format!("fallback {}", serde_json::to_value(reason).unwrap().as_str().unwrap())
        }
        Action::Handoff { reason, .. } => {
            format!("handoff {}", serde_json::to_value(reason).unwrap()["type"].as_str().unwrap())
        }
        other => format!("{other:?}"),
    }
}

#[test]
fn a_scripted_session_covers_every_policy_branch() {
    let Some(encoder) = common::real_encoder("multilingual-e5-small") else { return };
    let (nlu, _) = Nlu::load_or_retrain("models/support", encoder, &mut |_, _, _| {}).unwrap();
    let mut script = std::fs::read("tests/support_desk/script.txt").unwrap();
    // Hostile lines that do not belong in a text file: a 20,000-character message and bytes
    // that are not UTF-8.
    script.extend_from_slice(format!("{}\n", "a".repeat(20_000)).as_bytes());
    script.extend_from_slice(b"commande \xff\xfe 123\n");
    let expected: Vec<String> = std::fs::read_to_string("tests/support_desk/expected.txt")
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();

    let mut out = Vec::new();
    let actions = support_desk::run(&script[..], &mut out, &nlu).unwrap();
    let transcript = String::from_utf8(out).unwrap();
    let got: Vec<String> = actions.iter().map(describe).collect();
    assert_eq!(got.len(), expected.len(), "one action per line\n{transcript}");
    for (i, (got, want)) in got.iter().zip(&expected).enumerate() {
        assert!(want == "*" || got == want, "line {}: got `{got}`, expected `{want}`\n{transcript}", i + 1);
    }

    // The bot introduces itself as a virtual assistant and offers a person from the start.
    let first = transcript.lines().next().unwrap();
    assert!(first.contains("assistant virtuel") && first.contains("conseiller"), "{first}");
    // The order number given after the question is used, and travels to the agent.
    assert!(transcript.contains("Votre commande 12345"), "{transcript}");
    let handoff = actions.iter().find_map(|a| match a {
        Action::Handoff { context, .. } => Some(context),
        _ => None,
    });
    let context = handoff.expect("a handoff");
    assert_eq!(context.entities.get("order_id").map(|e| e.text.as_str()), Some("12345"), "{context:?}");
    // The last request handled before the handoff travels too.
    assert_eq!(context.current_intent.as_deref(), Some("opening_hours"));
    assert!(context.transcript.iter().any(|t| t.text == "c est la 12345"));
    // Clarifications offer concrete, described choices.
    assert!(transcript.contains("Vous souhaitez :\nbot>   1. "), "{transcript}");
    assert!(transcript.ends_with("bot> Au revoir, et merci de votre visite !\n"));
}

/// On a machine whose copy of the encoder differs from ours, `load_or_retrain` retrains the
/// bundled model from the files its manifest records: they must be found, relative to the model,
/// in a fresh clone, and unchanged since the model was trained.
#[test]
fn the_bundled_model_records_training_files_a_clone_can_find() {
    use sha2::{Digest, Sha256};
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("models/support/manifest.json").unwrap()).unwrap();
    let files = manifest["training_files"].as_array().unwrap();
    assert!(!files.is_empty());
    for file in files {
        let relative = file["path"].as_str().unwrap();
        assert!(!std::path::Path::new(relative).is_absolute(), "{relative}");
        let path = std::path::Path::new("models/support").join(relative);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sha, file["sha256"].as_str().unwrap(), "{} changed since the model was trained", path.display());
    }
}
