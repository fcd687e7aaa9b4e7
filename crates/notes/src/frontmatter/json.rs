//! JSON front matter: an object that opens the file, as Hugo reads it.
//!
//! Hugo takes any content file starting with `{` as JSON front matter. A notes folder holds
//! more than Hugo sites (templates opening with `{{date}}`, say), so a block counts only when
//! it is a valid JSON object whose closing brace ends its line. The list is one member,
//! `"closest": ["a", "b"]`; the member's bytes include the comma that joins it to its
//! neighbour, so that taking them out leaves valid JSON.

use std::ops::Range;

use crate::lines;

/// The object at the start of `source` and the rest of its closing line.
pub(super) fn detect(source: &str) -> Option<Range<usize>> {
    if !source.starts_with('{') {
        return None;
    }
    let close = skip_value(source, 0)?;
    let line_end = lines::line_end(source, close);
    if !source[close..line_end].trim().is_empty() {
        return None;
    }
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&source[..close]).ok()?;
    Some(0..line_end)
}

/// The offset just after the JSON value starting at `start` (strings and nesting respected).
fn skip_value(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut index = start;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => index = skip_string(text, index)? - 1,
            b'{' | b'[' => depth += 1,
            // A closing bracket at depth 0 ends the object or array around the value.
            b'}' | b']' if depth == 0 => return Some(index),
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            b',' | b'\n' | b'\r' | b' ' | b'\t' if depth == 0 => return Some(index),
            _ => {}
        }
        index += 1;
    }
    (depth == 0).then_some(index)
}

/// The offset just after the string whose opening quote is at `start`.
fn skip_string(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' => return Some(index + 1),
            _ => index += 1,
        }
    }
    None
}

fn skip_space(text: &str, mut index: usize) -> usize {
    let bytes = text.as_bytes();
    while index < bytes.len() && bytes[index].is_ascii_whitespace() {
        index += 1;
    }
    index
}

/// One member of the top-level object.
struct Member {
    key: String,
    key_start: usize,
    value: Range<usize>,
}

/// The members of the object in `block`, and the offset just after its opening brace.
fn members(source: &str, block: &Range<usize>) -> (Vec<Member>, usize) {
    let open = block.start + 1;
    let mut members = Vec::new();
    let mut index = skip_space(source, open);
    while source.as_bytes().get(index) == Some(&b'"') {
        let Some(key_end) = skip_string(source, index) else {
            break;
        };
        let key = serde_json::from_str(&source[index..key_end]).unwrap_or_default();
        let value_start = skip_space(source, skip_space(source, key_end) + 1);
        let Some(value_end) = skip_value(source, value_start) else {
            break;
        };
        members.push(Member {
            key,
            key_start: index,
            value: value_start..value_end,
        });
        index = skip_space(source, value_end);
        if source.as_bytes().get(index) != Some(&b',') {
            break;
        }
        index = skip_space(source, index + 1);
    }
    (members, open)
}

pub(super) fn key_range(source: &str, block: &Range<usize>, key: &str) -> Option<Range<usize>> {
    let (members, open) = members(source, block);
    let at = members.iter().position(|member| member.key == key)?;
    let end = members[at].value.end;
    Some(match (at.checked_sub(1), members.get(at + 1)) {
        (Some(previous), _) => members[previous].value.end..end,
        (None, Some(next)) => members[at].key_start..next.key_start,
        (None, None) => open..end,
    })
}

/// `source` with the key's value replaced by the list, or the member added after the last one
/// (on a line of its own, indented like it, when the last member starts its line).
pub(super) fn set(
    source: &str,
    block: &Range<usize>,
    key: &str,
    ids: &[String],
    line_break: &str,
) -> String {
    let items: Vec<String> = ids.iter().map(|id| json_string(id)).collect();
    let array = format!("[{}]", items.join(", "));
    let (members, open) = members(source, block);
    if let Some(member) = members.iter().find(|member| member.key == key) {
        let value = &member.value;
        return format!("{}{array}{}", &source[..value.start], &source[value.end..]);
    }
    let member = format!("{}: {array}", json_string(key));
    let (at, joined) = match members.last() {
        Some(last) => {
            let line_start = lines::line_start(source, last.key_start);
            let indent = &source[line_start..last.key_start];
            let joined = if indent.trim().is_empty() {
                format!(",{line_break}{indent}{member}")
            } else {
                format!(", {member}")
            };
            (last.value.end, joined)
        }
        None => (open, format!("{line_break}  {member}")),
    };
    format!("{}{joined}{}", &source[..at], &source[at..])
}

pub(super) fn list_items(
    source: &str,
    block: &Range<usize>,
    key: &str,
) -> Option<Vec<(usize, String)>> {
    let (members, _) = members(source, block);
    let member = members.into_iter().find(|member| member.key == key)?;
    let value = &source[member.value.clone()];
    let ids: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(value)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| item.as_str().map(str::to_string))
        .collect();
    // The strings directly inside the array, for their lines.
    let mut starts = Vec::new();
    let mut index = member.value.start + 1;
    while index < member.value.end {
        index = skip_space(source, index);
        if source.as_bytes().get(index) == Some(&b'"') {
            starts.push(lines::line_start(source, index));
        }
        match skip_value(source, index) {
            Some(end) if end > index => index = skip_space(source, end) + 1,
            _ => break,
        }
    }
    if starts.len() != ids.len() {
        starts = vec![lines::line_start(source, member.key_start); ids.len()];
    }
    Some(starts.into_iter().zip(ids).collect())
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(source: &str, ids: &[&str]) -> String {
        let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        set(
            source,
            &detect(source).expect("json"),
            "closest",
            &ids,
            "\n",
        )
    }

    #[test]
    fn a_member_is_added_and_its_bytes_include_a_comma() {
        let once = with("{\"title\": \"A\"}\nbody", &["b"]);
        assert_eq!(once, "{\"title\": \"A\", \"closest\": [\"b\"]}\nbody");
        let block = detect(&once).expect("json");
        let range = key_range(&once, &block, "closest").expect("key");
        assert_eq!(&once[range], ", \"closest\": [\"b\"]");
        let first = "{\"closest\": [\"x\", \"y\"],\n \"title\": \"A\"\n}\n";
        let block = detect(first).expect("json");
        let range = key_range(first, &block, "closest").expect("key");
        assert_eq!(&first[range], "\"closest\": [\"x\", \"y\"],\n ");
        let items = list_items(first, &block, "closest").expect("key");
        assert_eq!(items, [(0, "x".to_string()), (0, "y".to_string())]);
    }

    #[test]
    fn an_empty_object_gets_the_member() {
        assert_eq!(with("{\n}\n", &[]), "{\n  \"closest\": []\n}\n");
    }
}
