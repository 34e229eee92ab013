//! # Writing a response
//!
//! A response is a status line, header lines, an empty line, and a body
//! (RFC 9112 §4, §6). Writing one is simpler than reading a request,
//! because we trust our own bytes, but three details are easy to miss:
//!
//! - **Framing.** On a keep-alive connection the client learns where the
//!   body ends only from `Content-Length` (RFC 9112 §6.3). Get it wrong and
//!   the next response is read as part of this one. Some statuses (1xx, 204,
//!   304) never have a body at all (RFC 9110 §6.4.1).
//! - **`HEAD`** gets the same headers as `GET`, including the length the
//!   body *would* have, but no body (RFC 9110 §9.3.2).
//! - **Dates** use one fixed format, IMF-fixdate (RFC 9110 §5.6.7), and std
//!   has no calendar, so we convert UNIX seconds to a date ourselves.
//!
//! Read next: `percent.rs`, then `static_files.rs`, which builds most of
//! these responses.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// An HTTP status (RFC 9110 §15): the code, and the reason phrase that
/// goes with it on the status line. Clients ignore the phrase (RFC 9112
/// §4); it is for people reading traffic. Each status this server sends is
/// named once, below, with both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(u16, &'static str);

impl Status {
    pub const SWITCHING_PROTOCOLS: Status = Status(101, "Switching Protocols");
    pub const OK: Status = Status(200, "OK");
    pub const NO_CONTENT: Status = Status(204, "No Content");
    pub const NOT_MODIFIED: Status = Status(304, "Not Modified");
    pub const BAD_REQUEST: Status = Status(400, "Bad Request");
    pub const FORBIDDEN: Status = Status(403, "Forbidden");
    pub const NOT_FOUND: Status = Status(404, "Not Found");
    pub const METHOD_NOT_ALLOWED: Status = Status(405, "Method Not Allowed");
    pub const REQUEST_TIMEOUT: Status = Status(408, "Request Timeout");
    pub const CONFLICT: Status = Status(409, "Conflict");
    pub const LENGTH_REQUIRED: Status = Status(411, "Length Required");
    pub const CONTENT_TOO_LARGE: Status = Status(413, "Content Too Large");
    pub const URI_TOO_LONG: Status = Status(414, "URI Too Long");
    pub const EXPECTATION_FAILED: Status = Status(417, "Expectation Failed");
    pub const UPGRADE_REQUIRED: Status = Status(426, "Upgrade Required");
    pub const HEADER_FIELDS_TOO_LARGE: Status = Status(431, "Request Header Fields Too Large");
    pub const NOT_IMPLEMENTED: Status = Status(501, "Not Implemented");
    pub const SERVICE_UNAVAILABLE: Status = Status(503, "Service Unavailable");
    pub const HTTP_VERSION_NOT_SUPPORTED: Status = Status(505, "HTTP Version Not Supported");

    pub fn code(self) -> u16 {
        self.0
    }

    pub fn reason(self) -> &'static str {
        self.1
    }

    /// 1xx, 204 and 304 responses end at the empty line, whatever headers
    /// they carry (RFC 9110 §6.4.1), so they get no body and no length.
    fn forbids_body(self) -> bool {
        self.0 < 200 || self.0 == 204 || self.0 == 304
    }
}

/// What follows the head.
#[derive(Debug)]
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// An open file and how many bytes of it to send. The length is taken
    /// when the file is opened, so `Content-Length` and the bytes agree
    /// even if the file grows meanwhile.
    File {
        file: std::fs::File,
        len: u64,
    },
}

