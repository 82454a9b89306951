//! Reading response bodies with a ceiling: an endpoint a tenant can point us at must not be
//! able to make us buffer an unbounded answer. The declared `Content-Length` is refused up
//! front when too large, and a chunked or undeclared body is read chunk by chunk and dropped
//! as soon as it passes the limit.

use bytes::{Bytes, BytesMut};

/// The largest response body the senders read: platform answers are a few hundred bytes.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// It is longer than the limit.
    #[error("the response body exceeds {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The connection failed while reading it.
    #[error("the response body could not be read: {0}")]
    Transport(reqwest::Error),
}

/// The whole body of `response`, if it is at most `limit` bytes long.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let too_large = BodyError::TooLarge { limit };
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one response: `head`, then `chunks` chunks of `chunk` bytes (chunked encoding);
    /// counts the bytes of body it managed to write.
    async fn serve(head: &'static str, chunks: usize, chunk: usize) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let payload = vec![b'x'; chunk];
            for _ in 0..chunks {
                let frame = [format!("{chunk:x}\r\n").as_bytes(), &payload, b"\r\n"].concat();
                if socket.write_all(&frame).await.is_err() {
                    return;
                }
                counter.fetch_add(chunk, Ordering::SeqCst);
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        });
        (url, written)
    }

    const CHUNKED: &str =
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let (url, _) = serve(CHUNKED, 4, 1000).await;
        let response = client().get(url).send().await.unwrap();
        let body = read_capped(response, 4000).await.unwrap();
        assert_eq!(body.len(), 4000);
    }

    #[tokio::test]
    async fn a_chunked_body_over_the_limit_is_dropped_early() {
        // 64 MiB on offer, a 64 KiB limit: reading stops long before the server is done.
        let (url, written) = serve(CHUNKED, 1024, 64 * 1024).await;
        let response = client().get(url).send().await.unwrap();
        let error = read_capped(response, 64 * 1024).await.unwrap_err();
        assert!(
            matches!(error, BodyError::TooLarge { limit: 65536 }),
            "{error}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let sent = written.load(Ordering::SeqCst);
        assert!(sent < 16 * 1024 * 1024, "the server wrote {sent} bytes");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 999999999\r\nconnection: close\r\n\r\n";
        let (url, _) = serve(head, 0, 0).await;
        let response = client().get(url).send().await.unwrap();
        let error = read_capped(response, MAX_RESPONSE_BYTES).await.unwrap_err();
        assert!(
            error.to_string().contains("exceeds 1048576 bytes"),
            "{error}"
        );
    }
}
