use super::*;
use crate::parse::Signal;

fn intents() -> BTreeMap<String, IntentSpec> {
    let mut m = BTreeMap::new();
    m.insert(
        "track_order".to_string(),
        IntentSpec {
            required_entities: vec!["order_id".into()],
            description: Some("Suivre une commande".into()),
            ..Default::default()
        },
    );
    m.insert(
        "cancel_order".to_string(),
        IntentSpec {
            required_entities: vec!["order_id".into()],
            description: Some("Annuler une commande".into()),
            ..Default::default()
        },
    );
    m.insert("opening_hours".to_string(), IntentSpec::default());
    m
}

fn conversation() -> Conversation {
    Conversation::with_config(intents(), PolicyConfig::default())
}

fn score(name: &str, confidence: f32) -> IntentScore {
    IntentScore { name: name.into(), confidence }
}

fn parse(text: &str, decision: Decision) -> Parse {
    let ranking = match &decision {
        Decision::Intent { name, confidence } => vec![score(name, *confidence), score("opening_hours", 0.01)],
        Decision::Ambiguous { candidates } => candidates.clone(),
        _ => vec![score("opening_hours", 0.1), score("track_order", 0.05)],
    };
    Parse { text: text.into(), decision, ranking, entities: vec![], signals: vec![] }
}

fn intent(text: &str, name: &str) -> Parse {
    parse(text, Decision::Intent { name: name.into(), confidence: 0.9 })
}

fn with_entity(mut p: Parse, entity: &str, value: &str) -> Parse {
    let start = p.text.find(value).unwrap();
    p.entities.push(Entity {
        entity: entity.into(),
        text: value.into(),
        value: serde_json::Value::String(value.into()),
        start,
        end: start + value.len(),
        confidence: 1.0,
        extractor: "learned".into(),
    });
    p
}

fn with_signal(mut p: Parse, name: &str) -> Parse {
    p.signals.push(Signal { name: name.into(), score: 0.9, active: true });
    p
}

