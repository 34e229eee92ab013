//! Chapter 3, the upgrade handshake (`docs/03-handshake.md`).

use std::io::Write;

use duplex::websocket::{Incoming, Message, MessageReader, Opcode, Role};

use crate::common::{client_frame, TestServer};
use crate::wire::{server_with, upgrade, upgrade_with_host};

#[test]
#[ignore = "exercise: ch03 ex2"]
fn ch03_ex2_echo_speaks_echo_v1_and_chat_does_not() {
    let server = TestServer::start(&[]);

    let offers = [
        "Sec-WebSocket-Protocol: chat, echo.v1\r\n",
        "Sec-WebSocket-Protocol: echo.v1\r\n",
        // One list may be split over several header lines (RFC 9110 §5.3).
        "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: echo.v1\r\n",
    ];
    for offer in offers {
        let response = upgrade(&server, "/echo", offer);
        assert_eq!(response.status, 101, "{offer:?}: {response:?}");
        assert_eq!(response.header("Sec-WebSocket-Protocol"), Some("echo.v1"), "{offer:?}");
    }

    // The echo still echoes once the subprotocol is chosen.
    let (response, mut reader) = upgrade_with_host(
        &server,
        "/echo",
        &server.addr.to_string(),
        "Sec-WebSocket-Protocol: echo.v1\r\n",
    );
    assert_eq!(response.status, 101);
    reader.get_ref().write_all(&client_frame(true, Opcode::Text, b"still here")).unwrap();
    let mut messages = MessageReader::new(Role::Client, 1 << 20);
    let echoed = messages.read(&mut reader).expect("the echo");
    assert_eq!(echoed, Incoming::Message(Message::Text("still here".into())));

    // Offers of anything else get no subprotocol, and the upgrade goes on.
    for offer in
        ["", "Sec-WebSocket-Protocol: chat, echo.v2\r\n", "Sec-WebSocket-Protocol: ECHO.V1\r\n"]
    {
        let response = upgrade(&server, "/echo", offer);
        assert_eq!(response.status, 101, "{offer:?}");
        assert_eq!(response.header("Sec-WebSocket-Protocol"), None, "{offer:?}");
    }

    // `/chat` speaks no subprotocol (docs/protocol.md): it must not pick
    // up `echo.v1` from `/echo`.
    let response = upgrade(&server, "/chat", "Sec-WebSocket-Protocol: echo.v1\r\n");
    assert_eq!(response.status, 101, "{response:?}");
    assert_eq!(response.header("Sec-WebSocket-Protocol"), None, "/chat chose a subprotocol");
}

#[test]
#[ignore = "exercise: ch03 ex3"]
fn ch03_ex3_upgrades_only_for_the_hosts_named() {
    let server = server_with(&["--host", "example.test", "--host=other.test"]);
    let port = server.addr.port();
    let welcome = [
        "example.test".to_string(),
        format!("example.test:{port}"),
        "EXAMPLE.test".to_string(),
        "other.test:8080".to_string(),
    ];
    for host in &welcome {
        for path in ["/echo", "/chat"] {
            let (response, _) = upgrade_with_host(&server, path, host, "");
            assert_eq!(response.status, 101, "Host: {host} on {path}: {response:?}");
        }
    }
    // The rebinding page: its Origin and Host agree, and name neither.
    let rebound = format!("Origin: http://evil.example:{port}\r\n");
    let strangers = [
        (format!("evil.example:{port}"), rebound.as_str()),
        (format!("evil.example:{port}"), ""),
        // Not listed, so not allowed once the flag is given.
        (format!("127.0.0.1:{port}"), ""),
        ("example.test.evil.example".to_string(), ""),
        ("xexample.test".to_string(), ""),
    ];
    for (host, extra) in &strangers {
        for path in ["/echo", "/chat"] {
            let (response, _) = upgrade_with_host(&server, path, host, extra);
            assert_eq!(response.status, 403, "Host: {host} on {path}: {response:?}");
        }
    }

    // Off by default: any Host may upgrade, as today.
    let open = TestServer::start(&[]);
    for host in [open.addr.to_string(), "anything.example".to_string()] {
        let (response, _) = upgrade_with_host(&open, "/echo", &host, "");
        assert_eq!(response.status, 101, "Host: {host} without --host: {response:?}");
    }
}
