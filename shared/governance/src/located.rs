//! Where in a tenant's policy text a problem is: line and column of an offset, of a
//! Cedar diagnostic, and of each statement (Cedar names a text's policies in order).

use crate::policy::PolicyError;
use miette::Diagnostic;

pub(crate) fn position(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The first labelled position of a Cedar diagnostic, with its message and help.
pub(crate) fn located(source: &str, d: &dyn Diagnostic) -> PolicyError {
    let offset = d.labels().and_then(|mut l| l.next()).map_or(0, |l| l.offset());
    let (line, column) = position(source, offset);
    let mut message = d.to_string();
    if let Some(help) = d.help() {
        message = format!("{message} ({help})");
    }
    PolicyError { line, column, message }
}

/// Where each statement of a Cedar text begins (its first annotation or keyword): a
/// statement ends at a `;` outside strings, comments and brackets.
pub(crate) fn statement_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let (mut starts, mut depth, mut i, mut begun) = (Vec::new(), 0i32, 0, false);
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ if !begun => {
                starts.push(i);
                begun = true;
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            b';' if depth == 0 => begun = false,
            _ => {}
        }
        i += 1;
    }
    starts
}
