//! Tests of [`extract`] as a whole: one per entity and language, bad input, invariants.

use super::*;
use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::json;

fn reference() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 3, 13).and_then(|d| d.and_hms_opt(10, 0, 0)).expect("valid reference")
}

fn opts(lang: Lang) -> BuiltinOptions {
    let region = match lang {
        Lang::Fr => "FR",
        Lang::En => "US",
        Lang::Es => "ES",
        Lang::De => "DE",
    };
    BuiltinOptions::new(reference()).with_languages(vec![lang]).with_phone_region(region)
}

fn check_invariants(text: &str, found: &[BuiltinMatch]) {
    let mut last_end = 0;
    for m in found {
        assert!(text.is_char_boundary(m.start), "{m:?}");
        assert!(text.is_char_boundary(m.end), "{m:?}");
        assert!(m.start < m.end, "{m:?}");
        assert_eq!(&text[m.start..m.end], m.text);
        assert!(m.start >= last_end, "overlap or unsorted: {found:?}");
        assert!(BUILTIN_ENTITIES.contains(&m.entity));
        last_end = m.end;
    }
}

/// The `(entity, text, value)` triples found in `text`.
fn found(text: &str, lang: Lang) -> Vec<(&'static str, String, Value)> {
    let f = extract(text, &opts(lang));
    check_invariants(text, &f);
    f.into_iter().map(|m| (m.entity, m.text, m.value)).collect()
}

fn has(text: &str, lang: Lang, entity: &str, t: &str, v: Value) {
    let f = found(text, lang);
    assert!(
        f.iter().any(|(e, x, y)| *e == entity && x == t && *y == v),
        "{text:?}: expected {entity} {t:?} = {v}, got {f:?}"
    );
}

fn none_of(text: &str, lang: Lang, entity: &str) {
    let f = found(text, lang);
    assert!(!f.iter().any(|(e, _, _)| *e == entity), "{text:?}: expected no {entity}, got {f:?}");
}

#[test]
fn emails() {
    has(
        "Mon adresse : Jean.Dupont@Exemple.FR merci",
        Lang::Fr,
        "email",
        "Jean.Dupont@Exemple.FR",
        json!("Jean.Dupont@exemple.fr"),
    );
    none_of("écrivez-moi à jean arobase exemple point fr", Lang::Fr, "email");
}

#[test]
fn urls() {
    has(
        "Suivez votre colis sur https://www.laposte.fr/suivi?code=42.",
        Lang::Fr,
        "url",
        "https://www.laposte.fr/suivi?code=42",
        json!("https://www.laposte.fr/suivi?code=42"),
    );
    none_of("ok. bye.", Lang::En, "url");
}

#[test]
fn phones() {
    has("Rappelez-moi au 06 12 34 56 78 svp", Lang::Fr, "phone_number", "06 12 34 56 78", json!("+33612345678"));
    has("call +1 415 555 2671", Lang::En, "phone_number", "+1 415 555 2671", json!("+14155552671"));
    none_of("ma commande 48213 n'est pas arrivée", Lang::Fr, "phone_number");
    has("ma commande 48213 n'est pas arrivée", Lang::Fr, "number", "48213", json!(48213));
}

#[test]
fn numbers_each_language() {
    has("il m'en faut vingt-trois", Lang::Fr, "number", "vingt-trois", json!(23));
    has("total 1 234,56", Lang::Fr, "number", "1 234,56", json!(1234.56));
    has("total 1\u{202F}234,56", Lang::Fr, "number", "1\u{202F}234,56", json!(1234.56));
    has("I need twenty-three", Lang::En, "number", "twenty-three", json!(23));
    has("total 1,234.56", Lang::En, "number", "1,234.56", json!(1234.56));
    has("quiero cuarenta y dos", Lang::Es, "number", "cuarenta y dos", json!(42));
    has("ich brauche dreiundzwanzig", Lang::De, "number", "dreiundzwanzig", json!(23));
    none_of("j'ai un problème", Lang::Fr, "number");
}

