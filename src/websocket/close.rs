//! # Close codes, and the error that carries one
//!
//! Every way a WebSocket connection can end has a number (RFC 6455 §7.4).
//! A close frame's payload is that number as two big-endian bytes, followed
//! by an optional UTF-8 reason (§5.5.1). This chapter holds the numbers,
//! the rules for which ones may appear on the wire, and [`ProtocolError`]:
//! the one error type the codec uses to say "this peer broke the rules, and
//! here is the code to close with".
//!
//! The trap: some codes exist only for *reporting* and must never be sent.
//! 1005 means "the close frame had no code", 1006 "the connection dropped
//! without a close frame", 1015 "TLS failed". A browser's `onclose` event
//! shows them in `event.code`, but a close frame carrying one of them is a
//! protocol error (§7.4.1).
//!
//! Read next: `src/websocket/utf8.rs`, checking text as it arrives.

use std::fmt;

/// A close status code (RFC 6455 §7.4.1, and the IANA registry it created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    Normal,
    /// 1001: the endpoint is going away (server shutdown, tab closed).
    GoingAway,
    /// 1002: the peer broke the protocol.
    ProtocolError,
    /// 1003: a data type the endpoint cannot accept (say, binary where only
    /// text makes sense).
    UnsupportedData,
    /// 1005: report-only. The close frame carried no code.
    NoStatusReceived,
    /// 1006: report-only. The connection ended without a close frame.
    Abnormal,
    /// 1007: a text message that is not valid UTF-8.
    InvalidPayload,
    /// 1008: the message breaks a policy of this endpoint (here: a chat
    /// member too slow to keep up).
    PolicyViolation,
    /// 1009: a message too big to process.
    MessageTooBig,
    /// 1010: (client only) an extension the server did not agree to.
    MandatoryExtension,
    /// 1011: the server hit an unexpected condition.
    InternalError,
    /// Any other number: registered later (1012–1014), or private
    /// (3000–4999).
    Other(u16),
}

impl CloseCode {
    /// The number on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::UnsupportedData => 1003,
            CloseCode::NoStatusReceived => 1005,
            CloseCode::Abnormal => 1006,
            CloseCode::InvalidPayload => 1007,
            CloseCode::PolicyViolation => 1008,
            CloseCode::MessageTooBig => 1009,
            CloseCode::MandatoryExtension => 1010,
            CloseCode::InternalError => 1011,
            CloseCode::Other(n) => n,
        }
    }

    /// The code for a number, whether or not it is allowed on the wire.
    pub fn from_u16(n: u16) -> CloseCode {
        match n {
            1000 => CloseCode::Normal,
            1001 => CloseCode::GoingAway,
            1002 => CloseCode::ProtocolError,
            1003 => CloseCode::UnsupportedData,
            1005 => CloseCode::NoStatusReceived,
            1006 => CloseCode::Abnormal,
            1007 => CloseCode::InvalidPayload,
            1008 => CloseCode::PolicyViolation,
            1009 => CloseCode::MessageTooBig,
            1010 => CloseCode::MandatoryExtension,
            1011 => CloseCode::InternalError,
            other => CloseCode::Other(other),
        }
    }

    /// May this code appear in a close frame? (RFC 6455 §7.4.1–§7.4.2.)
    ///
    /// - 0–999 are not used at all.
    /// - 1000–2999 belong to the protocol: only the registered ones count.
    ///   1004 is reserved; 1005, 1006 and 1015 are report-only. 1012
    ///   (service restart), 1013 (try again later) and 1014 (bad gateway)
    ///   were registered with IANA after the RFC.
    /// - 3000–3999 are for libraries and frameworks, 4000–4999 for
    ///   applications: both may be sent.
    /// - 5000 and up are not defined.
    pub fn is_allowed_on_wire(n: u16) -> bool {
        matches!(n, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u16())
    }
}

/// The payload of a close frame, decoded: a code and a reason, or neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: CloseCode,
    pub reason: String,
}

impl CloseFrame {
    /// Decodes a close frame's payload (RFC 6455 §5.5.1).
    ///
    /// `Ok(None)` is an empty payload: a close with no code, which the
    /// receiver reports as 1005. A payload of one byte cannot hold a code
    /// and is a protocol error; so is a code not allowed on the wire. The
    /// reason must be valid UTF-8, or the close fails with 1007.
    pub fn parse(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => {
                Err(ProtocolError::new(CloseCode::ProtocolError, "close frame payload of one byte"))
            }
            [high, low, reason @ ..] => {
                let number = u16::from_be_bytes([*high, *low]);
                if !CloseCode::is_allowed_on_wire(number) {
                    return Err(ProtocolError::new(
                        CloseCode::ProtocolError,
                        "close code not allowed on the wire",
                    ));
                }
                let reason = std::str::from_utf8(reason).map_err(|_| {
                    ProtocolError::new(CloseCode::InvalidPayload, "close reason is not UTF-8")
                })?;
                Ok(Some(CloseFrame {
                    code: CloseCode::from_u16(number),
                    reason: reason.to_string(),
                }))
            }
        }
    }

    /// Encodes the payload of a close frame: the code, then the reason cut
    /// to fit. Control frames carry at most 125 bytes (§5.5), so the reason
    /// gets 123 of them, cut on a character boundary.
    pub fn encode(code: CloseCode, reason: &str) -> Vec<u8> {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let mut payload = Vec::with_capacity(2 + end);
        payload.extend_from_slice(&code.as_u16().to_be_bytes());
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        payload
    }
}

/// The peer broke RFC 6455, or a limit of ours: the connection must be
/// failed (§7.1.7) with `code`, and `reason` is what we say and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: CloseCode,
    pub reason: &'static str,
}

impl ProtocolError {
    pub const fn new(code: CloseCode, reason: &'static str) -> ProtocolError {
        ProtocolError { code, reason }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close {})", self.reason, self.code)
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for n in [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 3000, 4999] {
            assert_eq!(CloseCode::from_u16(n).as_u16(), n);
        }
        assert_eq!(CloseCode::from_u16(1008), CloseCode::PolicyViolation);
    }

    #[test]
    fn report_only_and_reserved_codes_are_refused() {
        for n in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!CloseCode::is_allowed_on_wire(n), "{n}");
            let payload = n.to_be_bytes();
            let error = CloseFrame::parse(&payload).unwrap_err();
            assert_eq!(error.code, CloseCode::ProtocolError);
        }
        for n in [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 3999, 4000, 4999] {
            assert!(CloseCode::is_allowed_on_wire(n), "{n}");
        }
    }

    #[test]
    fn parse_payloads() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
        assert_eq!(CloseFrame::parse(&[0x03]).unwrap_err().code, CloseCode::ProtocolError);
        let frame = CloseFrame::parse(b"\x03\xe8bye").unwrap().unwrap();
        assert_eq!(frame.code, CloseCode::Normal);
        assert_eq!(frame.reason, "bye");
        let bad_reason = CloseFrame::parse(b"\x03\xe8\xff").unwrap_err();
        assert_eq!(bad_reason.code, CloseCode::InvalidPayload);
    }

    #[test]
    fn encode_cuts_reason_on_a_character_boundary() {
        let reason = "é".repeat(100); // 200 bytes
        let payload = CloseFrame::encode(CloseCode::GoingAway, &reason);
        assert!(payload.len() <= 125);
        assert_eq!(&payload[..2], &[0x03, 0xe9]);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }
}
