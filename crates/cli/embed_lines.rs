//! The `embed` command's format, shared by `closest embed` and `POST /embed`: objects
//! `{"id": ..., "text": "..."}` in (the id optional, any JSON value), objects
//! `{"id": ..., "embedding": [f32, ...]}` out, in input order, ids carried through.

use anyhow::{Context, Result};
use closest_embed::LongPolicy;
use closest_engine::{Model, Reporter};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub(crate) struct EmbedLine {
    #[serde(default)]
    pub id: Option<Value>,
    pub text: String,
}

/// How a request body held its objects; the answer keeps the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmbedShape {
    /// One object a line (JSON Lines).
    Lines,
    /// One JSON array of objects.
    Array,
}

/// Reads JSON Lines, or a JSON array when the text starts with `[`.
pub(crate) fn parse_lines(text: &str) -> Result<(Vec<EmbedLine>, EmbedShape)> {
    if text.trim_start().starts_with('[') {
        let lines: Vec<EmbedLine> = serde_json::from_str(text)
            .context("the body is not a JSON array of {\"id\": ..., \"text\": \"...\"} objects")?;
        return Ok((lines, EmbedShape::Array));
    }
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines.push(parse_line(line, number + 1)?);
    }
    Ok((lines, EmbedShape::Lines))
}

/// One line of JSON Lines input; `number` counts from 1.
pub(crate) fn parse_line(line: &str, number: usize) -> Result<EmbedLine> {
    serde_json::from_str(line).with_context(|| {
        format!("line {number} is not a JSON object with a \"text\" string; expected {{\"id\": ..., \"text\": \"...\"}}")
    })
}

/// Embeds the texts (as documents, or as queries with the model's query prompt) and returns
/// the output objects in input order.
pub(crate) fn embed_lines(
    model: &Model,
    lines: &[EmbedLine],
    query: bool,
    long: LongPolicy,
    reporter: &dyn Reporter,
) -> Result<Vec<Value>> {
    let embedder = model.embedder(reporter)?;
    let prompt = if query {
        model.config.query_prompt()
    } else {
        model.config.document_prompt()
    };
    let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    let (vectors, _) = embedder.embed(&texts, prompt, model.options(long))?;
    Ok(lines
        .iter()
        .zip(vectors)
        .map(|(line, vector)| match &line.id {
            Some(id) => json!({ "id": id, "embedding": vector }),
            None => json!({ "embedding": vector }),
        })
        .collect())
}
