//! Call transcripts: WebVTT with voice tags, SRT with `Speaker Name:` prefixes, and a
//! JSON list of utterances. Every utterance keeps its start time, so evidence can point
//! to the moment in the call.
//!
//! * WebVTT: `WEBVTT` header; cues with an optional identifier, `[hh:]mm:ss.mmm -->
//!   [hh:]mm:ss.mmm`, then text whose speaker is a voice tag `<v Name>` (or, as Zoom
//!   writes it, a `Name: ` prefix). Other tags are dropped, entities decoded. A `NOTE`
//!   block of `key: value` lines may give `title` and `started_at` (RFC 3339).
//! * SRT: index, `hh:mm:ss,mmm --> hh:mm:ss,mmm`, text lines (joined with a space) that
//!   start with `Speaker Name: `.
//! * JSON: `[{"speaker": "...", "start_ms": 0, "end_ms": 1500, "text": "..."}]`, with an
//!   optional `"id"` per utterance.
//!
//! A cue without a speaker continues the previous speaker's turn; consecutive cues of
//! one speaker whose sentence runs on are joined into one utterance (at the first cue's
//! time). Each utterance is a part named by its cue id (its position from 1 when the
//! source gives none). Refusals name the field `content` and the cue and line at fault.

use std::collections::HashMap;

use serde::Deserialize;
use undertone_core::{Segment, SpeakerRole};

use crate::document::{Part, check_segment_count, check_speaker, push_sentences};
use crate::{IngestError, TextOptions, html};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TranscriptFormat {
    WebVtt,
    Srt,
    Json,
}

impl TranscriptFormat {
    /// From a file extension (`vtt`, `srt`, `json`).
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "vtt" | "webvtt" => Some(Self::WebVtt),
            "srt" => Some(Self::Srt),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// Guessed from the content: a `WEBVTT` header, a JSON list, or an SRT timing line.
    pub fn detect(content: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(content);
        let text = text.trim_start_matches('\u{feff}').trim_start();
        if text.starts_with("WEBVTT") {
            Some(Self::WebVtt)
        } else if text.starts_with('[') {
            Some(Self::Json)
        } else if text.lines().take(4).any(|l| l.contains("-->")) {
            Some(Self::Srt)
        } else {
            None
        }
    }
}

/// One speaker turn (or one cue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// The cue id as the source gives it, else its position from 1.
    pub cue: String,
    pub speaker: Option<String>,
    /// Offset from the start of the call.
    pub start_ms: u64,
    pub end_ms: Option<u64>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transcript {
    /// From a WebVTT `NOTE` block, when there is one.
    pub title: Option<String>,
    pub started_at_ms: Option<i64>,
    pub utterances: Vec<Utterance>,
}

impl Transcript {
    /// Every speaker named, in order of first appearance.
    pub fn speakers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for u in &self.utterances {
            if let Some(s) = &u.speaker
                && !out.contains(s)
            {
                out.push(s.clone());
            }
        }
        out
    }
}

fn invalid(reason: impl Into<String>) -> IngestError {
    IngestError::invalid("content", reason)
}

/// Parses a transcript of at most `max_bytes`.
pub fn parse_transcript(
    content: &[u8],
    format: TranscriptFormat,
    max_bytes: usize,
) -> Result<Transcript, IngestError> {
    if content.len() > max_bytes {
        return Err(invalid(format!(
            "is {} bytes, the limit is {max_bytes} (limits.max_transcript_bytes)",
            content.len()
        )));
    }
    let text = std::str::from_utf8(content).map_err(|e| invalid(format!("is not UTF-8 text: {e}")))?;
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n").replace('\r', "\n");
    if text.trim().is_empty() {
        return Err(invalid("is empty"));
    }
    let mut transcript = match format {
        TranscriptFormat::WebVtt => parse_vtt(&text)?,
        TranscriptFormat::Srt => parse_srt(&text)?,
        TranscriptFormat::Json => parse_json(&text)?,
    };
    transcript.utterances.retain(|u| u.text.chars().any(char::is_alphanumeric));
    if transcript.utterances.is_empty() {
        return Err(invalid("has no utterances with words"));
    }
    if transcript.utterances.iter().all(|u| u.speaker.is_none()) {
        return Err(invalid("no cue names its speaker (voice tags <v Name> or \"Name: \" prefixes)"));
    }
    transcript.utterances = merge_turns(std::mem::take(&mut transcript.utterances));
    Ok(transcript)
}

