//! The conversation policy: what a support bot should do next, turn after turn.
//!
//! A [`Conversation`] is fed each [`Parse`] of the customer's messages and recommends an
//! [`Action`]. It encodes what separates a useful support bot from a hated one:
//!
//! - **Answer** a recognised request ([`Action::Answer`]) once the entities it needs are known;
//! - **ask for what is missing** ([`Action::AskFor`]) when an intent declares
//!   `required_entities` (tracking needs the order number), and pick the answer up on the next
//!   turn ("c'est la 48213") without making the customer repeat the request;
//! - **offer concrete choices** ([`Action::Clarify`]) when two or three intents are too close to
//!   call, or when the message names a topic but not the request (an umbrella intent, declared
//!   with `clarify_with`: "j'ai un souci avec ma commande"), never a bare "please rephrase";
//! - **say what it can do** ([`Action::Fallback`]) when the message is out of scope;
//! - **hand over to a person** ([`Action::Handoff`]) when the customer asks for one, when
//!   frustration is detected, or after [`PolicyConfig::max_fallbacks`] consecutive fallbacks
//!   (default 2), with the whole [`HandoffContext`] (transcript, intents and confidences,
//!   collected entities, reasons) so that nobody has to repeat anything.
//!
//! The policy is deliberately small and deterministic: the bot keeps its own dialogue logic and
//! wording, and the policy makes sure the few rules above always hold.
//!
//! ```no_run
//! use entendu::conversation::{Action, Conversation};
//! use entendu::Nlu;
//!
//! let nlu = Nlu::load("models/support")?;
//! let mut conversation = Conversation::new(&nlu);
//! for message in ["je veux suivre ma commande", "c'est la 48213"] {
//!     match conversation.observe(&nlu.parse(message)?) {
//!         Action::Answer { intent, entities } => println!("handle {intent} with {entities:?}"),
//!         Action::AskFor { entity, .. } => println!("ask the customer for their {entity}"),
//!         Action::Clarify { alternatives } => println!("offer {alternatives:?}"),
//!         Action::Fallback { suggestions, .. } => println!("say what I can do: {suggestions:?}"),
//!         Action::Handoff { context, .. } => println!("{}", serde_json::to_string(&context)?),
//!         _ => {} // `Action` is non-exhaustive
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::data::IntentSpec;
use crate::intent::{Decision, IntentScore};
use crate::parse::{Entity, Parse};
use crate::Nlu;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The rules of the policy; the defaults suit the bundled support model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// Consecutive fallbacks (out of scope or ambiguous) that trigger a handoff (0: never).
    pub max_fallbacks: usize,
    /// Hand over as soon as the frustration signal is active.
    pub handoff_on_frustration: bool,
    /// Intents that mean "put me through to a person".
    pub human_intents: Vec<String>,
    /// The signal that means the customer wants a person, whatever the intent.
    pub human_signal: String,
    /// The signal that means the customer is frustrated.
    pub frustration_signal: String,
    /// Most alternatives offered by [`Action::Clarify`] and [`Action::Fallback`].
    pub max_alternatives: usize,
    /// What the bot offers when a message is out of scope (intent names, best first). Empty:
    /// the best-ranked intents of the message.
    pub menu: Vec<String>,
    /// Slot mappings: while the bot waits for entity `key`, an entity of one of these types
    /// fills it too (Rasa's `from_entity`, Dialogflow's slot types). A shop whose order
    /// numbers are plain numbers maps `order_id` to `["number"]`, so a bare "c'est la 48213"
    /// answers "what is your order number?".
    pub slot_mappings: BTreeMap<String, Vec<String>>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            max_fallbacks: 2,
            handoff_on_frustration: true,
            human_intents: vec!["talk_to_human".into()],
            human_signal: "wants_human".into(),
            frustration_signal: "frustrated".into(),
            max_alternatives: 3,
            menu: Vec::new(),
            slot_mappings: BTreeMap::new(),
        }
    }
}

/// An intent offered to the customer as a concrete choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    /// Intent name.
    pub intent: String,
    /// Its human-readable description from the training data, to show as the choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The model's confidence that the message meant this (0 for menu entries).
    pub confidence: f32,
}

