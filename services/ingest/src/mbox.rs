//! `.mbox` files: many RFC 5322 messages, each starting with a `From ` separator line.
//!
//! Accepts mboxo and mboxrd: a message starts at a line beginning with `From ` at the
//! start of the file or after a blank line; `>From ` lines (any number of `>`) lose one
//! `>`. A file without a separator line is refused rather than read as one message.

use crate::IngestError;

/// One message of an mbox: its position and its raw bytes (separator line removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    /// Position in the file, from 0.
    pub index: usize,
    /// Line number of its `From ` separator, from 1.
    pub line: usize,
    pub raw: Vec<u8>,
}

/// `From sender date`: the date has a time of day, which body text rarely does.
fn is_separator(line: &[u8]) -> bool {
    line.starts_with(b"From ") && line.contains(&b':') && line.iter().any(u8::is_ascii_digit)
}

/// Splits an mbox into its messages.
pub fn split_mbox(bytes: &[u8]) -> Result<Vec<MboxMessage>, IngestError> {
    let mut messages: Vec<MboxMessage> = Vec::new();
    let mut current: Option<MboxMessage> = None;
    let mut previous_blank = true;
    let mut line_no = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        line_no += 1;
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if previous_blank && is_separator(content) {
            if let Some(done) = current.take() {
                messages.push(done);
            }
            current = Some(MboxMessage { index: messages.len(), line: line_no, raw: Vec::new() });
            previous_blank = false;
            continue;
        }
        previous_blank = content.is_empty();
        match current.as_mut() {
            Some(message) => {
                let quoted_from = content
                    .iter()
                    .position(|&b| b != b'>')
                    .is_some_and(|i| i > 0 && content[i..].starts_with(b"From "));
                message.raw.extend_from_slice(if quoted_from { &line[1..] } else { line });
            }
            None if content.iter().all(u8::is_ascii_whitespace) => {}
            None => {
                return Err(IngestError::invalid(
                    "mbox",
                    format!("line {line_no} comes before the first \"From \" separator line"),
                ));
            }
        }
    }
    if let Some(done) = current.take() {
        messages.push(done);
    }
    if messages.is_empty() {
        return Err(IngestError::invalid("mbox", "has no messages (no \"From \" separator line)"));
    }
    // The blank line before each separator belongs to the format, not the message.
    for message in &mut messages {
        while message.raw.ends_with(b"\n\n") || message.raw.ends_with(b"\r\n\r\n") {
            let cut = if message.raw.ends_with(b"\r\n") { 2 } else { 1 };
            message.raw.truncate(message.raw.len() - cut);
        }
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_unescapes() {
        let mbox = b"From a@x Thu Oct  8 10:00:00 2026\nFrom: a@x.example\nSubject: one\n\nHello.\n>From here on.\n\n\
            From b@x Thu Oct  8 11:00:00 2026\nFrom: b@x.example\n\nFrom now on, second.\n>>From x\n";
        let messages = split_mbox(mbox).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].raw, b"From: a@x.example\nSubject: one\n\nHello.\nFrom here on.\n");
        // An unescaped "From now on" after a blank line has no time of day: body text.
        assert_eq!(messages[1].line, 8);
        assert!(String::from_utf8_lossy(&messages[1].raw).ends_with("\nFrom now on, second.\n>From x\n"));
    }

    #[test]
    fn not_an_mbox() {
        assert!(split_mbox(b"From: a@x.example\n\nhi\n").unwrap_err().to_string().starts_with("mbox:"));
        assert!(split_mbox(b"").is_err());
    }
}
