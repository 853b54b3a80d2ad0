//! A customer-service bot in the terminal, built only on entendu's public API: it says it is a
//! virtual assistant, answers a small FAQ, asks for the order number when tracking, offers
//! concrete choices when a message is ambiguous, and hands over to a person (printing the
//! context JSON the agent would receive) when asked, when the customer is frustrated, or after
//! two messages in a row it could not handle.
//!
//! ```text
//! cargo run --release --example support_desk                 # type messages, Ctrl-D to quit
//! printf 'bonjour\nje veux suivre ma commande\nc est la 12345\n' | cargo run --release --example support_desk
//! ```
//!
//! It reads stdin line by line (so it can be scripted) and answers each line at once.
//! `tests/support_desk.rs` runs a scripted session through [`run`] and checks every branch.
#![allow(dead_code)] // `tests/support_desk.rs` includes this file for `run`, without `main`.

use entendu::conversation::{Action, Alternative, Conversation, FallbackReason, HandoffReason, PolicyConfig};
use entendu::{Encoder, Nlu};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nlu = load_model()?;
    let stdin = std::io::stdin();
    run(stdin.lock(), &mut std::io::stdout(), &nlu)?;
    Ok(())
}

/// The bundled support model, retrained on first use if this machine's copy of the encoder is
/// not the one it was trained with (the hub's f32 weights vs the offline 4-bit-derived ones).
pub fn load_model() -> Result<Nlu, entendu::Error> {
    let encoder = Arc::new(Encoder::load_or_fetch("multilingual-e5-small", &mut |line| eprintln!("{line}"))?);
    let mut announced = false;
    let (nlu, retrained) = Nlu::load_or_retrain("models/support", encoder, &mut |stage, _, _| {
        if !announced {
            eprintln!("(first run with this encoder: retraining the support model, about five minutes: {stage}…)");
            announced = true;
        }
    })?;
    if retrained {
        eprintln!("(support model ready for this encoder)");
    }
    Ok(nlu)
}

/// The policy of this shop: order numbers are plain numbers, so a bare number answers "what is
/// your order number?"; out-of-scope messages get the shop's menu.
pub fn policy() -> PolicyConfig {
    let mut slot_mappings = BTreeMap::new();
    slot_mappings.insert("order_id".to_string(), vec!["number".to_string()]);
    PolicyConfig {
        slot_mappings,
        menu: vec!["track_order".into(), "return_exchange".into(), "opening_hours".into()],
        ..PolicyConfig::default()
    }
}

/// Runs the conversation over `input`'s lines, writing the bot's side to `out`; returns the
/// action taken for each line.
pub fn run(input: impl BufRead, out: &mut impl Write, nlu: &Nlu) -> std::io::Result<Vec<Action>> {
    let mut conversation = Conversation::with_config(nlu.manifest().intents.clone(), policy());
    let mut actions = Vec::new();
    writeln!(
        out,
        "bot> Bonjour ! Je suis l'assistant virtuel de la boutique (un programme, pas une personne). \
         Je peux suivre une commande, expliquer les retours, donner nos horaires… \
         et vous passer un conseiller à tout moment : tapez « conseiller »."
    )?;
    for line in input.split(b'\n') {
        // A line that is not UTF-8 is read as well as it can be, not a reason to stop.
        let line = String::from_utf8_lossy(&line?).trim_end_matches('\r').to_string();
        writeln!(out, "vous> {}", shorten(&line, 200))?;
        let parse = match nlu.parse(&line) {
            Ok(parse) => parse,
            Err(e) => {
                writeln!(out, "bot> Désolé, un problème technique m'empêche de lire ce message ({e}).")?;
                continue;
            }
        };
        let action = conversation.observe(&parse);
        reply(out, &action)?;
        if matches!(action, Action::Handoff { .. }) {
            // The agent takes this conversation; the demo goes on with a fresh one.
            conversation = Conversation::with_config(nlu.manifest().intents.clone(), policy());
        }
        out.flush()?;
        actions.push(action);
    }
    writeln!(out, "bot> Au revoir, et merci de votre visite !")?;
    Ok(actions)
}