#[derive(Debug)]
pub struct Response {
    pub status: Status,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: Status) -> Response {
        Response { status, headers: Vec::new(), body: Body::Empty }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(self, content_type: &str, bytes: Vec<u8>) -> Response {
        let mut response = self.header("Content-Type", content_type);
        response.body = Body::Bytes(bytes);
        response
    }

    /// A short plain-text error page: `404 Not Found: no such file`.
    pub fn error(status: Status, detail: &str) -> Response {
        let mut text = format!("{} {}", status.code(), status.reason());
        if !detail.is_empty() {
            text = format!("{text}: {detail}");
        }
        text.push('\n');
        Response::new(status).body("text/plain; charset=utf-8", text.into_bytes())
    }

    /// Sends the response. `head_only` is for `HEAD` requests; `close` adds
    /// `Connection: close`, after which the caller must close the socket.
    /// `Date`, `Server`, `Content-Length` and `Connection` are added here,
    /// so callers must not set them: two disagreeing lengths would be the
    /// very ambiguity `request.rs` refuses to accept from others.
    ///
    /// The head, and a small in-memory body, go out in a single `write`.
    /// Two small writes in a row meet Nagle's algorithm and the peer's
    /// delayed ACK, and the second one can sit in the kernel for 40 ms.
    pub fn write_to<W: Write>(self, out: &mut W, head_only: bool, close: bool) -> io::Result<()> {
        let mut head = self.head(close)?;
        let send_body = !head_only && !self.status.forbids_body();
        match self.body {
            Body::Bytes(bytes) if send_body => {
                head.extend_from_slice(&bytes);
                out.write_all(&head)?;
            }
            Body::File { file, len } if send_body => {
                out.write_all(&head)?;
                copy_file(file, len, out)?;
            }
            _ => out.write_all(&head)?,
        }
        out.flush()
    }

    /// Status line and header lines, ending with the empty line.
    fn head(&self, close: bool) -> io::Result<Vec<u8>> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status.code(), self.status.reason());
        let mut add = |name: &str, value: &str| -> io::Result<()> {
            // A CR or LF in a header would end it early and let whoever
            // chose the value write headers of their own ("response
            // splitting"). Values built from request data must never do it.
            if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "CR or LF in header"));
            }
            // Writing to a String cannot fail.
            let _ = write!(head, "{name}: {value}\r\n");
            Ok(())
        };
        add("Date", &http_date(SystemTime::now()))?;
        add("Server", "duplex")?;
        for (name, value) in &self.headers {
            add(name, value)?;
        }
        if !self.status.forbids_body() {
            let length = match &self.body {
                Body::Empty => 0,
                Body::Bytes(bytes) => bytes.len() as u64,
                Body::File { len, .. } => *len,
            };
            add("Content-Length", &length.to_string())?;
        }
        if close {
            add("Connection", "close")?;
        }
        head.push_str("\r\n");
        Ok(head.into_bytes())
    }
}

/// Streams `len` bytes of a file through a small buffer (inside
/// `io::copy`), never holding the whole file in memory.
fn copy_file<W: Write>(file: std::fs::File, len: u64, out: &mut W) -> io::Result<()> {
    let sent = io::copy(&mut file.take(len), out)?;
    if sent < len {
        // The file shrank after we announced its length. The client is
        // still waiting for bytes that will never come; an error makes the
        // caller close the connection, which is the only honest ending.
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while sending"));
    }
    Ok(())
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SECONDS_PER_DAY: u64 = 86_400;

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7) for a moment in time.
/// Times before 1970 are clamped to 1970; files and clocks are not so old.
pub fn http_date(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    format_http_date(seconds)
}

/// IMF-fixdate for a count of seconds since 1970-01-01 00:00:00 UTC.
pub fn format_http_date(unix_seconds: u64) -> String {
    let days = unix_seconds / SECONDS_PER_DAY;
    let second_of_day = unix_seconds % SECONDS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        // Day 0 was a Thursday, hence the order of `WEEKDAYS`.
        WEEKDAYS[(days % 7) as usize],
        day,
        MONTHS[month as usize - 1],
        year,
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    )
}

