//! Supported languages and a small stop-word language guesser.

use std::collections::HashSet;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// A language whose number words, currency words and date/time expressions are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// French.
    Fr,
    /// English.
    En,
    /// Spanish.
    Es,
    /// German.
    De,
}

impl Lang {
    /// All supported languages, in the order used when none is given.
    pub const ALL: [Lang; 4] = [Lang::Fr, Lang::En, Lang::Es, Lang::De];

    /// Parses a language code: ISO 639-1 (`"fr"`), ISO 639-2/3 (`"fra"`, `"fre"`), an English
    /// name (`"french"`) or a locale tag whose primary subtag is one of those (`"fr-CA"`,
    /// `"de_AT"`). Case-insensitive; `None` for anything else.
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_', '.']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "fr" | "fra" | "fre" | "french" | "francais" | "français" => Some(Lang::Fr),
            "en" | "eng" | "english" => Some(Lang::En),
            "es" | "spa" | "spanish" | "espanol" | "español" => Some(Lang::Es),
            "de" | "deu" | "ger" | "german" | "deutsch" => Some(Lang::De),
            _ => None,
        }
    }

    /// The ISO 639-1 code (`"fr"`, `"en"`, `"es"`, `"de"`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
            Lang::Es => "es",
            Lang::De => "de",
        }
    }

    /// Whether the language writes decimals with a comma (`12,50`) rather than a point.
    pub fn decimal_comma(self) -> bool {
        self != Lang::En
    }

    /// Regions where the language is spoken whose national phone numbers start with a trunk
    /// `0` (`0171 4482913`, `07700 900318`): a message in that language may give one even to a
    /// bot of another region. Regions whose numbers have no trunk prefix (Spain, Italy, the
    /// US) are left out: any 9 or 10 digits would pass for one, order numbers included.
    pub(crate) fn trunk_prefix_phone_regions(self) -> &'static [&'static str] {
        match self {
            Lang::Fr => &["FR", "BE", "CH"],
            Lang::En => &["GB", "IE"],
            Lang::Es => &[],
            Lang::De => &["DE", "AT", "CH"],
        }
    }
}

/// Stop words and frequent customer-service words per language (folded: no accents).
/// A word may belong to several languages.
const FR_WORDS: &str = "je j' tu il elle nous vous le les du des au aux et est suis pour pas ne \
    que qui dans sur avec mon ma mes votre vos ce cette ces une bonjour merci voudrais veux \
    pouvez peux mais ou l' d' qu' n' c' s' m' rendez-vous commande colis livraison demain \
    aujourd'hui hier semaine prochain prochaine dernier derniere heures jours mois moi ai avez \
    j'ai ete toujours rien recu payer paye euros numero chez sont me te se la de en a un si \
    tres peut fait faire avoir y";
const EN_WORDS: &str = "the i you my your is are was were be and to of for on at it this that \
    with have has hasn't haven't not can could would please hello hi thanks thank order what \
    when where how do does did will me we our an from by get want need ago next last tomorrow \
    today yesterday week days i'm don't can't it's there still received pay paid number call \
    book appointment refund am in a so if or";
const ES_WORDS: &str = "el los las del que y un una por para con mi mis su es esta estoy no lo \
    al quiero quisiera puedo puede hola gracias pedido cita manana hoy ayer semana dias \
    proximo pasado hace dentro como pero muy tengo necesito llega favor todavia recibido \
    pagar pague numero llamar cuando mas ha he hasta me te se la de en a le les nos si son ya \
    tiene";
const DE_WORDS: &str = "der die das und ich ist nicht ein eine einen mit fur auf zu von mein \
    meine sie wir bitte habe hat den dem am um im wann wie kann konnen mochte morgen heute \
    gestern nachsten tagen woche uhr danke hallo bestellung termin noch schon uber aber oder \
    vor bis meiner meinen ihre ihr erhalten bezahlt nummer wurde mir mich sind es in was will \
    ja nein sehr haben war dass auch nur geht";

static STOP_WORDS: LazyLock<[HashSet<&'static str>; 4]> =
    LazyLock::new(|| [FR_WORDS, EN_WORDS, ES_WORDS, DE_WORDS].map(|s| s.split_whitespace().collect()));

/// Guesses the language(s) of `text` from stop words and telltale letters.
///
/// Returns the best-scoring languages (several on a tie), best first, or all of
/// [`Lang::ALL`] when nothing points to any language (e.g. `"14:30"`, `"demain"`). Used by
/// [`extract`](super::extract) when [`BuiltinOptions::languages`](super::BuiltinOptions) is
/// empty, so that words shared between languages (French "très" vs Spanish "tres", English
/// "once" vs Spanish "once") are read in the language of the message.
pub fn guess_languages(text: &str) -> Vec<Lang> {
    let folded = super::text::Folded::new(text);
    guess_folded(text, &folded.text)
}

/// [`guess_languages`] on an already folded text.
pub(crate) fn guess_folded(original: &str, folded: &str) -> Vec<Lang> {
    let mut scores = [0i32; 4];
    for c in original.chars().take(10_000) {
        match c {
            'ñ' | 'Ñ' | '¿' | '¡' | 'á' | 'í' | 'ó' | 'ú' => scores[2] += 2,
            'ß' | 'ä' | 'ö' | 'Ä' | 'Ö' => scores[3] += 3,
            'ü' | 'Ü' => scores[3] += 1,
            'ç' | 'œ' | 'è' | 'ê' | 'ë' | 'î' | 'ï' | 'ù' | 'û' | 'â' | 'à' => scores[0] += 2,
            _ => {}
        }
    }
    for word in
        folded.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-')).filter(|w| !w.is_empty()).take(2_000)
    {
        let w = word.trim_matches(['\'', '-']);
        let elided = word.find('\'').and_then(|i| word.get(..=i));
        for (list, score) in STOP_WORDS.iter().zip(scores.iter_mut()) {
            if list.contains(&w) || elided.is_some_and(|e| list.contains(&e)) {
                *score += 1;
            }
        }
    }
    let best = scores.iter().copied().max().unwrap_or(0);
    if best <= 0 {
        return Lang::ALL.to_vec();
    }
    let mut langs: Vec<(i32, Lang)> =
        Lang::ALL.iter().zip(scores).filter(|(_, s)| *s == best).map(|(l, s)| (s, *l)).collect();
    langs.sort_by_key(|l| std::cmp::Reverse(l.0));
    langs.into_iter().map(|(_, l)| l).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(Lang::from_code("fr"), Some(Lang::Fr));
        assert_eq!(Lang::from_code("EN-us"), Some(Lang::En));
        assert_eq!(Lang::from_code("es_MX"), Some(Lang::Es));
        assert_eq!(Lang::from_code("deu"), Some(Lang::De));
        assert_eq!(Lang::from_code("it"), None);
        assert_eq!(Lang::from_code(""), None);
        for l in Lang::ALL {
            assert_eq!(Lang::from_code(l.code()), Some(l));
        }
    }

    #[test]
    fn guesses() {
        assert_eq!(guess_languages("je suis très content de ma commande"), vec![Lang::Fr]);
        assert_eq!(guess_languages("my order hasn't arrived yet"), vec![Lang::En]);
        assert_eq!(guess_languages("quiero cambiar mi pedido"), vec![Lang::Es]);
        assert_eq!(guess_languages("ich möchte meine Bestellung ändern"), vec![Lang::De]);
        assert_eq!(guess_languages("14:30").len(), 4);
        assert_eq!(guess_languages("").len(), 4);
    }
}