#[test]
fn ordinals_each_language() {
    has("au 3e étage", Lang::Fr, "ordinal", "3e", json!(3));
    has("the third time", Lang::En, "ordinal", "third", json!(3));
    has("el tercero", Lang::Es, "ordinal", "tercero", json!(3));
    has("die dritte Mahnung", Lang::De, "ordinal", "dritte", json!(3));
    has("die 3. Mahnung", Lang::De, "ordinal", "3.", json!(3));
}

#[test]
fn money_each_language() {
    has("ça coûte 20 €", Lang::Fr, "amount_of_money", "20 €", json!({"value": 20.0, "unit": "EUR"}));
    has("my order of $49.99", Lang::En, "amount_of_money", "$49.99", json!({"value": 49.99, "unit": "USD"}));
    has("pagué veinte euros", Lang::Es, "amount_of_money", "veinte euros", json!({"value": 20.0, "unit": "EUR"}));
    has("30 Franken", Lang::De, "amount_of_money", "30 Franken", json!({"value": 30.0, "unit": "CHF"}));
}

#[test]
fn dates_each_language() {
    has("je passe demain", Lang::Fr, "date", "demain", json!("2024-03-14"));
    has("le 3 décembre", Lang::Fr, "date", "le 3 décembre", json!("2024-12-03"));
    has("next Monday", Lang::En, "date", "next Monday", json!("2024-03-18"));
    has("el 3 de diciembre", Lang::Es, "date", "el 3 de diciembre", json!("2024-12-03"));
    has("am 3. Dezember", Lang::De, "date", "am 3. Dezember", json!("2024-12-03"));
    none_of("le 31 février", Lang::Fr, "date");
    has("le 31 février", Lang::Fr, "number", "31", json!(31));
    none_of("30/02/2020", Lang::Fr, "date");
}

#[test]
fn times_and_datetimes() {
    has("rdv à 14h30", Lang::Fr, "time", "à 14h30", json!("14:30:00"));
    has("demain à 14h30", Lang::Fr, "datetime", "demain à 14h30", json!("2024-03-14T14:30:00"));
    has("tomorrow at 2pm", Lang::En, "datetime", "tomorrow at 2pm", json!("2024-03-14T14:00:00"));
    has("a las 3 de la tarde", Lang::Es, "time", "a las 3 de la tarde", json!("15:00:00"));
    has("morgen um 14 Uhr", Lang::De, "datetime", "morgen um 14 Uhr", json!("2024-03-14T14:00:00"));
}

#[test]
fn bad_input_never_panics() {
    let long = "demain à 14h, 06 12 34 56 78, 20 €, vingt-trois. ".repeat(2_000);
    let samples = [
        "".to_string(),
        " ".to_string(),
        "😀📦🚚 20€ 😀".to_string(),
        "fe\u{301}vrier le 3 fe\u{301}vrier a\u{300} 14h".to_string(),
        "\u{0}\u{1}\u{7f}\u{9}\u{1b}[31m 12\u{0}h".to_string(),
        "\u{301}\u{301}\u{301}".to_string(),
        "İstanbul ǅ ß ẞ ﬁ ½ ² ᵉ ª º".to_string(),
        "9".repeat(500),
        "1.".repeat(500),
        "-".repeat(300),
        long,
        "x".repeat(100_000),
        format!("www.{}", ")".repeat(50_000)),
        format!("https://a.fr/{}", ".".repeat(50_000)),
        format!("a{}@b.fr", ".".repeat(30_000)),
        "0 ".repeat(30_000),
        "1.".repeat(30_000),
        "vingt-".repeat(10_000),
        "dreiundzwanzig".repeat(5_000),
        "le 3 ".repeat(20_000),
        "+".repeat(40_000),
        "a las ".repeat(10_000),
    ];
    for s in &samples {
        let t = std::time::Instant::now();
        for lang in Lang::ALL {
            let f = extract(s, &opts(lang));
            check_invariants(s, &f);
        }
        let f = extract(s, &BuiltinOptions::new(reference()));
        check_invariants(s, &f);
        let took = t.elapsed();
        assert!(took.as_secs() < 20, "{} chars took {took:?}", s.len());
    }
}

