//! Support tickets: the documented helpdesk-export JSON shape, or the same structure from
//! the API. Each comment is its own part; the subject is a part of the requester's.
//!
//! ```json
//! {"ticket_id": "BL-4821", "subject": "...", "status": "open", "priority": "high",
//!  "created_at": "2026-10-03T14:22:00Z", "requester": {"name": "...", "email": "..."},
//!  "tags": ["..."],
//!  "comments": [{"id": "c-1", "author": {"name": "...", "email": "..."},
//!                "author_role": "customer" | "agent", "public": true,
//!                "created_at": "2026-10-03T14:22:00Z", "body": "..."}]}
//! ```

use serde::{Deserialize, Serialize};
use undertone_core::{Segment, SpeakerRole};

use crate::document::{Part, check_segment_count, check_speaker, check_title, push_sentences};
use crate::{IngestError, TextOptions};

/// Most comments one ticket may have: a longer thread is an export error or an attack,
/// and would hold the model queue for minutes.
pub const MAX_TICKET_COMMENTS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
}

impl Person {
    /// How evidence names the person: "Name <email>", or whichever is known.
    pub fn display(&self) -> Option<String> {
        match (self.name.trim(), self.email.trim()) {
            ("", "") => None,
            (name, "") => Some(name.to_owned()),
            ("", email) => Some(email.to_owned()),
            (name, email) => Some(format!("{name} <{email}>")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketComment {
    pub id: String,
    #[serde(default = "empty_person")]
    pub author: Person,
    /// `customer`, `agent` (or `internal`); anything else is unknown.
    #[serde(default)]
    pub author_role: String,
    #[serde(default = "yes")]
    pub public: bool,
    pub created_at: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub ticket_id: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub priority: String,
    pub created_at: Option<String>,
    #[serde(default = "empty_person")]
    pub requester: Person,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub comments: Vec<TicketComment>,
}

fn empty_person() -> Person {
    Person { name: String::new(), email: String::new() }
}

fn yes() -> bool {
    true
}

/// Parses an exported ticket.
pub fn parse_ticket_json(bytes: &[u8]) -> Result<Ticket, IngestError> {
    serde_json::from_slice(bytes).map_err(|e| IngestError::invalid("ticket_json", e.to_string()))
}

/// Milliseconds since the epoch of an RFC 3339 timestamp.
pub fn parse_timestamp(field: &'static str, raw: &str) -> Result<i64, IngestError> {
    let ms = chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| IngestError::invalid(field, format!("{raw:?} is not an RFC 3339 timestamp: {e}")))?;
    if ms < 0 {
        return Err(IngestError::invalid(field, format!("{raw:?} is before 1970")));
    }
    Ok(ms)
}

fn role_of(comment: &TicketComment) -> SpeakerRole {
    // Private notes are the team's own, whoever the export says wrote them.
    if !comment.public {
        return SpeakerRole::Internal;
    }
    match comment.author_role.trim().to_ascii_lowercase().as_str() {
        "customer" | "end-user" | "end_user" | "requester" => SpeakerRole::Customer,
        "agent" | "internal" | "admin" => SpeakerRole::Internal,
        _ => SpeakerRole::Unknown,
    }
}

/// Splits a ticket into segments: the subject (the requester's), then every comment.
pub fn segment_ticket(ticket: &Ticket, options: &TextOptions) -> Result<Vec<Segment>, IngestError> {
    let max_text_bytes = options.max_text_bytes;
    if ticket.ticket_id.trim().is_empty() {
        return Err(IngestError::invalid("ticket_id", "must not be empty"));
    }
    if ticket.comments.is_empty() {
        return Err(IngestError::invalid("comments", "a ticket needs at least one comment"));
    }
    if ticket.comments.len() > MAX_TICKET_COMMENTS {
        let reason = format!("{} comments, the limit is {MAX_TICKET_COMMENTS}", ticket.comments.len());
        return Err(IngestError::invalid("comments", reason));
    }
    check_title("subject", &ticket.subject)?;
    let opened = ticket.created_at.as_deref().map(|t| parse_timestamp("created_at", t)).transpose()?;
    let mut segments = Vec::new();
    check_speaker("requester", ticket.requester.display().as_deref())?;
    let requester = Part {
        id: "subject",
        speaker: ticket.requester.display(),
        role: SpeakerRole::Customer,
        at: opened,
        offset_ms: None,
    };
    push_sentences(&mut segments, &requester, &ticket.subject, &options.redactor);
    for (i, comment) in ticket.comments.iter().enumerate() {
        if comment.id.trim().is_empty() {
            return Err(IngestError::invalid("comments.id", format!("comment {i} has no id")));
        }
        if comment.body.len() > max_text_bytes {
            let reason = format!(
                "comment {} is {} bytes, the limit is {max_text_bytes}",
                comment.id,
                comment.body.len()
            );
            return Err(IngestError::invalid("comments.body", reason));
        }
        let at =
            comment.created_at.as_deref().map(|t| parse_timestamp("comments.created_at", t)).transpose()?;
        let author = comment.author.display();
        check_speaker("comments.author", author.as_deref())?;
        let part = Part {
            id: &comment.id,
            speaker: author,
            role: role_of(comment),
            at: at.or(opened),
            offset_ms: None,
        };
        push_sentences(&mut segments, &part, &comment.body, &options.redactor);
    }
    if segments.is_empty() {
        return Err(IngestError::invalid("comments.body", "no comment has words to analyze"));
    }
    check_segment_count("comments.body", &segments)?;
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKET: &str = r#"{"ticket_id": "BL-1", "subject": "Export broken", "created_at": "2026-10-03T14:22:00Z",
        "requester": {"name": "Dana Lee", "email": "dana@northwind.test"},
        "comments": [
          {"id": "c-1", "author": {"name": "Dana Lee"}, "author_role": "customer", "public": true,
           "created_at": "2026-10-03T14:22:00Z", "body": "The CSV export fails. Again."},
          {"id": "c-2", "author": {"name": "Sam"}, "author_role": "agent", "public": false,
           "created_at": "2026-10-03T15:00:00Z", "body": "Escalating to engineering."}]}"#;

    #[test]
    fn comments_become_parts_with_roles_and_times() {
        let ticket = parse_ticket_json(TICKET.as_bytes()).unwrap();
        let segments = segment_ticket(&ticket, &TextOptions::with_max_text_bytes(10_000)).unwrap();
        let texts: Vec<&str> = segments.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["Export broken", "The CSV export fails.", "Again.", "Escalating to engineering."]);
        assert_eq!(segments[1].part, "c-1");
        assert_eq!(segments[1].role, SpeakerRole::Customer);
        assert_eq!(segments[0].speaker.as_deref(), Some("Dana Lee <[EMAIL]>"));
        assert_eq!(segments[3].role, SpeakerRole::Internal);
        assert_eq!(segments[3].timestamp_ms, Some(1_791_039_600_000));
        assert_eq!(segments.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
    }

    #[test]
    fn bad_tickets_name_the_field() {
        let err = |json: &str| {
            segment_ticket(
                &parse_ticket_json(json.as_bytes()).unwrap(),
                &TextOptions::with_max_text_bytes(100),
            )
            .unwrap_err()
            .to_string()
        };
        assert!(err(r#"{"ticket_id": "T", "comments": []}"#).starts_with("comments:"));
        assert!(
            err(r#"{"ticket_id": "T", "comments": [{"id": "c", "body": "x", "created_at": "yesterday"}]}"#)
                .starts_with("comments.created_at:")
        );
        assert!(parse_ticket_json(b"{").unwrap_err().to_string().starts_with("ticket_json:"));
        assert!(
            err(r#"{"ticket_id": "T", "comments": [{"id": "c", "body": "x", "created_at": "1969-12-31T23:59:59Z"}]}"#)
                .starts_with("comments.created_at:")
        );
    }

    #[test]
    fn oversized_tickets_are_refused_before_any_model_work() {
        let options = TextOptions::default();
        let mut ticket = parse_ticket_json(TICKET.as_bytes()).unwrap();
        ticket.subject = "Export broken. ".repeat(1_000);
        assert!(segment_ticket(&ticket, &options).unwrap_err().to_string().starts_with("subject:"));
        let mut ticket = parse_ticket_json(TICKET.as_bytes()).unwrap();
        ticket.comments = vec![ticket.comments[0].clone(); MAX_TICKET_COMMENTS + 1];
        assert!(segment_ticket(&ticket, &options).unwrap_err().to_string().starts_with("comments:"));
        ticket.comments.truncate(MAX_TICKET_COMMENTS);
        assert!(segment_ticket(&ticket, &options).is_ok());
    }
}
