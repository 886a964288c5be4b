//! The D-Bus wire format: marshalling what we send and reading what we get.
//!
//! Only what the Secret Service conversation uses is written, but anything a
//! peer may send is read safely: every read is bounds-checked, any complete
//! type can be skipped, nesting is bounded, and either byte order is accepted.
//! Buffers are [`Zeroizing`], because message bodies carry secrets.

use zeroize::Zeroizing;

/// Replies larger than this are refused (a search over 10,000 items is about 600 KiB).
pub(super) const MAX_MESSAGE: usize = 8 << 20;
/// How deeply containers may nest in what a peer sends (the D-Bus limit is 64).
const MAX_DEPTH: u32 = 64;

pub(super) const METHOD_CALL: u8 = 1;
pub(super) const METHOD_RETURN: u8 = 2;
pub(super) const ERROR: u8 = 3;
pub(super) const SIGNAL: u8 = 4;

/// Why a message could not be read: what was wrong, never what it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Malformed(pub &'static str);

type Result<T> = std::result::Result<T, Malformed>;

/// Builds a message body (or the header field array) with D-Bus alignment.
#[derive(Default)]
pub(super) struct Body {
    pub bytes: Zeroizing<Vec<u8>>,
}

impl Body {
    fn pad(&mut self, to: usize) {
        while !self.bytes.len().is_multiple_of(to) {
            self.bytes.push(0);
        }
    }