/// Why a message was not acted upon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// The message is outside what the bot handles.
    OutOfScope,
    /// The message was empty.
    Empty,
}

/// Why the conversation goes to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HandoffReason {
    /// The customer asked for a person (a human intent or the human signal).
    CustomerAsked,
    /// The frustration signal was active.
    Frustration,
    /// The bot failed to understand this many messages in a row.
    RepeatedFallbacks {
        /// Consecutive fallbacks.
        count: usize,
    },
}

/// What the policy recommends after a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Act on `intent`: every entity it requires is known. `entities` holds everything
    /// collected in the conversation so far, by entity type (latest value wins).
    Answer {
        /// The intent to act on.
        intent: String,
        /// Entities collected so far, by type.
        entities: BTreeMap<String, Entity>,
    },
    /// The intents are too close to call, or the message named a topic but not the request
    /// (an umbrella intent's `clarify_with`): offer these as choices.
    Clarify {
        /// Two or three intents, best first.
        alternatives: Vec<Alternative>,
    },
    /// `intent` needs `entity` (e.g. `track_order` needs `order_id`): ask for it. The next
    /// message that carries it resumes `intent`.
    AskFor {
        /// The intent waiting for the entity.
        intent: String,
        /// The entity type to ask for.
        entity: String,
    },
    /// Nothing to act on: say what the bot can do (and that a person is available).
    Fallback {
        /// Why.
        reason: FallbackReason,
        /// What to offer instead.
        suggestions: Vec<Alternative>,
    },
    /// Put the customer through to a person, with everything understood so far.
    Handoff {
        /// Why now.
        reason: HandoffReason,
        /// What the agent receives.
        context: HandoffContext,
    },
}

/// One message of the conversation as the agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// What the customer wrote.
    pub text: String,
    /// What the model concluded.
    pub decision: Decision,
    /// The best intents with their confidences.
    pub ranking: Vec<IntentScore>,
    /// Active signals.
    pub signals: Vec<String>,
    /// Entities found in this message.
    pub entities: Vec<Entity>,
}

/// Everything an agent needs to take over without asking the customer to repeat: serialise it
/// (serde) and send it with the handoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffContext {
    /// One line for the agent: what the customer wants, what is known, why the handoff.
    pub summary: String,
    /// The request being handled (the last recognised intent), if any.
    pub current_intent: Option<String>,
    /// An entity the bot was still waiting for, if any.
    pub awaiting: Option<String>,
    /// Entities collected over the conversation, by type (latest value wins).
    pub entities: BTreeMap<String, Entity>,
    /// Every handoff reason so far.
    pub reasons: Vec<HandoffReason>,
    /// The whole conversation, oldest first.
    pub transcript: Vec<Turn>,
}

/// Tracks one conversation and applies the policy (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Conversation {
    config: PolicyConfig,
    intents: BTreeMap<String, IntentSpec>,
    transcript: Vec<Turn>,
    entities: BTreeMap<String, Entity>,
    current_intent: Option<String>,
    awaiting: Option<(String, String)>,
    fallbacks: usize,
    reasons: Vec<HandoffReason>,
}

impl Conversation {
    /// A conversation with the default policy and the intents (required entities,
    /// descriptions) that `nlu` was trained with.
    pub fn new(nlu: &Nlu) -> Self {
        Self::with_config(nlu.manifest().intents.clone(), PolicyConfig::default())
    }

    /// A conversation with explicit intent settings and policy.
    pub fn with_config(intents: BTreeMap<String, IntentSpec>, config: PolicyConfig) -> Self {
        Self {
            config,
            intents,
            transcript: Vec::new(),
            entities: BTreeMap::new(),
            current_intent: None,
            awaiting: None,
            fallbacks: 0,
            reasons: Vec::new(),
        }
    }

