//! The characters SQS accepts in message bodies and attribute values.

/// Whether SQS accepts `text` in a body or attribute: #x9, #xA, #xD, #x20-#xD7FF,
/// #xE000-#xFFFD and #x10000-#x10FFFF.
pub fn allowed_text(text: &str) -> bool {
    if text.is_ascii() {
        return text
            .bytes()
            .all(|b| b >= b' ' || matches!(b, b'\t' | b'\n' | b'\r'));
    }
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_characters_are_sqs_ones() {
        assert!(allowed_text("hello\tworld\n\r ü 😀"));
        assert!(!allowed_text("a\u{0}b"));
        assert!(!allowed_text("\u{1b}"));
        assert!(!allowed_text("\u{FFFF}"));
    }
}
