#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]
//! Helpers shared by the order-check integration tests.

/// A proxy in front of `upstream` that passes each request through (one per connection),
/// except that for a request whose request line contains `cut` it delivers the request to
/// the store, reads the store's answer, and closes the client's connection without passing
/// it on: the store did the work, the client never hears back.
pub async fn cutting_proxy(upstream: &str, cut: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = conn.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = conn.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        // One request per upstream connection: ask the store to close after answering.
        let mut request = buf[..head_end - 2].to_vec();
        request.extend_from_slice(b"connection: close\r\n\r\n");
        request.extend_from_slice(&buf[head_end..]);
        Some(request)
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Some(request) = read_request(&mut client).await else {
                    return;
                };
                let line = String::from_utf8_lossy(&request[..request.len().min(512)])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let mut store = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                store.write_all(&request).await.unwrap();
                let mut answer = Vec::new();
                store.read_to_end(&mut answer).await.unwrap();
                if line.contains(cut) {
                    return; // dropping `client` closes the connection unanswered
                }
                let _ = client.write_all(&answer).await;
                let _ = client.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}