    /// Records `parse` (the customer's latest message) and recommends what to do.
    pub fn observe(&mut self, parse: &Parse) -> Action {
        let active: Vec<String> = parse.signals.iter().filter(|s| s.active).map(|s| s.name.clone()).collect();
        self.transcript.push(Turn {
            text: parse.text.clone(),
            decision: parse.decision.clone(),
            ranking: parse.ranking.clone(),
            signals: active.clone(),
            entities: parse.entities.clone(),
        });
        for entity in &parse.entities {
            self.entities.insert(entity.entity.clone(), entity.clone());
        }
        if let Decision::Intent { name, .. } = &parse.decision {
            if !self.config.human_intents.contains(name) {
                self.current_intent = Some(name.clone());
            }
        }

        let asked_human = parse.intent().is_some_and(|i| self.config.human_intents.iter().any(|h| h == i))
            || active.contains(&self.config.human_signal);
        if asked_human {
            return self.handoff(HandoffReason::CustomerAsked);
        }
        if self.config.handoff_on_frustration && active.contains(&self.config.frustration_signal) {
            return self.handoff(HandoffReason::Frustration);
        }

        // An answer to the question the bot asked resumes the waiting request, whatever the
        // model makes of a bare "c'est la 48213" on its own, unless the customer moved on to
        // another request that needs the same entity.
        if let Some((waiting, entity)) = self.awaiting.clone() {
            let brought = self.fill_awaited(&entity, parse);
            let moved_on = match &parse.decision {
                Decision::Intent { name, .. } => name != &waiting && self.required(name).contains(&entity),
                _ => false,
            };
            if brought && !moved_on {
                self.current_intent = Some(waiting.clone());
                return self.act_on(&waiting);
            }
        }

        match &parse.decision {
            Decision::Intent { name, .. } => self.act_on(&name.clone()),
            Decision::Ambiguous { candidates } => {
                if let Some(action) = self.count_fallback() {
                    return action;
                }
                let mut alternatives: Vec<Alternative> = candidates.iter().map(|c| self.alternative(c)).collect();
                // At least two choices: a single "did you mean X?" is a yes/no trap.
                for extra in &parse.ranking {
                    if alternatives.len() >= 2 {
                        break;
                    }
                    if !alternatives.iter().any(|a| a.intent == extra.name) {
                        alternatives.push(self.alternative(extra));
                    }
                }
                alternatives.truncate(self.config.max_alternatives.max(2));
                Action::Clarify { alternatives }
            }
            Decision::OutOfScope { .. } => {
                if let Some(action) = self.count_fallback() {
                    return action;
                }
                Action::Fallback { reason: FallbackReason::OutOfScope, suggestions: self.suggestions(parse) }
            }
            Decision::Empty => Action::Fallback { reason: FallbackReason::Empty, suggestions: self.suggestions(parse) },
        }
    }

    /// What the agent would receive if the conversation were handed over now.
    pub fn context(&self) -> HandoffContext {
        let known: Vec<String> =
            self.entities.values().map(|e| format!("{} {}", e.entity, value_text(&e.value, &e.text))).collect();
        let mut summary = match &self.current_intent {
            Some(intent) => {
                let description = self.intents.get(intent).and_then(|s| s.description.clone());
                match description {
                    Some(d) => format!("request: {intent} ({d})"),
                    None => format!("request: {intent}"),
                }
            }
            None => "request: not identified".to_string(),
        };
        if !known.is_empty() {
            summary.push_str(&format!("; known: {}", known.join(", ")));
        }
        if let Some((_, entity)) = &self.awaiting {
            summary.push_str(&format!("; missing: {entity}"));
        }
        if let Some(reason) = self.reasons.last() {
            let why = match reason {
                HandoffReason::CustomerAsked => "the customer asked for a person".to_string(),
                HandoffReason::Frustration => "the customer is frustrated".to_string(),
                HandoffReason::RepeatedFallbacks { count } => format!("the bot did not understand {count} messages"),
            };
            summary.push_str(&format!("; handoff: {why}"));
        }
        HandoffContext {
            summary,
            current_intent: self.current_intent.clone(),
            awaiting: self.awaiting.as_ref().map(|(_, e)| e.clone()),
            entities: self.entities.clone(),
            reasons: self.reasons.clone(),
            transcript: self.transcript.clone(),
        }
    }

    /// Entities collected so far, by type.
    pub fn entities(&self) -> &BTreeMap<String, Entity> {
        &self.entities
    }

    /// The messages so far.
    pub fn transcript(&self) -> &[Turn] {
        &self.transcript
    }

