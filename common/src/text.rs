//! Quoting user input in messages: every error that echoes something a caller sent (a symbol, a
//! CSV cell or header, a date, an id) passes it through [`clip`], so a 10 000-character field or
//! a binary upload never turns into a 100 KB `grpc-message` (C-core clients reject large
//! trailers as RESOURCE_EXHAUSTED). [`cap_message`] is the last line of defence for the whole
//! message in the one `Error` → `tonic::Status` mapping.

/// Most characters of one piece of user input quoted in a message.
pub const QUOTE_MAX_CHARS: usize = 64;
/// Most bytes of a whole error message sent as a gRPC status.
pub const MESSAGE_MAX_BYTES: usize = 1024;

/// `input` as it may be quoted back: at most [`QUOTE_MAX_CHARS`] characters, control characters
/// escaped (`\u{0}`), and when cut, `…` plus the full length (`…(10000 chars)`).
pub fn clip(input: &str) -> String {
    let mut out = String::new();
    let mut shown = 0;
    let mut chars = input.chars();
    for c in chars.by_ref() {
        if shown == QUOTE_MAX_CHARS {
            let total = input.chars().count();
            out.push_str(&format!("…({total} chars)"));
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        shown += 1;
    }
    out
}

/// `msg` cut to at most [`MESSAGE_MAX_BYTES`] bytes (on a character boundary, with `…`).
pub fn cap_message(mut msg: String) -> String {
    if msg.len() <= MESSAGE_MAX_BYTES {
        return msg;
    }
    let mut end = MESSAGE_MAX_BYTES - '…'.len_utf8();
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    msg.truncate(end);
    msg.push('…');
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_input_is_cut_with_its_length() {
        let s = "A".repeat(10_000);
        let c = clip(&s);
        assert!(c.starts_with(&"A".repeat(QUOTE_MAX_CHARS)), "{c}");
        assert!(c.ends_with("…(10000 chars)"), "{c}");
        assert!(c.len() < 100);
        assert_eq!(clip("AAPL"), "AAPL");
        assert_eq!(clip("a\0b\n"), "a\\u{0}b\\n");
        // Multi-byte characters are cut on character boundaries.
        assert_eq!(clip(&"é".repeat(70)).chars().filter(|&c| c == 'é').count(), QUOTE_MAX_CHARS);
    }

    #[test]
    fn whole_messages_are_capped() {
        let m = cap_message("ü".repeat(5_000));
        assert!(m.len() <= MESSAGE_MAX_BYTES && m.ends_with('…'));
        assert_eq!(cap_message("short".into()), "short");
    }
}
