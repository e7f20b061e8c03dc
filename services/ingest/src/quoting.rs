//! Cleaning a mail body down to what its sender wrote in this message.
//!
//! Removed, in this order:
//! 1. quoted replies: `>` lines, their attribution line (Gmail, Apple Mail and Thunderbird
//!    "On ... wrote:", and its common translations), and everything after an Outlook reply
//!    header (`-----Original Message-----`, a `____` rule or a `From:` / `Sent:` block,
//!    after which Outlook repeats the old text *unquoted*) or a forward marker;
//! 2. the signature: from a `-- ` delimiter line, from a sign-off line ("Best,",
//!    "Thanks,", "Kind regards,", "Merci,", ...) followed only by a few short lines, and
//!    trailing blocks of name / title / company / contact lines; "Sent from my iPhone";
//! 3. legal disclaimers ("This email and any attachments are confidential...") and
//!    everything after them;
//! 4. the greeting line ("Hi Dana,").
//!
//! Then hard-wrapped lines of a paragraph are joined again, so sentences are whole.

use std::sync::LazyLock;

use regex::Regex;

static ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:on|le|am|el|il|op|den|em)\b.{3,300}?\b(?:wrote|a écrit|schrieb|escribió|ha scritto|schreef|skrev|escreveu)\s*:\s*$",
    )
    .expect("attribution regex")
});
static SIGN_OFF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:best|best regards|best wishes|kind regards|kindest regards|warm regards|warmest regards|warm wishes|regards|many thanks|thanks|thank you|thanks again|thanks so much|thanks in advance|thank you again|cheers|sincerely|yours|yours sincerely|sincerely yours|yours truly|all the best|talk soon|speak soon|merci|merci beaucoup|danke|gracias|take care|respectfully|with thanks|with appreciation|br|rgds|thx)\s*[,.!]?\s*$",
    )
    .expect("sign-off regex")
});
static GREETING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:(?:hi|hello|hey|dear|hiya|greetings|good (?:morning|afternoon|evening)|morning)\b[^.!?]{0,60}|[\p{Lu}][\p{L}'\-]+(?: [\p{Lu}][\p{L}'\-]+)?),\s*$")
        .expect("greeting regex")
});
static DISCLAIMER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:intended (?:solely )?(?:only )?for the (?:use of the )?(?:individual|addressee|named|person|recipient)|intended recipient|received this (?:e-?mail|message|communication) in error|(?:e-?mail|message) and any (?:files|attachments)(?: transmitted with it)? (?:are|is|may be) (?:confidential|privileged)|confidentiality notice|this (?:e-?mail|message|communication) (?:may contain|contains) (?:confidential|privileged)|privileged and confidential|please consider the environment before printing|legally privileged)",
    )
    .expect("disclaimer regex")
});
static MOBILE_FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:sent from my \w+|sent from (?:outlook|mail) for \w+|get outlook for \w+|sent from my \w+ \w+)\.?$")
        .expect("footer regex")
});
static CONTACT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)@|https?://|www\.|\+?\(?[0-9]{2,4}\)?[ .\-][0-9]{3}[ .\-]?[0-9]{2,4}|\|")
        .expect("contact regex")
});

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// How many lines (1 to 3) starting at `i` form a "On ... wrote:" attribution.
fn attribution_len(lines: &[&str], i: usize) -> Option<usize> {
    let mut joined = String::new();
    for (n, line) in lines.iter().skip(i).take(3).enumerate() {
        if is_quoted(line) || (n > 0 && line.trim().is_empty()) {
            return None;
        }
        if n > 0 {
            joined.push(' ');
        }
        joined.push_str(line.trim());
        if ATTRIBUTION.is_match(&joined) {
            return Some(n + 1);
        }
    }
    None
}

fn is_header_line(line: &str, names: &[&str]) -> bool {
    let line = line.trim_start_matches(['*', ' ']);
    names.iter().any(|name| {
        line.len() > name.len()
            && line.is_char_boundary(name.len())
            && line[..name.len()].eq_ignore_ascii_case(name)
            && line[name.len()..].starts_with(':')
    })
}