/// Splits the input into blocks separated by blank lines, with their first line number.
fn blocks(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push((start, std::mem::take(&mut current)));
            }
        } else {
            if current.is_empty() {
                start = i + 1;
            }
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push((start, current));
    }
    out
}

/// `[hh:]mm:ss.mmm` (WebVTT) or `hh:mm:ss,mmm` (SRT; a `.` is accepted too).
fn parse_time(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let (clock, millis) = raw.rsplit_once(['.', ','])?;
    if millis.len() != 3 || !millis.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let fields: Vec<&str> = clock.split(':').collect();
    let (h, m, s) = match fields.as_slice() {
        [m, s] => ("0", *m, *s),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    let number = |f: &str, max: Option<u64>| -> Option<u64> {
        if f.is_empty() || f.len() > 6 || !f.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let v: u64 = f.parse().ok()?;
        max.is_none_or(|max| v <= max).then_some(v)
    };
    if m.len() != 2 || s.len() != 2 {
        return None;
    }
    let (h, m, s) = (number(h, None)?, number(m, Some(59))?, number(s, Some(59))?);
    Some(((h * 60 + m) * 60 + s) * 1000 + millis.parse::<u64>().ok()?)
}

/// The start and end of a `start --> end [settings]` line.
fn parse_timing(line: &str, cue: &str, line_no: usize) -> Result<(u64, u64), IngestError> {
    let (start, rest) = line
        .split_once("-->")
        .ok_or_else(|| invalid(format!("cue {cue} (line {line_no}): no \"-->\" timing line")))?;
    let end = rest.split_whitespace().next().unwrap_or("");
    let bad = |raw: &str| invalid(format!("cue {cue} (line {line_no}): invalid timestamp {:?}", raw.trim()));
    let start_ms = parse_time(start).ok_or_else(|| bad(start))?;
    let end_ms = parse_time(end).ok_or_else(|| bad(end))?;
    if end_ms < start_ms {
        return Err(invalid(format!("cue {cue} (line {line_no}): ends before it starts")));
    }
    Ok((start_ms, end_ms))
}

/// `Name: text` when the prefix looks like a name (one to five words, capitalized).
fn name_prefix(text: &str) -> Option<(String, String)> {
    let (name, rest) = text.split_once(':')?;
    let name = name.trim();
    let words: Vec<&str> = name.split_whitespace().collect();
    let plausible = !words.is_empty()
        && words.len() <= 5
        && name.chars().count() <= 60
        && words.iter().all(|w| w.chars().next().is_some_and(|c| c.is_uppercase() || c.is_ascii_digit()))
        && !name.chars().any(|c| matches!(c, '.' | '!' | '?' | '<' | '>' | '"'));
    plausible.then(|| (name.to_owned(), rest.trim().to_owned()))
}

/// The voice spans of a WebVTT cue payload: (speaker, text) pairs.
fn voice_spans(payload: &str) -> Vec<(Option<String>, String)> {
    let mut spans: Vec<(Option<String>, String)> = Vec::new();
    let mut speaker: Option<String> = None;
    let mut text = String::new();
    let mut rest = payload;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            text.push_str(&rest[lt..]);
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let is_voice = tag.starts_with('v') && tag[1..].starts_with([' ', '.', '\t']);
        if is_voice {
            if !text.trim().is_empty() || speaker.is_some() {
                spans.push((speaker.take(), std::mem::take(&mut text)));
            }
            text.clear();
            let name = tag[1..].trim_start_matches(|c: char| c != ' ' && c != '\t').trim();
            speaker = Some(name.to_owned()).filter(|n| !n.is_empty());
        } else if tag == "/v" {
            spans.push((speaker.take(), std::mem::take(&mut text)));
        }
        // Other tags (<i>, <b>, <c.x>, <00:00:01.000>) are dropped.
    }
    text.push_str(rest);
    if !text.trim().is_empty() || speaker.is_some() {
        spans.push((speaker, text));
    }
    spans
        .into_iter()
        .map(|(s, t)| (s, html::decode_entities(&t).split_whitespace().collect::<Vec<_>>().join(" ")))
        .filter(|(_, t)| !t.is_empty())
        .map(|(s, t)| match s {
            Some(_) => (s, t),
            None => match name_prefix(&t) {
                Some((name, rest)) => (Some(name), rest),
                None => (None, t),
            },
        })
        .collect()
}