#[test]
fn answers_when_nothing_is_missing() {
    let mut c = conversation();
    match c.observe(&intent("vous ouvrez quand ?", "opening_hours")) {
        Action::Answer { intent, .. } => assert_eq!(intent, "opening_hours"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn asks_for_a_missing_entity_and_resumes_on_the_answer() {
    let mut c = conversation();
    assert_eq!(
        c.observe(&intent("je veux suivre ma commande", "track_order")),
        Action::AskFor { intent: "track_order".into(), entity: "order_id".into() }
    );
    // The answer alone is out of scope for the model; the policy still resumes the request.
    let answer = with_entity(parse("c'est la 48213", Decision::OutOfScope { confidence: 0.2 }), "order_id", "48213");
    match c.observe(&answer) {
        Action::Answer { intent, entities } => {
            assert_eq!(intent, "track_order");
            assert_eq!(entities["order_id"].text, "48213");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.consecutive_fallbacks(), 0);
}

#[test]
fn an_entity_given_up_front_is_not_asked_again() {
    let mut c = conversation();
    let p = with_entity(intent("où est ma commande 48213", "track_order"), "order_id", "48213");
    assert!(matches!(c.observe(&p), Action::Answer { .. }));
    // Later requests reuse what is known.
    assert!(matches!(c.observe(&intent("finalement annulez-la", "cancel_order")), Action::Answer { .. }));
}

#[test]
fn moving_on_with_the_entity_follows_the_new_request() {
    let mut c = conversation();
    c.observe(&intent("je veux suivre ma commande", "track_order"));
    let p = with_entity(intent("non, annulez la commande 48213", "cancel_order"), "order_id", "48213");
    match c.observe(&p) {
        Action::Answer { intent, .. } => assert_eq!(intent, "cancel_order"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ambiguity_offers_concrete_choices_with_descriptions() {
    let mut c = conversation();
    let p = parse(
        "ma commande",
        Decision::Ambiguous { candidates: vec![score("track_order", 0.45), score("cancel_order", 0.4)] },
    );
    match c.observe(&p) {
        Action::Clarify { alternatives } => {
            assert_eq!(alternatives.len(), 2);
            assert_eq!(alternatives[0].description.as_deref(), Some("Suivre une commande"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn out_of_scope_says_what_the_bot_can_do_then_hands_off() {
    let mut c = conversation();
    match c.observe(&parse("quel temps fait-il ?", Decision::OutOfScope { confidence: 0.1 })) {
        Action::Fallback { reason, suggestions } => {
            assert_eq!(reason, FallbackReason::OutOfScope);
            assert!(!suggestions.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // The second consecutive fallback goes to a person: no "je n'ai pas compris" loop.
    match c.observe(&parse("et demain ?", Decision::OutOfScope { confidence: 0.1 })) {
        Action::Handoff { reason, context } => {
            assert_eq!(reason, HandoffReason::RepeatedFallbacks { count: 2 });
            assert_eq!(context.transcript.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn understanding_resets_the_fallback_count() {
    let mut c = conversation();
    c.observe(&parse("bla", Decision::OutOfScope { confidence: 0.1 }));
    c.observe(&intent("vos horaires ?", "opening_hours"));
    assert!(matches!(c.observe(&parse("bla", Decision::OutOfScope { confidence: 0.1 })), Action::Fallback { .. }));
}

#[test]
fn empty_messages_are_not_counted_as_failures() {
    let mut c = conversation();
    for _ in 0..3 {
        assert!(matches!(
            c.observe(&parse("", Decision::Empty)),
            Action::Fallback { reason: FallbackReason::Empty, .. }
        ));
    }
    assert_eq!(c.consecutive_fallbacks(), 0);
}

#[test]
fn asking_for_a_person_hands_off_with_the_whole_context() {
    let mut c = conversation();
    c.observe(&intent("je veux suivre ma commande", "track_order"));
    c.observe(&with_entity(parse("la 48213", Decision::OutOfScope { confidence: 0.2 }), "order_id", "48213"));
    match c.observe(&intent("passez-moi un humain", "talk_to_human")) {
        Action::Handoff { reason, context } => {
            assert_eq!(reason, HandoffReason::CustomerAsked);
            assert_eq!(context.current_intent.as_deref(), Some("track_order"));
            assert_eq!(context.entities["order_id"].text, "48213");
            assert_eq!(context.transcript.len(), 3);
            assert!(
                context.summary.contains("48213") && context.summary.contains("track_order"),
                "{}",
                context.summary
            );
            // What the agent receives is JSON.
            let json = serde_json::to_string(&context).unwrap();
            let back: HandoffContext = serde_json::from_str(&json).unwrap();
            assert_eq!(back, context);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_human_signal_hands_off_whatever_the_intent() {
    let mut c = conversation();
    let p = with_signal(intent("je veux être remboursé, passez-moi un conseiller", "opening_hours"), "wants_human");
    assert!(matches!(c.observe(&p), Action::Handoff { reason: HandoffReason::CustomerAsked, .. }));
}

#[test]
fn frustration_hands_off_unless_disabled() {
    let p = with_signal(intent("c'est la 3e fois que je demande mes horaires !!!", "opening_hours"), "frustrated");
    assert!(matches!(conversation().observe(&p), Action::Handoff { reason: HandoffReason::Frustration, .. }));
    let config = PolicyConfig { handoff_on_frustration: false, ..Default::default() };
    let mut c = Conversation::with_config(intents(), config);
    assert!(matches!(c.observe(&p), Action::Answer { .. }));
}

#[test]
fn a_menu_replaces_the_ranking_in_fallbacks() {
    let config = PolicyConfig { menu: vec!["track_order".into(), "opening_hours".into()], ..Default::default() };
    let mut c = Conversation::with_config(intents(), config);
    match c.observe(&parse("quel temps fait-il ?", Decision::OutOfScope { confidence: 0.1 })) {
        Action::Fallback { suggestions, .. } => {
            let names: Vec<&str> = suggestions.iter().map(|s| s.intent.as_str()).collect();
            assert_eq!(names, ["track_order", "opening_hours"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn slot_mappings_fill_the_awaited_entity_from_another_type() {
    let mut slot_mappings = BTreeMap::new();
    slot_mappings.insert("order_id".to_string(), vec!["number".to_string()]);
    let mut c = Conversation::with_config(intents(), PolicyConfig { slot_mappings, ..Default::default() });
    c.observe(&intent("je veux suivre ma commande", "track_order"));
    let answer = with_entity(parse("c'est la 0048213", Decision::OutOfScope { confidence: 0.2 }), "number", "0048213");
    match c.observe(&answer) {
        Action::Answer { intent, entities } => {
            assert_eq!(intent, "track_order");
            assert_eq!(entities["order_id"].value, serde_json::json!("0048213"));
        }
        other => panic!("{other:?}"),
    }
    // Without the mapping a number is not an order number.
    let mut c = conversation();
    c.observe(&intent("je veux suivre ma commande", "track_order"));
    assert!(matches!(c.observe(&answer), Action::Fallback { .. }));
}

#[test]
fn an_umbrella_intent_offers_its_choices_best_ranked_first_and_counts_as_a_fallback() {
    let mut specs = intents();
    let choices = vec!["track_order".to_string(), "cancel_order".to_string(), "opening_hours".to_string()];
    specs.insert("order_problem".into(), IntentSpec { clarify_with: choices, ..Default::default() });
    let mut c = Conversation::with_config(specs, PolicyConfig::default());
    let mut vague = intent("j'ai un souci avec ma commande", "order_problem");
    vague.ranking.push(score("cancel_order", 0.05));
    match c.observe(&vague) {
        Action::Clarify { alternatives } => {
            let names: Vec<&str> = alternatives.iter().map(|a| a.intent.as_str()).collect();
            // By the message's ranking (cancel_order 0.05, opening_hours 0.01), then unranked.
            assert_eq!(names, ["cancel_order", "opening_hours", "track_order"]);
            assert_eq!(alternatives[2].description.as_deref(), Some("Suivre une commande"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.consecutive_fallbacks(), 1);
    // Staying vague does not loop: the second one goes to a person.
    assert!(matches!(c.observe(&vague), Action::Handoff { reason: HandoffReason::RepeatedFallbacks { count: 2 }, .. }));
}