/// Parses an IMF-fixdate back into UNIX seconds (for `If-Modified-Since`).
///
/// RFC 9110 §5.6.7 also lists two obsolete formats, which we do not parse.
/// That is safe here: an unparsable `If-Modified-Since` must be ignored
/// (§13.1.3), which costs one full response, and browsers send back the
/// exact string we gave them in `Last-Modified`.
pub fn parse_http_date(text: &str) -> Option<u64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT": fixed positions, so slice them out.
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = text.get(range)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let month = MONTHS.iter().position(|&name| Some(name) == text.get(8..11))? as u64 + 1;
    let (day, year) = (number(5..7)?, number(12..16)?);
    let (hours, minutes, seconds) = (number(17..19)?, number(20..22)?, number(23..25)?);
    let days = days_from_civil(year, month, day)?;
    let unix_seconds = days * SECONDS_PER_DAY + hours * 3600 + minutes * 60 + seconds;
    // Formatting the result again and comparing checks everything at once:
    // the weekday, the separators, and impossible dates like 31 Feb or 25:00.
    (format_http_date(unix_seconds) == text).then_some(unix_seconds)
}

/// Day number since 1970-01-01 → (year, month 1-12, day 1-31), in the
/// proleptic Gregorian calendar. This is Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html>): it counts in
/// 400-year "eras" of exactly 146 097 days, starting each year on 1 March
/// so that the leap day falls at the end of the year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0 = March .. 11 = February
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`]; `None` before 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let year = if month <= 2 { year.checked_sub(1)? } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day.checked_sub(1)?;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(response: Response, head_only: bool, close: bool) -> String {
        let mut out = Vec::new();
        response.write_to(&mut out, head_only, close).expect("write to a Vec");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn error_response_on_the_wire() {
        let text = written(Response::error(Status::NOT_FOUND, "no such file"), false, false);
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\nDate: "), "{text}");
        assert!(text.contains("\r\nServer: duplex\r\n"));
        assert!(text.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"));
        assert!(text.contains("\r\nContent-Length: 28\r\n"));
        assert!(!text.contains("Connection"));
        assert!(text.ends_with("\r\n\r\n404 Not Found: no such file\n"));
        assert_eq!(Response::error(Status::CONFLICT, "").body_text(), "409 Conflict\n");
    }

    #[test]
    fn head_keeps_the_length_but_not_the_body() {
        let response = Response::new(Status::OK).body("text/plain", b"hello".to_vec());
        let text = written(response, true, true);
        assert!(text.contains("\r\nContent-Length: 5\r\n"));
        assert!(text.ends_with("\r\nConnection: close\r\n\r\n"), "{text}");
    }

    #[test]
    fn bodiless_statuses_have_no_length() {
        for status in [Status::SWITCHING_PROTOCOLS, Status::NO_CONTENT, Status::NOT_MODIFIED] {
            let response = Response::new(status).body("text/plain", b"ignored".to_vec());
            let text = written(response, false, false);
            assert!(!text.contains("Content-Length"), "{text}");
            assert!(text.ends_with("\r\n\r\n"));
        }
        let text = written(Response::new(Status::OK), false, false);
        assert!(text.contains("\r\nContent-Length: 0\r\n"));
    }

    #[test]
    fn header_injection_is_refused_before_writing() {
        let response = Response::new(Status::OK).header("X-Name", "a\r\nSet-Cookie: evil=1");
        let mut out = Vec::new();
        let error = response.write_to(&mut out, false, false).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(out.is_empty());
    }

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format_http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(format_http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(format_http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(format_http_date(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn parses_what_it_formats_and_nothing_else() {
        // Every ~3.7 days for 200 years, at varied times of day.
        for seconds in (0..6_311_433_600u64).step_by(318_611) {
            assert_eq!(parse_http_date(&format_http_date(seconds)), Some(seconds));
        }
        for bad in [
            "Mon, 06 Nov 1994 08:49:37 GMT", // wrong weekday
            "Tue, 31 Feb 1994 08:49:37 GMT", // no such day
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT", // obsolete RFC 850 format
            "Sun Nov  6 08:49:37 1994",       // obsolete asctime format
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTé",
            "é",
            "",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    impl Response {
        fn body_text(&self) -> String {
            match &self.body {
                Body::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => String::new(),
            }
        }
    }
}