#[test]
fn hundred_thousand_chars_is_fast_enough() {
    let s = "Bonjour, livraison demain à 14h30 pour 20 € au 06 12 34 56 78. ".repeat(1_600);
    assert!(s.len() >= 100_000);
    let t = std::time::Instant::now();
    let f = extract(&s, &BuiltinOptions::new(reference()));
    check_invariants(&s, &f);
    assert!(f.len() >= 1_600 * 3);
    eprintln!("100k chars: {:?}, {} matches", t.elapsed(), f.len());
}

#[test]
fn decomposed_accents_keep_offsets_on_boundaries() {
    let s = "apre\u{300}s-demain a\u{300} 14h";
    let f = found(s, Lang::Fr);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1, s);
}

#[test]
fn short_sentence_timing() {
    let s = "je voudrais un rendez-vous mardi prochain à 15h";
    let all = BuiltinOptions::new(reference()).with_languages(Lang::ALL.to_vec());
    let t = std::time::Instant::now();
    let _ = extract(s, &all); // first call compiles every regex
    eprintln!("first call (compiles all rules): {:?}", t.elapsed());
    for (name, o) in [("guessed language", BuiltinOptions::new(reference())), ("all four languages", all)] {
        let n = 200;
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(extract(std::hint::black_box(s), &o));
        }
        eprintln!("extract on a short sentence, {name}: {:?} per call", t.elapsed() / n);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_strings_keep_invariants(s in "\\PC{0,64}") {
        for lang in Lang::ALL {
            let f = extract(&s, &opts(lang));
            check_invariants(&s, &f);
        }
        let f = extract(&s, &BuiltinOptions::new(reference()));
        check_invariants(&s, &f);
    }

    #[test]
    fn arbitrary_mixed_strings_keep_invariants(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("12".to_string()), Just("h".to_string()), Just(" ".to_string()),
                Just("€".to_string()), Just("e\u{301}".to_string()), Just("/".to_string()),
                Just(".".to_string()), Just("demain".to_string()), Just("+33".to_string()),
                Just("0".to_string()), Just("\u{202F}".to_string()), Just("vingt".to_string()),
                Just("-".to_string()), Just("à".to_string()), Just("😀".to_string()),
                Just("@".to_string()), Just("www.".to_string()), Just(",".to_string()),
                "\\PC{0,3}",
            ],
            0..24,
        )
    ) {
        let s: String = parts.concat();
        for lang in Lang::ALL {
            let f = extract(&s, &opts(lang));
            check_invariants(&s, &f);
        }
    }
}

#[test]
fn holidays_resolve_to_their_next_occurrence() {
    // The reference is Wednesday 13 March 2024; Easter 2024 is 31 March.
    has("vous pouvez livrer avant Noël ?", Lang::Fr, "date", "Noël", json!("2024-12-25"));
    has("ouvert le lundi de Pâques ?", Lang::Fr, "date", "lundi de Pâques", json!("2024-04-01"));
    has("et pour l'Épiphanie ?", Lang::Fr, "date", "Épiphanie", json!("2025-01-06"));
    has("is the store open on Boxing Day?", Lang::En, "date", "Boxing Day", json!("2024-12-26"));
    has("open on Good Friday?", Lang::En, "date", "Good Friday", json!("2024-03-29"));
    has("any deals on Black Friday", Lang::En, "date", "Black Friday", json!("2024-11-29"));
    has("closed on Victoria Day?", Lang::En, "date", "Victoria Day", json!("2024-05-20"));
    has("open on Memorial Day?", Lang::En, "date", "Memorial Day", json!("2024-05-27"));
    has("¿abren en Nochebuena?", Lang::Es, "date", "Nochebuena", json!("2024-12-24"));
    has("¿abren el Viernes Santo?", Lang::Es, "date", "Viernes Santo", json!("2024-03-29"));
    has("Haben Sie am Ostermontag geöffnet?", Lang::De, "date", "Ostermontag", json!("2024-04-01"));
    has("Kommt das Paket vor Weihnachten?", Lang::De, "date", "Weihnachten", json!("2024-12-25"));
}

#[test]
fn a_holiday_wished_is_no_date() {
    none_of("Joyeux Noël à toute l'équipe", Lang::Fr, "date");
    none_of("Merry Christmas!", Lang::En, "date");
    none_of("¡Feliz Navidad!", Lang::Es, "date");
    none_of("Frohe Ostern!", Lang::De, "date");
}
