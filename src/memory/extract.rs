//! Drawing lessons from a finished task: the request (what the task was, how it ended,
//! the actions it took and whether each worked — never the tools' raw output) and the
//! strict reading of the reply (JSON, validated; anything else stores nothing and says
//! why). Lessons are redacted and may not copy the task's tool output.

use serde::Deserialize;

use crate::redact::redact;

/// What a task did, as the extraction request tells it.
pub struct Outline<'a> {
    pub task: &'a str,
    /// `completed`, `failed`, …
    pub status: &'a str,
    pub result: Option<&'a str>,
    pub error: Option<&'a str>,
    /// One line per action: the tool, its readable arguments, and ok or the first line of
    /// its error.
    pub actions: &'a [String],
}

/// A lesson as the model proposed it, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub lesson: String,
    pub category: &'static str,
    /// Applies to this workdir only (else everywhere).
    pub workdir_only: bool,
    pub score: f64,
}

/// The system prompt of the extraction request.
pub const SYSTEM: &str = "You distil lessons from an agent's finished task so later tasks \
go better. Reply with JSON only: {\"lessons\": [{\"lesson\": str, \"category\": \
\"best_practice\"|\"pitfall\"|\"fact\"|\"workflow\"|\"tooling\", \"scope\": \
\"workdir\"|\"global\", \"score\": 0-10}]}. A lesson is one or two sentences a future task \
can act on: what worked, what failed and why, a fact about this workdir. No secrets, no \
copied output, nothing obvious. If there is nothing worth keeping, reply {\"lessons\": []}.";

/// The user message of the extraction request (at most `max` lessons asked for).
pub fn request(o: &Outline<'_>, max: usize) -> String {
    let mut s = format!(
        "Task: {}\nOutcome: {}\n",
        crate::util::text::ellipsize(o.task, 600),
        o.status
    );
    if let Some(r) = o.result {
        s.push_str(&format!(
            "Result: {}\n",
            crate::util::text::ellipsize(r, 300)
        ));
    }
    if let Some(e) = o.error {
        s.push_str(&format!(
            "Error: {}\n",
            crate::util::text::ellipsize(e, 300)
        ));
    }
    s.push_str("Actions:\n");
    for a in o.actions.iter().take(30) {
        s.push_str(&format!("- {}\n", crate::util::text::ellipsize(a, 200)));
    }
    s.push_str(&format!("At most {max} lessons."));
    redact(&s).into_owned()
}

#[derive(Deserialize)]
struct Reply {
    lessons: Vec<Proposed>,
}

#[derive(Deserialize)]
struct Proposed {
    lesson: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    score: Option<f64>,
}

/// The lessons in `reply`, at most `max`, none copying `outputs`; or why there are none.
pub fn parse(reply: &str, max: usize, outputs: &[&str]) -> Result<Vec<Draft>, String> {
    let json = json_object(reply).ok_or("the reply holds no JSON object")?;
    let parsed: Reply =
        serde_json::from_str(json).map_err(|e| format!("the reply's JSON is not lessons: {e}"))?;
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    for p in parsed.lessons {
        let text = p.lesson.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            continue;
        }
        if text.chars().count() > super::MAX_LESSON_CHARS {
            dropped.push("a lesson longer than a lesson");
            continue;
        }
        if outputs.iter().any(|o| copies(&text, o)) {
            dropped.push("a lesson that copies tool output");
            continue;
        }
        if out
            .iter()
            .any(|d: &Draft| d.lesson.eq_ignore_ascii_case(&text))
        {
            continue;
        }
        out.push(Draft {
            lesson: redact(&text).into_owned(),
            category: super::category(&p.category),
            workdir_only: p.scope.trim().eq_ignore_ascii_case("workdir"),
            score: p
                .score
                .filter(|s| s.is_finite())
                .unwrap_or(5.0)
                .clamp(0.0, 10.0),
        });
        if out.len() == max {
            break;
        }
    }
    if out.is_empty() && !dropped.is_empty() {
        return Err(format!("dropped {}", dropped.join(", ")));
    }
    Ok(out)
}

/// The first balanced `{…}` in `text` (fences and prose around it are ignored).
fn json_object(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (i, c) in text[start..].char_indices() {
        match c {
            _ if esc => esc = false,
            '\\' if in_str => esc = true,
            '"' => in_str = !in_str,
            '{' if !in_str => depth += 1,
            '}' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..start + i + c.len_utf8()]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether `lesson` repeats a run of at least 48 characters of `output`.
fn copies(lesson: &str, output: &str) -> bool {
    const RUN: usize = 48;
    let chars: Vec<(usize, char)> = lesson.char_indices().collect();
    if chars.len() < RUN || output.len() < RUN {
        return false;
    }
    (0..=chars.len() - RUN).step_by(8).any(|i| {
        let end = chars.get(i + RUN).map_or(lesson.len(), |&(b, _)| b);
        output.contains(&lesson[chars[i].0..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_reply_with_prose_is_read_and_checked() {
        let reply = "Here you go:\n```json\n{\"lessons\": [\
            {\"lesson\": \"data.csv has a header row; subtract one when counting.\", \"category\": \"Pitfall\", \"scope\": \"workdir\", \"score\": 8},\
            {\"lesson\": \"  \", \"category\": \"x\"},\
            {\"lesson\": \"Use wc -l for line counts.\", \"category\": \"odd\", \"score\": 99}]}\n```";
        let d = parse(reply, 3, &[]).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].category, d[0].workdir_only, d[0].score),
            ("pitfall", true, 8.0)
        );
        assert_eq!(
            (d[1].category, d[1].workdir_only, d[1].score),
            ("general", false, 10.0)
        );
        assert_eq!(parse(reply, 1, &[]).unwrap().len(), 1);
    }

    #[test]
    fn bad_replies_store_nothing_and_say_why() {
        assert!(
            parse("no json here", 3, &[])
                .unwrap_err()
                .contains("no JSON")
        );
        assert!(
            parse("{\"lesson\": 1}", 3, &[])
                .unwrap_err()
                .contains("not lessons")
        );
        assert!(parse("{\"lessons\": []}", 3, &[]).unwrap().is_empty());
        let out = "error: could not open /srv/app/config/production.yaml: permission denied (os error 13)";
        let copy = format!("{{\"lessons\": [{{\"lesson\": \"{out}\"}}]}}");
        assert!(
            parse(&copy, 3, &[out])
                .unwrap_err()
                .contains("copies tool output")
        );
        let long = format!("{{\"lessons\": [{{\"lesson\": \"{}\"}}]}}", "é".repeat(600));
        assert!(parse(&long, 3, &[]).is_err());
    }

    #[test]
    fn secrets_never_reach_a_lesson() {
        let reply = r#"{"lessons": [{"lesson": "The key sk-abcdefghijklmnopqrstuvwx0123 works for staging."}]}"#;
        let d = parse(reply, 3, &[]).unwrap();
        assert!(
            !d[0].lesson.contains("sk-abcdefghijklmnop"),
            "{}",
            d[0].lesson
        );
    }

    proptest::proptest! {
        #[test]
        fn any_reply_is_read_without_panicking(s in "\\PC{0,300}", o in "\\PC{0,120}") {
            let _ = parse(&s, 3, &[&o]);
            let _ = copies(&s, &o);
        }
    }
}