/// Whether an Outlook-style `From:` header block (or a rule, or an "Original Message"
/// line, or a forward marker) starts at line `i`: the rest is old text.
fn reply_block_starts(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let lower = line.to_ascii_lowercase();
    if lower.contains("original message") && line.starts_with('-')
        || lower.contains("forwarded message") && (line.starts_with('-') || line.starts_with('—'))
        || lower == "begin forwarded message:"
    {
        return true;
    }
    let following = |from: usize, names: &[&str]| {
        lines.iter().skip(from).take(6).filter(|l| !l.trim().is_empty()).any(|l| is_header_line(l, names))
    };
    if line.len() >= 8 && line.chars().all(|c| c == '_') {
        return following(i + 1, &["from"]);
    }
    is_header_line(line, &["from", "von", "de"]) && following(i + 1, &["sent", "date", "gesendet", "envoyé"])
}

/// A line that belongs in a signature block: short, no sentence ending, and either
/// contact details or Title Case words (a name, a job title, a company).
fn signature_like(line: &str) -> bool {
    let line = line.trim();
    if line.is_empty() {
        return true;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    // Sentences are long or end like one; contact lines are a few tokens.
    if words.len() > 12 || line.chars().count() > 90 {
        return false;
    }
    if line.ends_with(['.', '!', '?', ':', ';']) && !line.ends_with("Inc.") {
        return CONTACT.is_match(line) && words.len() <= 4;
    }
    if CONTACT.is_match(line) {
        return true;
    }
    const SMALL: &[&str] =
        &["of", "and", "&", "the", "for", "at", "de", "la", "du", "von", "van", "-", "–", "|", "in"];
    words.len() <= 7
        && words.iter().all(|w| {
            let w = w.trim_matches(|c: char| c == ',' || c == '(' || c == ')');
            w.is_empty()
                || SMALL.contains(&w.to_lowercase().as_str())
                || w.chars().next().is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
        })
}

fn is_list_item(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with(['-', '*', '•', '–'])
        || t.split_once(['.', ')']).is_some_and(|(n, rest)| {
            !n.is_empty() && n.len() <= 3 && n.chars().all(|c| c.is_ascii_digit()) && rest.starts_with(' ')
        })
}

/// What the sender wrote in this message, without quotes, signature and disclaimer.
pub fn clean_body(body: &str) -> String {
    let normalized = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').map(str::trim_end).collect();

    // 1. Quoted replies.
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if is_quoted(lines[i]) {
            i += 1;
            continue;
        }
        if let Some(n) = attribution_len(&lines, i) {
            i += n;
            // Old text that follows unquoted (some clients) is cut with its attribution.
            match lines[i..].iter().find(|l| !l.trim().is_empty()) {
                Some(next) if is_quoted(next) => continue,
                _ => break,
            }
        }
        if reply_block_starts(&lines, i) {
            break;
        }
        kept.push(lines[i]);
        i += 1;
    }

    // 2a. Signature delimiter and mobile footers.
    if let Some(pos) = kept.iter().position(|l| *l == "--" || *l == "-- " || l.trim() == "--") {
        kept.truncate(pos);
    }
    kept.retain(|l| !MOBILE_FOOTER.is_match(l.trim()));

    // 3. Disclaimers: the first paragraph that reads like one, and everything after it.
    let mut start = 0;
    for end in 0..=kept.len() {
        if end == kept.len() || kept[end].trim().is_empty() {
            let paragraph = kept[start..end].join(" ");
            if DISCLAIMER.is_match(&paragraph) {
                kept.truncate(start);
                break;
            }
            start = end + 1;
        }
    }

    // 2b. Sign-off followed only by a few short lines.
    if let Some(pos) = kept.iter().rposition(|l| SIGN_OFF.is_match(l.trim())) {
        let after: Vec<&&str> = kept[pos + 1..].iter().filter(|l| !l.trim().is_empty()).collect();
        if after.len() <= 8 && after.iter().all(|l| signature_like(l)) && pos > 0 {
            kept.truncate(pos);
        }
    }

    // 2c. Trailing signature blocks (name, title, company, phone), never the last paragraph.
    loop {
        while kept.last().is_some_and(|l| l.trim().is_empty()) {
            kept.pop();
        }
        let Some(blank) = kept.iter().rposition(|l| l.trim().is_empty()) else { break };
        if kept[blank + 1..].iter().all(|l| signature_like(l)) {
            kept.truncate(blank);
        } else {
            break;
        }
    }

    // 4. Greeting.
    while kept.first().is_some_and(|l| l.trim().is_empty()) {
        kept.remove(0);
    }
    if kept.first().is_some_and(|l| GREETING.is_match(l.trim())) && kept.len() > 1 {
        kept.remove(0);
    }

    reflow(&kept)
}

