//! `closest embed`: JSON Lines in, JSON Lines out, input order, ids carried through.

use crate::fixture::{closest, ok, stderr, test_data};

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f64>().sqrt()
        * b.iter().map(|x| x * x).sum::<f64>().sqrt())
}

#[test]
fn embeds_json_lines_in_order_with_ids() {
    let reference =
        std::fs::read_to_string(test_data().join("reference/all-MiniLM-L6-v2.parity.jsonl"))
            .expect("reference");
    let references: Vec<serde_json::Value> = reference
        .lines()
        .take(6)
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    let mut input = String::new();
    for (index, reference) in references.iter().enumerate() {
        let line = if index == 2 {
            serde_json::json!({ "text": reference["text"] })
        } else {
            serde_json::json!({ "id": format!("t{index}"), "text": reference["text"] })
        };
        input.push_str(&format!("{line}\n"));
    }
    let output = ok(closest(&["embed"], None, Some(&input)));
    let lines: Vec<serde_json::Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).expect("json out"))
        .collect();
    assert_eq!(lines.len(), references.len());
    for (index, (line, reference)) in lines.iter().zip(&references).enumerate() {
        if index == 2 {
            assert!(line.get("id").is_none());
        } else {
            assert_eq!(line["id"], format!("t{index}"));
        }
        let ours: Vec<f64> = line["embedding"]
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        let theirs: Vec<f64> = reference["embedding"]
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        assert_eq!(ours.len(), 384);
        assert!(cosine(&ours, &theirs) >= 0.9999);
    }
}

#[test]
fn a_bad_line_is_an_error_naming_it() {
    let output = closest(&["embed"], None, Some("{\"text\": \"fine\"}\nnot json\n"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
}