    /// Consecutive fallbacks so far.
    pub fn consecutive_fallbacks(&self) -> usize {
        self.fallbacks
    }

    /// Whether `parse` brings the awaited `entity`, directly or through a slot mapping (then
    /// recorded under the awaited name).
    fn fill_awaited(&mut self, entity: &str, parse: &Parse) -> bool {
        if parse.entities.iter().any(|e| e.entity == entity) {
            return true;
        }
        let mapped = self
            .config
            .slot_mappings
            .get(entity)
            .and_then(|types| parse.entities.iter().find(|e| types.contains(&e.entity)));
        match mapped {
            Some(found) => {
                // The text as written: "0048213" must not become the number 48213.
                let filled = Entity {
                    entity: entity.to_string(),
                    value: serde_json::Value::String(found.text.clone()),
                    ..found.clone()
                };
                self.entities.insert(entity.to_string(), filled);
                true
            }
            None => false,
        }
    }

    fn required(&self, intent: &str) -> &[String] {
        self.intents.get(intent).map(|s| s.required_entities.as_slice()).unwrap_or(&[])
    }

    fn act_on(&mut self, intent: &str) -> Action {
        if let Some(action) = self.clarify_umbrella(intent) {
            return action;
        }
        self.fallbacks = 0;
        let missing = self.required(intent).iter().find(|e| !self.entities.contains_key(*e)).cloned();
        match missing {
            Some(entity) => {
                self.awaiting = Some((intent.to_string(), entity.clone()));
                Action::AskFor { intent: intent.to_string(), entity }
            }
            None => {
                self.awaiting = None;
                Action::Answer { intent: intent.to_string(), entities: self.entities.clone() }
            }
        }
    }

    /// For an umbrella intent (one with `clarify_with`): its choices, those the message ranks
    /// highest first, so that "un souci de paiement sur ma commande" offers the payment problem
    /// first. It counts as a fallback, so that a customer who stays vague reaches a person
    /// instead of a loop of questions.
    fn clarify_umbrella(&mut self, intent: &str) -> Option<Action> {
        let choices = self.intents.get(intent).map(|s| s.clarify_with.clone()).filter(|c| !c.is_empty())?;
        if let Some(action) = self.count_fallback() {
            return Some(action);
        }
        self.awaiting = None;
        let ranking = self.transcript.last().map(|t| t.ranking.clone()).unwrap_or_default();
        let score = |name: &str| ranking.iter().find(|s| s.name == name).map_or(0.0, |s| s.confidence);
        let mut alternatives: Vec<Alternative> = choices
            .iter()
            .map(|name| self.alternative(&IntentScore { name: name.clone(), confidence: score(name) }))
            .collect();
        // Stable: choices the ranking does not score keep the declared order.
        alternatives.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        alternatives.truncate(self.config.max_alternatives.max(2));
        Some(Action::Clarify { alternatives })
    }

    /// Counts a fallback; the handoff when it is one too many.
    fn count_fallback(&mut self) -> Option<Action> {
        self.fallbacks += 1;
        if self.config.max_fallbacks > 0 && self.fallbacks >= self.config.max_fallbacks {
            let count = self.fallbacks;
            return Some(self.handoff(HandoffReason::RepeatedFallbacks { count }));
        }
        None
    }

    fn handoff(&mut self, reason: HandoffReason) -> Action {
        self.fallbacks = 0;
        self.reasons.push(reason.clone());
        Action::Handoff { reason, context: self.context() }
    }

    fn alternative(&self, score: &IntentScore) -> Alternative {
        Alternative {
            intent: score.name.clone(),
            description: self.intents.get(&score.name).and_then(|s| s.description.clone()),
            confidence: score.confidence,
        }
    }

    fn suggestions(&self, parse: &Parse) -> Vec<Alternative> {
        let max = self.config.max_alternatives.max(1);
        if self.config.menu.is_empty() {
            parse.ranking.iter().take(max).map(|s| self.alternative(s)).collect()
        } else {
            self.config
                .menu
                .iter()
                .take(max)
                .map(|intent| self.alternative(&IntentScore { name: intent.clone(), confidence: 0.0 }))
                .collect()
        }
    }
}

fn value_text(value: &serde_json::Value, text: &str) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => text.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