    pub fn byte(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub fn bool(&mut self, value: bool) {
        self.u32(u32::from(value));
    }

    pub fn u32(&mut self, value: u32) {
        self.pad(4);
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn string(&mut self, text: &str) {
        self.u32(text.len() as u32);
        self.bytes.extend_from_slice(text.as_bytes());
        self.bytes.push(0);
    }

    pub fn object_path(&mut self, path: &str) {
        self.string(path);
    }

    pub fn signature(&mut self, signature: &str) {
        self.bytes.push(signature.len() as u8);
        self.bytes.extend_from_slice(signature.as_bytes());
        self.bytes.push(0);
    }

    pub fn byte_array(&mut self, bytes: &[u8]) {
        self.u32(bytes.len() as u32);
        self.bytes.extend_from_slice(bytes);
    }

    pub fn variant_string(&mut self, text: &str) {
        self.signature("s");
        self.string(text);
    }

    pub fn variant_byte_array(&mut self, bytes: &[u8]) {
        self.signature("ay");
        self.byte_array(bytes);
    }

    /// Starts a struct or dict entry: both align to 8.
    pub fn open_struct(&mut self) {
        self.pad(8);
    }

    /// An array whose elements `write` adds; `align` is the elements' alignment.
    pub fn array(&mut self, align: usize, write: impl FnOnce(&mut Self)) {
        self.pad(4);
        let length_at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        self.pad(align);
        let start = self.bytes.len();
        write(self);
        let length = (self.bytes.len() - start) as u32;
        self.bytes[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
    }

    /// `a{ss}`
    pub fn string_dict(&mut self, entries: &[(&str, &str)]) {
        self.array(8, |body| {
            for (key, value) in entries {
                body.open_struct();
                body.string(key);
                body.string(value);
            }
        });
    }

    /// `ao`
    pub fn object_paths(&mut self, paths: &[&str]) {
        self.array(4, |body| {
            for path in paths {
                body.object_path(path);
            }
        });
    }

    /// One `(yv)` header field whose value is a `u32`.
    #[cfg(test)]
    pub fn header_field_u32(&mut self, code: u8, value: u32) {
        self.open_struct();
        self.byte(code);
        self.signature("u");
        self.u32(value);
    }

    /// One `(yv)` header field whose value is a string, object path or signature.
    pub fn header_field(&mut self, code: u8, signature: &str, value: &str) {
        self.open_struct();
        self.byte(code);
        self.signature(signature);
        if signature == "g" {
            self.signature(value);
        } else {
            self.string(value);
        }
    }
}

/// Writes a whole method call message (little-endian) onto `out`.
#[allow(clippy::too_many_arguments)]
pub(super) fn method_call(
    out: &mut Vec<u8>,
    serial: u32,
    destination: &str,
    path: &str,
    interface: &str,
    member: &str,
    body: &Body,
    signature: &str,
) {
    let mut fields = Body::default();
    fields.header_field(1, "o", path);
    fields.header_field(2, "s", interface);
    fields.header_field(3, "s", member);
    fields.header_field(6, "s", destination);
    if !signature.is_empty() {
        fields.header_field(8, "g", signature);
    }
    message(out, METHOD_CALL, serial, &fields, body);
}

/// Writes a whole message (little-endian) with the given header fields onto `out`.
pub(super) fn message(out: &mut Vec<u8>, kind: u8, serial: u32, fields: &Body, body: &Body) {
    let start = out.len();
    out.extend_from_slice(&[b'l', kind, 0, 1]);
    out.extend_from_slice(&(body.bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&serial.to_le_bytes());
    out.extend_from_slice(&(fields.bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&fields.bytes);
    while !(out.len() - start).is_multiple_of(8) {
        out.push(0);
    }
    out.extend_from_slice(&body.bytes);
}

/// The fixed 16 bytes that start every message, and what follows from them.
pub(super) struct Preamble {
    pub big_endian: bool,
    pub kind: u8,
    /// Bytes after the preamble: the rest of the header, padding, and the body.
    pub rest_len: usize,
    fields_len: usize,
}

impl Preamble {
    pub fn parse(fixed: &[u8; 16]) -> Result<Self> {
        let big_endian = match fixed[0] {
            b'l' => false,
            b'B' => true,
            _ => return Err(Malformed("a message with an unknown byte order")),
        };
        if fixed[3] != 1 {
            return Err(Malformed("a message of an unknown protocol version"));
        }
        let word = |at: usize| {
            let bytes = [fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]];
            if big_endian {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            }
        };
        let body_len = word(4) as usize;
        let fields_len = word(12) as usize;
        let header_len = (16 + fields_len).div_ceil(8) * 8;
        let total = header_len
            .checked_add(body_len)
            .filter(|&total| total <= MAX_MESSAGE)
            .ok_or(Malformed("a message larger than this client accepts"))?;
        Ok(Self {
            big_endian,
            kind: fixed[1],
            rest_len: total - 16,
            fields_len,
        })
    }
}

/// A message received.
pub(super) struct Message {
    pub kind: u8,
    pub big_endian: bool,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub signature: String,
    pub body: Zeroizing<Vec<u8>>,
}

impl Message {
    /// Reads the message that `preamble` starts and `rest` completes.
    pub fn parse(preamble: &Preamble, rest: Zeroizing<Vec<u8>>) -> Result<Self> {
        let fields_data = rest
            .get(..preamble.fields_len)
            .ok_or(Malformed("a truncated message header"))?;
        let mut fields = Reader::new(fields_data, preamble.big_endian);
        let mut message = Self {
            kind: preamble.kind,
            big_endian: preamble.big_endian,
            reply_serial: None,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            signature: String::new(),
            body: Zeroizing::new(Vec::new()),
        };
        while !fields.at_end() {
            fields.align(8)?;
            let code = fields.byte()?;
            let signature = fields.signature()?;
            match (code, signature.as_str()) {
                (1, "o") => message.path = Some(fields.string()?),
                (2, "s") => message.interface = Some(fields.string()?),
                (3, "s") => message.member = Some(fields.string()?),
                (4, "s") => message.error_name = Some(fields.string()?),
                (5, "u") => message.reply_serial = Some(fields.u32()?),
                (8, "g") => message.signature = fields.signature()?,
                (6 | 7, "s") => fields.skip_value("s")?,
                (9, "u") => fields.skip_value("u")?,
                (1..=9, _) => return Err(Malformed("a header field of the wrong type")),
                // Unknown fields are ignored, as the specification asks.
                _ => fields.skip_value(&signature)?,
            }
        }
        let header_len = (16 + preamble.fields_len).div_ceil(8) * 8;
        let body_start = header_len - 16;
        if rest.len() < body_start {
            return Err(Malformed("a truncated message"));
        }
        message.body = Zeroizing::new(rest[body_start..].to_vec());
        Ok(message)
    }

    /// A reader over the body, if its signature is `expected`.
    pub fn reader(&self, expected: &str) -> Result<Reader<'_>> {
        if self.signature != expected {
            return Err(Malformed("a reply of an unexpected type"));
        }
        Ok(Reader::new(&self.body, self.big_endian))
    }

    /// The first argument of an error reply, if it is a string.
    pub fn error_text(&self) -> Option<String> {
        if !self.signature.starts_with('s') {
            return None;
        }
        Reader::new(&self.body, self.big_endian).string().ok()
    }
}

/// Reads values out of a message body (or header); every read is bounds-checked.
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    big_endian: bool,
    depth: u32,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], big_endian: bool) -> Self {
        Self {
            data,
            pos: 0,
            big_endian,
            depth: 0,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(Malformed("a length past the end"))?;
        let slice = self
            .data
            .get(self.pos..end)
            .ok_or(Malformed("a value past the end of the message"))?;
        self.pos = end;
        Ok(slice)
    }

    pub fn align(&mut self, to: usize) -> Result<()> {
        let padding = (to - self.pos % to) % to;
        self.take(padding).map(|_| ())
    }

    pub fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32> {
        self.align(4)?;
        let bytes: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| Malformed("a short integer"))?;
        Ok(if self.big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    }

    pub fn bool(&mut self) -> Result<bool> {
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Malformed("a boolean that is neither 0 nor 1")),
        }
    }

    pub fn string(&mut self) -> Result<String> {
        let len = self.u32()? as usize;
        let text = self.take(len)?;
        if self.byte()? != 0 {
            return Err(Malformed("a string without its terminating nul"));
        }
        String::from_utf8(text.to_vec()).map_err(|_| Malformed("a string that is not UTF-8"))
    }

    pub fn object_path(&mut self) -> Result<String> {
        let path = self.string()?;
        if !is_object_path(&path) {
            return Err(Malformed("an invalid object path"));
        }
        Ok(path)
    }

    pub fn signature(&mut self) -> Result<String> {
        let len = usize::from(self.byte()?);
        let text = self.take(len)?;
        if self.byte()? != 0 {
            return Err(Malformed("a signature without its terminating nul"));
        }
        String::from_utf8(text.to_vec()).map_err(|_| Malformed("a signature that is not ASCII"))
    }

    /// An `ay`, borrowed from the message (which is wiped when dropped).
    pub fn byte_array(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// Enters a struct or dict entry.
    pub fn open_struct(&mut self) -> Result<()> {
        self.align(8)
    }

    /// The end offset of an array whose elements align to `align`; reads its length.
    fn array_end(&mut self, align: usize) -> Result<usize> {
        let len = self.u32()? as usize;
        self.align(align)?;
        let end = self
            .pos
            .checked_add(len)
            .ok_or(Malformed("an array length past the end"))?;
        if end > self.data.len() {
            return Err(Malformed("an array past the end of the message"));
        }
        Ok(end)
    }

    /// Reads an array whose elements align to `align`, calling `element` for each.
    pub fn array(
        &mut self,
        align: usize,
        mut element: impl FnMut(&mut Self) -> Result<()>,
    ) -> Result<()> {
        let end = self.array_end(align)?;
        while self.pos < end {
            let before = self.pos;
            element(self)?;
            if self.pos == before {
                return Err(Malformed("an array of empty elements"));
            }
        }
        if self.pos != end {
            return Err(Malformed(
                "an array whose length does not match its elements",
            ));
        }
        Ok(())
    }

    /// `a{ss}`, as an item's `Attributes` property holds.
    pub fn string_dict(&mut self) -> Result<Vec<(String, String)>> {
        let mut entries = Vec::new();
        self.array(8, |r| {
            r.open_struct()?;
            entries.push((r.string()?, r.string()?));
            Ok(())
        })?;
        Ok(entries)
    }

    /// `ao`
    pub fn object_paths(&mut self) -> Result<Vec<String>> {
        let mut paths = Vec::new();
        self.array(4, |r| {
            paths.push(r.object_path()?);
            Ok(())
        })?;
        Ok(paths)
    }

    /// A variant: its signature, with the reader left at its value.
    pub fn variant(&mut self) -> Result<String> {
        let signature = self.signature()?;
        if single_type_end(signature.as_bytes(), 0, 0)? != signature.len() {
            return Err(Malformed("a variant that does not hold exactly one value"));
        }
        Ok(signature)
    }

    /// Skips one value of the single complete type `signature`.
    pub fn skip_value(&mut self, signature: &str) -> Result<()> {
        let end = single_type_end(signature.as_bytes(), 0, 0)?;
        if end != signature.len() {
            return Err(Malformed("a signature with more than one type"));
        }
        self.skip(&signature.as_bytes()[..end])
    }

    fn skip(&mut self, ty: &[u8]) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Malformed("values nested too deeply"));
        }
        let result = self.skip_inner(ty);
        self.depth -= 1;
        result
    }

    fn skip_inner(&mut self, ty: &[u8]) -> Result<()> {
        let fixed = |reader: &mut Self, size: usize| {
            reader.align(size)?;
            reader.take(size).map(|_| ())
        };
        match ty.first().copied() {
            Some(b'y') => fixed(self, 1),
            Some(b'n' | b'q') => fixed(self, 2),
            Some(b'b' | b'i' | b'u' | b'h') => fixed(self, 4),
            Some(b'x' | b't' | b'd') => fixed(self, 8),
            Some(b's' | b'o') => self.string().map(|_| ()),
            Some(b'g') => self.signature().map(|_| ()),
            Some(b'v') => {
                let inner = self.variant()?;
                self.skip(inner.as_bytes())
            }
            Some(b'a') => {
                let element = &ty[1..];
                self.array(alignment(element), |r| r.skip(element))
            }
            Some(b'(' | b'{') => {
                self.align(8)?;
                let mut at = 1;
                while at < ty.len() - 1 {
                    let next = single_type_end(ty, at, 0)?;
                    self.skip(&ty[at..next])?;
                    at = next;
                }
                Ok(())
            }
            _ => Err(Malformed("a value of an unknown type")),
        }
    }
}

