//! HTML mail bodies to plain text that the quote and signature cleaner understands.
//!
//! A lenient scanner, not a browser: block elements (`p`, `div`, `tr`, `li`, headings)
//! become line breaks, `br` a line break, `hr` a `____` rule, `blockquote` (and Gmail's
//! `div.gmail_quote`, Yahoo's `div.yahoo_quoted`, Thunderbird's `div.moz-cite-prefix`'s
//! quote) prefixes its lines with `> ` as a plain-text client would, and Outlook's
//! `div#divRplyFwdMsg` header block starts a `From:` / `Sent:` block, which the cleaner
//! cuts. `head`, `style`, `script` and comments are dropped; entities are decoded.

/// Plain text of an HTML body, quotes marked with `> `.
pub fn html_to_text(html: &str) -> String {
    let mut out = Output::default();
    let mut rest = html;
    // Elements whose content is dropped, by name, while inside them.
    let mut skipping: Option<String> = None;
    // Open elements that quote, as a stack of "does this element quote".
    let mut stack: Vec<(String, bool)> = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        if rest.starts_with('<')
            && let Some(end) = tag_end(rest)
        {
            let tag = Tag::parse(&rest[1..end]);
            rest = &rest[end + 1..];
            if let Some(name) = &skipping {
                if tag.closing && &tag.name == name {
                    skipping = None;
                }
                continue;
            }
            out.element(&tag, &mut stack, &mut skipping);
            continue;
        }
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let next = rest[first..].find('<').map_or(rest.len(), |i| i + first);
        if skipping.is_none() {
            out.text(&decode_entities(&rest[..next]));
        }
        rest = &rest[next..];
    }
    out.finish()
}

/// Index of the `>` closing the tag that starts `s`, if `s` starts a tag at all.
fn tag_end(s: &str) -> Option<usize> {
    let second = s[1..].chars().next()?;
    if !(second.is_ascii_alphabetic() || second == '/' || second == '!') {
        return None;
    }
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

struct Tag {
    name: String,
    closing: bool,
    raw: String,
}

impl Tag {
    fn parse(inner: &str) -> Self {
        let closing = inner.starts_with('/');
        let body = inner.trim_start_matches('/');
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        Self { name, closing, raw: body.to_ascii_lowercase() }
    }

    fn attr_mentions(&self, needle: &str) -> bool {
        self.raw.contains(needle)
    }

    fn quotes(&self) -> bool {
        self.name == "blockquote"
            || (self.name == "div"
                && (self.attr_mentions("gmail_quote") && !self.attr_mentions("gmail_quote_attribution")
                    || self.attr_mentions("yahoo_quoted")))
    }
}

const BLOCKS: &[&str] = &[
    "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "section",
    "article", "header", "footer", "dl", "dt", "dd", "center", "address",
];
const VOID: &[&str] = &["br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base", "source"];

#[derive(Default)]
struct Output {
    lines: Vec<String>,
    current: String,
    depth: usize,
    /// Whether whitespace is pending between words.
    space: bool,
}

impl Output {
    fn element(&mut self, tag: &Tag, stack: &mut Vec<(String, bool)>, skipping: &mut Option<String>) {
        let name = tag.name.as_str();
        if !tag.closing && matches!(name, "head" | "style" | "script" | "title" | "xml") {
            *skipping = Some(name.to_owned());
            return;
        }
        match name {
            "br" => self.newline(),
            "hr" => {
                self.newline();
                self.current.push_str("________________________________");
                self.newline();
            }
            "td" | "th" if !tag.closing => self.space = true,
            _ if BLOCKS.contains(&name) || name == "blockquote" => {
                self.newline();
                if name == "p" && !tag.closing {
                    self.blank_line();
                }
            }
            _ => {}
        }
        if VOID.contains(&name) || tag.raw.ends_with('/') {
            return;
        }
        if tag.closing {
            if let Some(pos) = stack.iter().rposition(|(n, _)| n == name) {
                for (_, quoted) in stack.drain(pos..) {
                    if quoted {
                        self.newline();
                        self.depth = self.depth.saturating_sub(1);
                    }
                }
            }
        } else if matches!(name, "blockquote" | "div") {
            let quoted = tag.quotes();
            if quoted {
                self.newline();
                self.depth += 1;
            }
            if name == "div" && tag.attr_mentions("divrplyfwdmsg") {
                self.newline();
                self.blank_line();
            }
            stack.push((name.to_owned(), quoted));
        }
    }

    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() && c != '\u{a0}' {
                self.space = true;
                continue;
            }
            if self.space && !self.current.trim().is_empty() && !self.current.ends_with(' ') {
                self.current.push(' ');
            }
            self.space = false;
            if self.current.is_empty() && self.depth > 0 {
                self.current.push_str(&"> ".repeat(self.depth));
            }
            self.current.push(if c == '\u{a0}' { ' ' } else { c });
        }
    }

    fn newline(&mut self) {
        let line = std::mem::take(&mut self.current);
        self.lines.push(line.trim_end().to_owned());
        self.space = false;
    }

    fn blank_line(&mut self) {
        if self.lines.last().is_some_and(|l| !l.is_empty()) {
            self.lines.push(String::new());
        }
    }

    fn finish(mut self) -> String {
        self.newline();
        let mut out = String::new();
        let mut blank = true;
        for line in &self.lines {
            let empty = line.trim_start_matches(['>', ' ']).is_empty();
            if empty {
                if !blank {
                    out.push('\n');
                }
                blank = true;
                continue;
            }
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
        out.trim().to_owned()
    }
}

/// Decodes the named entities mail clients use, and numeric ones.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '#')).map(|i| i + 1);
        let decoded = end.filter(|&e| rest[e..].starts_with(';') && e > 1).and_then(|e| {
            let name = &rest[1..e];
            entity(name).map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "euro" => '€',
        "pound" => '£',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "bull" => '•',
        "middot" => '·',
        "eacute" => 'é',
        "egrave" => 'è',
        "agrave" => 'à',
        "ccedil" => 'ç',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "szlig" => 'ß',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_breaks_and_entities() {
        let html = "<html><head><style>p{x:1}</style></head><body><p>Hi Sam,</p>\
            <p>It&#8217;s slow &amp; broken.<br>Fix&nbsp;it?</p><!-- hidden --></body></html>";
        assert_eq!(html_to_text(html), "Hi Sam,\n\nIt’s slow & broken.\nFix it?");
    }

    #[test]
    fn blockquotes_are_marked_as_quotes() {
        let html = "<p>Thanks!</p><p>On Wed, Dana wrote:</p><blockquote><p>It is slow.</p>\
            <blockquote><p>Older.</p></blockquote></blockquote><p>After</p>";
        assert_eq!(
            html_to_text(html),
            "Thanks!\n\nOn Wed, Dana wrote:\n\n> It is slow.\n\n> > Older.\n\nAfter"
        );
    }

    #[test]
    fn outlook_reply_header_starts_a_block() {
        let html = "<p>New text.</p><hr><div id=\"divRplyFwdMsg\"><b>From:</b> Sam<br><b>Sent:</b> Monday</div>\
            <div><p>Old text.</p></div>";
        let text = html_to_text(html);
        assert!(
            text.starts_with("New text.\n\n________________________________\n\nFrom: Sam\nSent: Monday"),
            "{text}"
        );
    }

    #[test]
    fn broken_markup_does_not_panic() {
        for html in ["<", "<p", "<a href=\"x>", "&", "&#xZZ;", "&#99999999;", "</div></div>", "<<>>"] {
            let _ = html_to_text(html);
        }
        assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
    }
}
