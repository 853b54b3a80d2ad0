//! The `entendu` binary as a bot or a script drives it: through pipes, line by line.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_entendu");

fn tiny_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    entendu::testing::write_tiny_encoder(dir.path(), 3).unwrap();
    dir
}

const DATA: &str = "version: 1\nlanguage: fr\nintents:\n  - name: track_order\n    examples:\n      - où est mon colis\n      - où est ma commande\n      - suivre mon colis\n      - ma commande est où\n  - name: greeting\n    examples:\n      - bonjour\n      - bonjour à vous\n      - hello\n      - salut\n";

#[test]
fn parse_answers_each_stdin_line_as_it_arrives() {
    let enc = tiny_dir();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data.yml");
    std::fs::write(&data, DATA).unwrap();
    let model = work.path().join("model");
    let status = Command::new(BIN)
        .args([
            "train",
            data.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
            "--encoder",
            enc.path().to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());

    // The model names its encoder by the tiny directory's name; point the loader at it.
    let mut child = Command::new(BIN)
        .args(["parse", model.to_str().unwrap()])
        .env("ENTENDU_MODELS", enc.path().parent().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for text in ["où est mon colis", "", "bonjour"] {
        // One line in, one JSON line out, before the next line is written.
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        let parse: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(parse["text"], text);
    }
    stdin.write_all(b"\xff\xfe not utf-8\nmerci\n").unwrap();
    drop(stdin);
    let rest: Vec<String> = stdout.lines().map(|l| l.unwrap()).collect();
    assert_eq!(rest.len(), 1, "the invalid line is skipped, the next one answered: {rest:?}");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid UTF-8"));
}

#[test]
fn embed_and_similarity_print_what_scripts_expect() {
    let enc = tiny_dir();
    let out = Command::new(BIN)
        .args(["embed", "--encoder", enc.path().to_str().unwrap(), "bonjour", "merci"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["embedding"].as_array().unwrap().len(), 32);
    let out = Command::new(BIN)
        .args(["similarity", "--encoder", enc.path().to_str().unwrap(), "bonjour", "bonjour"])
        .output()
        .unwrap();
    let value: f32 = String::from_utf8(out.stdout).unwrap().trim().parse().unwrap();
    assert!((value - 1.0).abs() < 1e-4);
}

#[test]
fn malformed_training_data_names_file_line_and_column() {
    let enc = tiny_dir();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("bad.yml");
    std::fs::write(
        &data,
        "version: 1\nintents:\n  - name: a\n    examples:\n      - ma commande [12345(order_id) svp\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "train",
            data.to_str().unwrap(),
            "--out",
            work.path().join("m").to_str().unwrap(),
            "--encoder",
            enc.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml:5:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = Command::new(BIN).args(["parse", work.path().join("nope").to_str().unwrap(), "x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("entendu train"));
}

#[test]
fn train_reads_a_configuration_file_and_refuses_unknown_keys() {
    let enc = tiny_dir();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data.yml");
    std::fs::write(&data, DATA).unwrap();
    let model = work.path().join("model");
    let train = |config: &str| {
        let path = work.path().join("config.yml");
        std::fs::write(&path, config).unwrap();
        Command::new(BIN)
            .args(["train", data.to_str().unwrap(), "--out", model.to_str().unwrap()])
            .args(["--encoder", enc.path().to_str().unwrap(), "--config", path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let output = train("seed: 7\nintent:\n  head:\n    hidden: 16\n");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap()).unwrap();
    let config = &manifest["train_config"];
    assert_eq!((config["seed"].as_u64(), config["intent"]["head"]["hidden"].as_u64()), (Some(7), Some(16)), "{config}");
    // A misspelt key would otherwise be ignored: it is an error that names it.
    let output = train("intent:\n  head:\n    hiden: 16\n");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown key `intent.head.hiden`"), "{stderr}");
}
