//! Server-Sent Events read off a streaming response, one event at a time.

use crate::Error;

/// One event: its name (`event:`), id (`id:`) and data (its `data:` lines joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEvent {
    pub(crate) name: String,
    pub(crate) id: Option<String>,
    pub(crate) data: String,
}

/// Splits a text stream into events.
#[derive(Default)]
pub(crate) struct Parser {
    buffer: String,
}

impl Parser {
    /// Adds what arrived.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        if self.buffer.contains('\r') {
            // A lone `\r` at the end may be the first half of a `\r\n`: it waits.
            let pending = self.buffer.ends_with('\r');
            let body = if pending { &self.buffer[..self.buffer.len() - 1] } else { &self.buffer[..] };
            let whole = body.replace("\r\n", "\n").replace('\r', "\n");
            self.buffer = if pending { whole + "\r" } else { whole };
        }
    }

    /// The next whole event, if one arrived (comments and keep-alives are skipped).
    pub(crate) fn next(&mut self) -> Option<RawEvent> {
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let (mut name, mut id, mut data) = (String::new(), None, Vec::new());
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => name = value.to_owned(),
                    "id" => id = Some(value.to_owned()),
                    "data" => data.push(value),
                    _ => {} // a comment (`: keep-alive`) or `retry`
                }
            }
            if !data.is_empty() {
                let name = if name.is_empty() { "message".to_owned() } else { name };
                return Some(RawEvent { name, id, data: data.join("\n") });
            }
        }
        None
    }
}

/// The events of one response.
pub(crate) struct Reader {
    pub(crate) resp: reqwest::Response,
    pub(crate) parser: Parser,
    pub(crate) base: String,
}

impl Reader {
    /// The next event, or `None` when the response ended.
    pub(crate) async fn next(&mut self) -> Result<Option<RawEvent>, Error> {
        loop {
            if let Some(e) = self.parser.next() {
                return Ok(Some(e));
            }
            match self.resp.chunk().await {
                Ok(Some(chunk)) => self.parser.push(&chunk),
                Ok(None) => return Ok(None),
                Err(source) => return Err(Error::Transport { url: self.base.clone(), source }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_in_any_line_ending_and_in_any_chunking() {
        let text = ": keep-alive\n\nevent: step\nid: 0\nretry: 1000\ndata: {\"a\":1}\n\r\nevent: run\r\ndata: line1\r\ndata: line2\r\n\r\ndata: bare\n\n";
        for size in [1, 3, 7, text.len()] {
            let mut p = Parser::default();
            let mut got = Vec::new();
            for chunk in text.as_bytes().chunks(size) {
                p.push(chunk);
                while let Some(e) = p.next() {
                    got.push(e);
                }
            }
            assert_eq!(
                got,
                vec![
                    RawEvent { name: "step".into(), id: Some("0".into()), data: "{\"a\":1}".into() },
                    RawEvent { name: "run".into(), id: None, data: "line1\nline2".into() },
                    RawEvent { name: "message".into(), id: None, data: "bare".into() },
                ],
                "chunks of {size}"
            );
        }
    }
}