/// Joins the hard-wrapped lines of each paragraph; list items and short lines stay.
pub fn reflow(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut previous: Option<&str> = None;
    for line in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            if previous.is_some() {
                out.push_str("\n\n");
            }
            previous = None;
            continue;
        }
        if let Some(prev) = previous {
            let wrapped = prev.chars().count() >= 40 && !prev.ends_with(':') && !is_list_item(trimmed);
            out.push(if wrapped { ' ' } else { '\n' });
        }
        out.push_str(trimmed);
        previous = Some(trimmed);
    }
    let mut text = out.trim().to_owned();
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_reply_keeps_only_the_new_text() {
        let body = "Hi Dana,\n\nThank you for laying this out. I'm sorry.\n\n-- \nSam Ortiz\nCSM\n\n\
            On Wed, Oct 7, 2026 at 9:14 AM Dana Lee <dana.lee@northwind-logistics.com> wrote:\n\
            > Hi Sam,\n>\n> The dashboard is slow.\n>\n> Best,\n> Dana\n";
        assert_eq!(clean_body(body), "Thank you for laying this out. I'm sorry.");
    }

    #[test]
    fn wrapped_attribution_and_inline_replies() {
        let body = "Answers below.\n\nOn Wed, Oct 7, 2026 at 9:14 AM Dana Lee <\ndana@x.example> wrote:\n\
            > Is it fixed?\nNot yet, Friday.\n> And the invoice?\nSent today.\n";
        assert_eq!(clean_body(body), "Answers below.\n\nNot yet, Friday.\nSent today.");
    }

    #[test]
    fn outlook_header_block_cuts_the_unquoted_old_text() {
        let body = "Thanks, that works for us.\n\nRebecca\n\nRebecca Osei, PhD\nDirector of Institutional Research\n\
            Pinecrest University\n\n________________________________\nFrom: Marcus Bell <marcus.bell@brightloop.io>\n\
            Sent: Wednesday, September 30, 2026 10:30 AM\nTo: Rebecca Osei\nSubject: Checking in\n\nHi Rebecca,\n\nOld text.\n";
        assert_eq!(clean_body(body), "Thanks, that works for us.");
        let original = "Fine by me.\n\n-----Original Message-----\nFrom: Sam\nSent: Monday\n\nOld.";
        assert_eq!(clean_body(original), "Fine by me.");
        let bare = "New.\n\nFrom: Sam Ortiz <sam@brightloop.io>\nDate: Monday, 5 Oct\nTo: Dana\n\nOld.";
        assert_eq!(clean_body(bare), "New.");
    }

    #[test]
    fn sign_offs_signatures_and_disclaimers() {
        let body = "Hello Ben,\n\nThe invoice is still wrong.\n\nMerci,\nRenée Lefèvre\nAccounts Payable Specialist\n\
            Tél. (303) 555-0172\n\nThis email and any attachments are confidential and intended solely for the \
            addressee. If you have received this email in error, please delete it.\n";
        assert_eq!(clean_body(body), "The invoice is still wrong.");
        let contact_in_a_sentence = "Invoice is wrong.\n\nPlease send the corrected invoice to ap@copperfield.example and copy me.\n\nMerci,\nRenée";
        assert_eq!(
            clean_body(contact_in_a_sentence),
            "Invoice is wrong.\n\nPlease send the corrected invoice to ap@copperfield.example and copy me."
        );
        let plain = "We may not renew.\n\nDana\n";
        assert_eq!(clean_body(plain), "We may not renew.");
        let iphone = "Sounds good!\n\nSent from my iPhone";
        assert_eq!(clean_body(iphone), "Sounds good!");
    }

    #[test]
    fn paragraphs_are_unwrapped_but_lists_stay() {
        let body = "Thanks for Thursday's session. Aisha was helpful and I appreciate the\nhonesty about what went wrong.\n\n\
            Two small follow-ups:\n1. Can we get the recording?\n2. Can reports wait for alerts?";
        assert_eq!(
            clean_body(body),
            "Thanks for Thursday's session. Aisha was helpful and I appreciate the honesty about what went wrong.\n\n\
             Two small follow-ups:\n1. Can we get the recording?\n2. Can reports wait for alerts?"
        );
    }

    #[test]
    fn a_message_that_is_only_a_sign_off_keeps_its_words() {
        assert_eq!(clean_body("Thanks!"), "Thanks!");
    }
}