fn reply(out: &mut impl Write, action: &Action) -> std::io::Result<()> {
    match action {
        Action::Answer { intent, entities } => {
            let entity = |name: &str| entities.get(name).map(|e| e.text.as_str());
            let text = match (intent.as_str(), entity("order_id")) {
                ("track_order", Some(id)) => {
                    format!("Votre commande {id} est en cours de livraison : elle arrivera sous 2 jours ouvrés.")
                }
                ("delivery_delay", Some(id)) => {
                    format!("Je suis désolé pour ce retard. La commande {id} est chez le transporteur, je le relance.")
                }
                ("return_exchange", id) => format!(
                    "Vous avez 30 jours pour retourner un article{}, gratuitement en point relais : \
                     l'étiquette est dans votre espace client.",
                    id.map(|id| format!(" de la commande {id}")).unwrap_or_default()
                ),
                ("opening_hours", _) => {
                    "La boutique est ouverte du lundi au samedi de 9 h à 19 h ; le service client répond de 8 h à 20 h."
                        .to_string()
                }
                ("shipping_info", _) => {
                    "La livraison est offerte dès 50 € ; comptez 2 à 4 jours ouvrés en France.".to_string()
                }
                ("greeting", _) => "Bonjour ! Que puis-je faire pour vous ?".to_string(),
                ("thanks", _) => "Avec plaisir ! Autre chose ?".to_string(),
                ("goodbye", _) => "Au revoir et bonne journée !".to_string(),
                ("are_you_a_bot", _) => {
                    "Oui, je suis un assistant virtuel. Tapez « conseiller » pour parler à une personne.".to_string()
                }
                ("affirm", _) => "Très bien.".to_string(),
                ("deny", _) => "D'accord. Que puis-je faire d'autre pour vous ?".to_string(),
                (other, _) => {
                    let known: Vec<String> = entities.values().map(|e| format!("{} = {}", e.entity, e.text)).collect();
                    format!(
                        "C'est noté ({other}{}). [démo : ici le bot appellerait le système de la boutique]",
                        if known.is_empty() { String::new() } else { format!(" ; {}", known.join(", ")) }
                    )
                }
            };
            writeln!(out, "bot> {text}")
        }
        Action::AskFor { entity, .. } => {
            let question = match entity.as_str() {
                "order_id" => "Quel est votre numéro de commande ? Il figure dans l'e-mail de confirmation.",
                "date" => "Pour quelle date ?",
                "product" => "De quel produit s'agit-il ?",
                _ => "Il me manque une information pour continuer :",
            };
            writeln!(out, "bot> {question} [{entity}]")
        }
        Action::Clarify { alternatives } => {
            writeln!(out, "bot> Je veux être sûr de bien comprendre. Vous souhaitez :")?;
            choices(out, alternatives)?;
            writeln!(out, "bot> … ou parler à un conseiller ?")
        }
        Action::Fallback { reason: FallbackReason::Empty, .. } => {
            writeln!(out, "bot> Je vous écoute : que puis-je faire pour vous ?")
        }
        Action::Fallback { reason: FallbackReason::OutOfScope, suggestions } => {
            writeln!(out, "bot> Je ne peux pas vous aider sur ce sujet. Je peux par exemple :")?;
            choices(out, suggestions)?;
            writeln!(out, "bot> … ou vous passer un conseiller.")
        }
        Action::Handoff { reason, context } => {
            let why = match reason {
                HandoffReason::CustomerAsked => "Bien sûr.",
                HandoffReason::Frustration => "Je suis désolé pour la gêne occasionnée.",
                HandoffReason::RepeatedFallbacks { .. } => "Je n'arrive pas à vous aider correctement.",
            };
            writeln!(
                out,
                "bot> {why} Je vous mets en relation avec un conseiller (handoff) : il a tout l'historique, \
                 vous n'aurez rien à répéter."
            )?;
            let json = serde_json::to_string_pretty(context).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            writeln!(out, "--- handoff context, as the agent receives it ---\n{json}\n---")
        }
        // `Action` may grow (it is `#[non_exhaustive]`); a bot should still answer something.
        _ => writeln!(out, "bot> Un instant, je vous passe un conseiller."),
    }
}

fn choices(out: &mut impl Write, alternatives: &[Alternative]) -> std::io::Result<()> {
    for (i, a) in alternatives.iter().enumerate() {
        writeln!(out, "bot>   {}. {}", i + 1, a.description.as_deref().unwrap_or(&a.intent))?;
    }
    Ok(())
}

/// The first `max` characters of `text`, for echoing very long lines.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.chars().count()),
        None => text.to_string(),
    }
}
