//! A yardstick for `duplex-bench`: an echo server built on tungstenite
//! 0.27 with the same model as duplex (a thread per connection, blocking
//! sockets, `TCP_NODELAY`, 16 MiB message limit). It prints
//! `listening on ws://ADDR` and serves until killed. Each message is
//! echoed with `send` (write and flush), as the tungstenite examples do.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;

use tungstenite::protocol::WebSocketConfig;
use tungstenite::{accept_with_config, Message};

fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on ws://{}", listener.local_addr()?)?;
    stdout.flush()?;
    drop(stdout);
    for stream in listener.incoming().flatten() {
        let _ = thread::Builder::new().stack_size(128 * 1024).spawn(move || echo(stream));
    }
    Ok(())
}

fn echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20));
    let Ok(mut socket) = accept_with_config(stream, Some(config)) else { return };
    loop {
        match socket.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if socket.send(message).is_err() {
                    return;
                }
            }
            Ok(_) => {} // pings are answered by tungstenite itself
            Err(_) => return,
        }
    }
}