fn parse_vtt(text: &str) -> Result<Transcript, IngestError> {
    let blocks = blocks(text);
    let Some((_, header)) = blocks.first() else { return Err(invalid("is empty")) };
    let signature = header[0].trim_end();
    if !(signature == "WEBVTT" || signature.starts_with("WEBVTT ") || signature.starts_with("WEBVTT\t")) {
        return Err(invalid("is not WebVTT: the first line must be \"WEBVTT\""));
    }
    let mut transcript = Transcript::default();
    let mut position = 0;
    for (line_no, lines) in blocks.iter().skip(1) {
        let first = lines[0].trim();
        if first == "NOTE" || first.starts_with("NOTE ") || first.starts_with("NOTE\t") {
            read_note(&lines[1..], *line_no, &mut transcript)?;
            continue;
        }
        if (first == "STYLE" || first == "REGION") && !first.contains("-->") {
            continue;
        }
        position += 1;
        let (id, timing_at) = if first.contains("-->") { (None, 0) } else { (Some(first), 1) };
        let cue = id.map_or_else(|| position.to_string(), str::to_owned);
        let Some(timing) = lines.get(timing_at) else {
            return Err(invalid(format!("cue {cue} (line {line_no}): no timing line")));
        };
        let (start_ms, end_ms) = parse_timing(timing, &cue, line_no + timing_at)?;
        let payload = lines[timing_at + 1..].join("\n");
        for (speaker, text) in voice_spans(&payload) {
            transcript.utterances.push(Utterance {
                cue: cue.clone(),
                speaker,
                start_ms,
                end_ms: Some(end_ms),
                text,
            });
        }
    }
    Ok(transcript)
}

fn read_note(lines: &[&str], line_no: usize, transcript: &mut Transcript) -> Result<(), IngestError> {
    for (i, line) in lines.iter().enumerate() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "title" if !value.is_empty() => transcript.title = Some(value.to_owned()),
            "started_at" | "start" | "date" => {
                let at = chrono::DateTime::parse_from_rfc3339(value).map_err(|e| {
                    invalid(format!(
                        "NOTE started_at (line {}): {value:?} is not an RFC 3339 timestamp: {e}",
                        line_no + 1 + i
                    ))
                })?;
                transcript.started_at_ms = Some(at.timestamp_millis());
            }
            _ => {}
        }
    }
    Ok(())
}

fn parse_srt(text: &str) -> Result<Transcript, IngestError> {
    let mut transcript = Transcript::default();
    for (position, (line_no, lines)) in blocks(text).iter().enumerate() {
        let first = lines[0].trim();
        let (id, timing_at) = if first.contains("-->") { (None, 0) } else { (Some(first.to_owned()), 1) };
        let cue = id.unwrap_or_else(|| (position + 1).to_string());
        let Some(timing) = lines.get(timing_at) else {
            return Err(invalid(format!("subtitle {cue} (line {line_no}): no timing line")));
        };
        let (start_ms, end_ms) = parse_timing(timing, &cue, line_no + timing_at)?;
        let joined = lines[timing_at + 1..].iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        let joined = strip_tags(&joined);
        let (speaker, text) = match name_prefix(&joined) {
            Some((name, rest)) => (Some(name), rest),
            None => (None, joined),
        };
        transcript.utterances.push(Utterance { cue, speaker, start_ms, end_ms: Some(end_ms), text });
    }
    Ok(transcript)
}

