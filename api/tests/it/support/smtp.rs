//! SMTP servers with faults, speaking real SMTP on 127.0.0.1 so lettre sees exactly what a
//! real server would say. Healthy connections are relayed byte for byte to maildev.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

use super::servers::servers;

pub struct FaultySmtp {
    pub port: u16,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

#[derive(Clone, Copy)]
pub enum Fault {
    /// The first `n` connections get `421 Service not available` (a temporary refusal).
    RefuseFirst(usize),
    /// Every recipient is refused with `550 5.1.1` (permanent).
    RejectRecipients,
    /// Every connection is held this long before it reaches maildev.
    Delay(Duration),
}

pub async fn start(fault: Fault) -> FaultySmtp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let _ = handle(socket, fault, n).await;
            });
        }
    });
    FaultySmtp { port, connections }
}

async fn handle(mut socket: TcpStream, fault: Fault, n: usize) -> std::io::Result<()> {
    match fault {
        Fault::RefuseFirst(refused) if n < refused => {
            socket
                .write_all(b"421 4.3.2 Service not available, try again later\r\n")
                .await?;
            socket.shutdown().await
        }
        Fault::RejectRecipients => reject_recipients(socket).await,
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            relay(socket).await
        }
        Fault::RefuseFirst(_) => relay(socket).await,
    }
}

async fn relay(mut socket: TcpStream) -> std::io::Result<()> {
    let mut upstream = TcpStream::connect(("127.0.0.1", servers().smtp_port)).await?;
    tokio::io::copy_bidirectional(&mut socket, &mut upstream).await?;
    Ok(())
}

/// A minimal SMTP dialogue that accepts the sender and refuses every recipient.
async fn reject_recipients(socket: TcpStream) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 reject.test ESMTP\r\n").await?;
    while let Some(line) = lines.next_line().await? {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 reject.test\r\n",
            "MAIL" | "RSET" | "NOOP" => b"250 2.1.0 OK\r\n",
            "RCPT" => b"550 5.1.1 The email account that you tried to reach does not exist\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"503 5.5.1 Bad sequence of commands\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}