/// The alignment of values of the complete type starting `ty`.
fn alignment(ty: &[u8]) -> usize {
    match ty.first() {
        Some(b'y' | b'g' | b'v') => 1,
        Some(b'n' | b'q') => 2,
        Some(b'x' | b't' | b'd' | b'(' | b'{') => 8,
        _ => 4,
    }
}

/// Where the single complete type that starts at `start` in `sig` ends.
fn single_type_end(sig: &[u8], start: usize, depth: u32) -> Result<usize> {
    if depth > MAX_DEPTH {
        return Err(Malformed("a signature nested too deeply"));
    }
    match sig.get(start).copied() {
        Some(b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b'h' | b's' | b'o')
        | Some(b'g' | b'v') => Ok(start + 1),
        Some(b'a') => single_type_end(sig, start + 1, depth + 1),
        Some(b'(') => {
            let mut at = start + 1;
            if sig.get(at) == Some(&b')') {
                return Err(Malformed("an empty struct"));
            }
            while sig.get(at) != Some(&b')') {
                at = single_type_end(sig, at, depth + 1)?;
            }
            Ok(at + 1)
        }
        Some(b'{') => {
            // A dict entry is valid only as an array's element type.
            if start == 0 || sig[start - 1] != b'a' {
                return Err(Malformed("a dict entry outside an array"));
            }
            match sig.get(start + 1) {
                Some(b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b'h')
                | Some(b's' | b'o' | b'g') => {}
                _ => return Err(Malformed("a dict entry whose key is not a basic type")),
            }
            let value_end = single_type_end(sig, start + 2, depth + 1)?;
            if sig.get(value_end) != Some(&b'}') {
                return Err(Malformed("a dict entry that is not a key and one value"));
            }
            Ok(value_end + 1)
        }
        _ => Err(Malformed("an invalid signature")),
    }
}