/// SRT allows `<i>`, `<b>`, `<font>` tags; they carry no words.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        match rest[lt..].find('>') {
            Some(gt) if gt < 40 => rest = &rest[lt + gt + 1..],
            _ => {
                out.push('<');
                rest = &rest[lt + 1..];
            }
        }
    }
    out.push_str(rest);
    html::decode_entities(&out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonUtterance {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    speaker: Option<String>,
    start_ms: i64,
    #[serde(default)]
    end_ms: Option<i64>,
    text: String,
}

fn parse_json(text: &str) -> Result<Transcript, IngestError> {
    let list: Vec<JsonUtterance> = serde_json::from_str(text).map_err(|e| {
        invalid(format!("is not a JSON list of utterances ({{speaker, start_ms, end_ms, text}}): {e}"))
    })?;
    let mut transcript = Transcript::default();
    for (i, u) in list.into_iter().enumerate() {
        let cue = u.id.filter(|id| !id.trim().is_empty()).unwrap_or_else(|| (i + 1).to_string());
        if u.start_ms < 0 {
            return Err(invalid(format!("utterance {cue}: start_ms {} is negative", u.start_ms)));
        }
        if let Some(end) = u.end_ms
            && end < u.start_ms
        {
            return Err(invalid(format!("utterance {cue}: end_ms {end} is before start_ms {}", u.start_ms)));
        }
        transcript.utterances.push(Utterance {
            cue,
            speaker: u.speaker.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
            start_ms: u.start_ms as u64,
            end_ms: u.end_ms.map(|e| e as u64),
            text: u.text.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }
    Ok(transcript)
}

/// Gives speakerless cues the previous speaker, and joins a speaker's cues whose
/// sentence runs on into the next.
fn merge_turns(utterances: Vec<Utterance>) -> Vec<Utterance> {
    let mut out: Vec<Utterance> = Vec::with_capacity(utterances.len());
    for mut u in utterances {
        if let Some(prev) = out.last_mut() {
            if u.speaker.is_none() {
                u.speaker = prev.speaker.clone();
            }
            let runs_on = !prev.text.trim_end().ends_with(['.', '!', '?', '…', '"', '”']);
            if prev.speaker == u.speaker && runs_on {
                prev.text.push(' ');
                prev.text.push_str(&u.text);
                prev.end_ms = u.end_ms.or(prev.end_ms);
                continue;
            }
        }
        out.push(u);
    }
    out
}

/// The transcript's segments: every utterance's sentences, with its speaker, the role
/// `roles` gives that speaker (unknown when absent), its offset into the call and, when
/// the call's start is known, its wall-clock time.
pub fn segment_transcript(
    transcript: &Transcript,
    started_at_ms: Option<i64>,
    roles: &HashMap<String, SpeakerRole>,
    options: &TextOptions,
) -> Result<Vec<Segment>, IngestError> {
    let mut segments = Vec::new();
    for u in &transcript.utterances {
        if u.text.len() > options.max_text_bytes {
            return Err(invalid(format!(
                "utterance {} is {} bytes, the limit is {} (limits.max_text_bytes)",
                u.cue,
                u.text.len(),
                options.max_text_bytes
            )));
        }
        check_speaker("content", u.speaker.as_deref())?;
        let role = u.speaker.as_ref().and_then(|s| roles.get(s)).copied().unwrap_or(SpeakerRole::Unknown);
        let offset = i64::try_from(u.start_ms).unwrap_or(i64::MAX);
        let part = Part {
            id: &u.cue,
            speaker: u.speaker.clone(),
            role,
            at: started_at_ms.map(|t| t.saturating_add(offset)),
            offset_ms: Some(u.start_ms),
        };
        push_sentences(&mut segments, &part, &u.text, &options.redactor);
    }
    if segments.is_empty() {
        return Err(invalid("has no words to analyze"));
    }
    check_segment_count("content", &segments)?;
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VTT: &str = "WEBVTT\n\nNOTE\ntitle: Northwind QBR\nstarted_at: 2026-10-14T16:00:00Z\n\n\
        1\n00:00:03.913 --> 00:00:16.031\n<v Sam Ortiz>Thanks everyone for joining.</v>\n\n\
        2\n00:01:02.500 --> 00:01:09.000 align:start\n<v Dana Lee>We may not renew. Honestly, the\n\n\
        00:01:09.100 --> 00:01:12.000\n<v Dana Lee>dashboards are <i>too</i> slow &amp; flaky.\n\n\
        00:01:12.500 --> 00:01:14.000\nAnd nobody called back.\n";

    fn parse(text: &str, format: TranscriptFormat) -> Result<Transcript, IngestError> {
        parse_transcript(text.as_bytes(), format, 1 << 20)
    }

    #[test]
    fn webvtt_voices_times_and_note() {
        let t = parse(VTT, TranscriptFormat::WebVtt).unwrap();
        assert_eq!(t.title.as_deref(), Some("Northwind QBR"));
        assert_eq!(t.started_at_ms, Some(1_791_993_600_000));
        assert_eq!(t.speakers(), ["Sam Ortiz", "Dana Lee"]);
        assert_eq!(t.utterances.len(), 3, "{:?}", t.utterances);
        assert_eq!(t.utterances[1].text, "We may not renew. Honestly, the dashboards are too slow & flaky.");
        assert_eq!(t.utterances[1].cue, "2");
        assert_eq!(t.utterances[1].start_ms, 62_500);
        assert_eq!(t.utterances[2].speaker.as_deref(), Some("Dana Lee"), "speakerless cue continues");

        let roles = HashMap::from([
            ("Sam Ortiz".to_owned(), SpeakerRole::Internal),
            ("Dana Lee".to_owned(), SpeakerRole::Customer),
        ]);
        let segments = segment_transcript(&t, t.started_at_ms, &roles, &TextOptions::default()).unwrap();
        let renew = segments.iter().find(|s| s.text == "We may not renew.").unwrap();
        assert_eq!(renew.media_offset_ms, Some(62_500));
        assert_eq!(renew.timestamp_ms, Some(1_791_993_600_000 + 62_500));
        assert_eq!(renew.role, SpeakerRole::Customer);
        assert_eq!(renew.part, "2");
        assert_eq!(segments[0].role, SpeakerRole::Internal);
    }

    #[test]
    fn srt_with_speaker_prefixes_and_wrapped_lines() {
        let srt = "1\n00:00:03,417 --> 00:00:10,457\nMarcus Bell: Thanks for making time, Gregory. I have Ben Cho from\n\
            billing with me.\n\n2\n00:00:10,892 --> 00:00:23,170\nGregory Vance: The invoices don't match our contract.\n";
        let t = parse(srt, TranscriptFormat::Srt).unwrap();
        assert_eq!(t.utterances.len(), 2);
        assert_eq!(t.utterances[0].speaker.as_deref(), Some("Marcus Bell"));
        assert_eq!(
            t.utterances[0].text,
            "Thanks for making time, Gregory. I have Ben Cho from billing with me."
        );
        assert_eq!(t.utterances[1].start_ms, 10_892);
        assert_eq!(TranscriptFormat::detect(srt.as_bytes()), Some(TranscriptFormat::Srt));
    }

    #[test]
    fn json_utterances() {
        let json = r#"[{"speaker": "Dana Lee", "start_ms": 1500, "end_ms": 4000, "text": "It is slow."},
                       {"speaker": "Sam Ortiz", "start_ms": 4100, "text": "Sorry about that."}]"#;
        let t = parse(json, TranscriptFormat::Json).unwrap();
        assert_eq!(t.utterances.len(), 2);
        assert_eq!((t.utterances[0].cue.as_str(), t.utterances[0].start_ms), ("1", 1500));
        assert_eq!(TranscriptFormat::detect(json.as_bytes()), Some(TranscriptFormat::Json));
    }

    #[test]
    fn bad_transcripts_name_the_cue() {
        let err = |text: &str, format| parse(text, format).unwrap_err().to_string();
        assert!(err("hello", TranscriptFormat::WebVtt).starts_with("content: is not WebVTT"));
        let bad_time = "WEBVTT\n\n1\n00:00:03.913 --> 00:61:16.031\n<v A>Hi.\n";
        let e = err(bad_time, TranscriptFormat::WebVtt);
        assert!(e.contains("cue 1 (line 4): invalid timestamp \"00:61:16.031\""), "{e}");
        let backwards = "1\n00:00:09,000 --> 00:00:03,000\nA: Hi.\n";
        assert!(err(backwards, TranscriptFormat::Srt).contains("ends before it starts"));
        let nobody = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello there\n";
        assert!(err(nobody, TranscriptFormat::WebVtt).contains("no cue names its speaker"));
        assert!(
            err(r#"[{"start_ms": -5, "text": "x", "speaker": "A"}]"#, TranscriptFormat::Json)
                .contains("negative")
        );
        assert!(
            err(r#"{"utterances": []}"#, TranscriptFormat::Json).starts_with("content: is not a JSON list")
        );
        let note = "WEBVTT\n\nNOTE\nstarted_at: last tuesday\n\n00:00:01.000 --> 00:00:02.000\n<v A>Hi.\n";
        assert!(err(note, TranscriptFormat::WebVtt).contains("NOTE started_at (line 4)"));
        assert!(
            parse_transcript(b"\xff\xfe", TranscriptFormat::Srt, 100)
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
        assert!(
            parse_transcript(&[b'a'; 101], TranscriptFormat::Srt, 100)
                .unwrap_err()
                .to_string()
                .contains("limit")
        );
    }
}