/// D-Bus object paths: `/`, or `/`-separated non-empty elements of `[A-Za-z0-9_]`.
pub(super) fn is_object_path(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && path[1..].split('/').all(|e| {
                !e.is_empty() && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_dict_is_marshalled_with_alignment() {
        let mut body = Body::default();
        body.string_dict(&[("a", "b")]);
        // length 4, pad to 8, entry: "a" (4+1+1), pad to 4, "b" (4+1+1)
        assert_eq!(
            body.bytes[..],
            [
                14, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, b'a', 0, 0, 0, 1, 0, 0, 0, b'b', 0
            ]
        );
    }

    #[test]
    fn string_dicts_read_back_what_was_written() {
        let mut body = Body::default();
        body.string_dict(&[("service", "docker-credential-pat"), ("username", "abc")]);
        let mut r = Reader::new(&body.bytes, false);
        assert_eq!(
            r.string_dict().unwrap(),
            [
                ("service".to_owned(), "docker-credential-pat".to_owned()),
                ("username".to_owned(), "abc".to_owned())
            ]
        );
        assert!(r.at_end());
    }

    #[test]
    fn written_values_are_skipped_exactly() {
        let mut body = Body::default();
        body.byte(7);
        body.string_dict(&[("k", "v")]);
        body.open_struct();
        body.object_path("/a/b");
        body.byte_array(b"iv");
        body.byte_array(b"value");
        body.string("text/plain");
        body.bool(true);
        body.variant_byte_array(&[1, 2, 3]);
        let mut r = Reader::new(&body.bytes, false);
        for ty in ["y", "a{ss}", "(oayays)", "b", "v"] {
            r.skip_value(ty).unwrap();
        }
        assert!(r.at_end());
    }

    #[test]
    fn big_endian_values_are_read() {
        let data = [0, 0, 0, 3, b'a', b'b', b'c', 0];
        assert_eq!(Reader::new(&data, true).string().unwrap(), "abc");
        let mut fixed = [0u8; 16];
        fixed[..4].copy_from_slice(&[b'B', METHOD_RETURN, 0, 1]);
        fixed[4..8].copy_from_slice(&8u32.to_be_bytes());
        fixed[12..16].copy_from_slice(&0u32.to_be_bytes());
        let preamble = Preamble::parse(&fixed).unwrap();
        assert!(preamble.big_endian);
        assert_eq!(preamble.rest_len, 8);
    }

    #[test]
    fn signatures_are_checked() {
        for good in ["y", "a{sv}", "(oayays)", "aa{s(ii)}", "v"] {
            assert_eq!(
                single_type_end(good.as_bytes(), 0, 0),
                Ok(good.len()),
                "{good}"
            );
        }
        for bad in ["", "()", "{ss}", "a{vs}", "a{s}", "a{sss}", "(s", "a", "z"] {
            let end = single_type_end(bad.as_bytes(), 0, 0);
            assert!(end.is_err() || end != Ok(bad.len()), "{bad}");
        }
        let deep = format!("{}y", "a".repeat(100));
        assert!(single_type_end(deep.as_bytes(), 0, 0).is_err());
    }

    #[test]
    fn only_well_formed_object_paths_are_accepted() {
        assert!(is_object_path(
            "/org/freedesktop/secrets/collection/login/12"
        ));
        assert!(is_object_path("/"));
        for bad in ["", "org", "/a//b", "/a/", "/a-b", "/a/b\0", "/ä"] {
            assert!(!is_object_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn hostile_bodies_never_panic() {
        let samples: [&[u8]; 6] = [
            &[],
            &[0xff; 3],
            &[0xff, 0xff, 0xff, 0xff, 1],
            &[200, 0, 0, 0],
            &[4, 0, 0, 0, 1, 2],
            &[1, b'v', 0, 1, b'v', 0, 1, b'v', 0],
        ];
        for data in samples {
            for ty in ["ao", "v", "a{ss}", "(oayays)", "aay", "av"] {
                let _ = Reader::new(data, false).skip_value(ty);
            }
            let _ = Reader::new(data, false).object_paths();
            let _ = Reader::new(data, false).string_dict();
        }
        let nested = [1u8, b'v', 0].repeat(200);
        assert!(Reader::new(&nested, false).skip_value("v").is_err());
    }
}
