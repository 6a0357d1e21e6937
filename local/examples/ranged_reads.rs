//! How fast the S3 adapter reads one large object from an endpoint whose every connection is
//! limited in bandwidth (as one GetObject stream is in Lambda): as one stream, and as ranged GETs
//! on several connections. moto serves the object; a proxy in front of it limits each connection.
//!
//! `cargo run --release -p etl-local --example ranged_reads -- [OBJECT_MB] [MB_PER_S]`
//! (`moto_server` on PATH; `make bench` runs it).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use etl_aws::s3::{S3Objects, RANGES_IN_FLIGHT, RANGE_BYTES};
use etl_core::ports::ObjectStore;
use etl_local::aws::Clients;
use etl_local::process::{free_port, require_tool, Service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let object_mb: u64 = args.first().map_or(Ok(256), |a| a.parse())?;
    let limit_mb: f64 = args.get(1).map_or(Ok(40.0), |a| a.parse())?;

    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let mut command = std::process::Command::new(require_tool("moto_server")?);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let mut moto = Service::spawn("moto_server", command, &dir.path().join("moto.log"))?;
    moto.wait_for_port(port, Duration::from_secs(60)).await?;
    let proxy = throttling_proxy(port, limit_mb * 1e6).await?;

    let clients = Clients::new(&format!("http://{proxy}")).await;
    let (bucket, key) = ("bench", "big.ndjson");
    clients.s3.create_bucket().bucket(bucket).send().await?;
    let body: Vec<u8> = (0..object_mb << 20)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    (clients.s3.put_object())
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .context("uploading the object")?;

    println!(
        "S3 reads of a {object_mb} MiB object through connections limited to {limit_mb} MB/s each (moto behind a throttling proxy)"
    );
    println!("{:<34} {:>8} {:>8}", "how", "wall s", "MB/s");
    for (how, ranged_from) in [
        ("one GetObject stream".to_string(), u64::MAX),
        (
            format!(
                "{RANGES_IN_FLIGHT} ranged GETs of {} MiB at once",
                RANGE_BYTES >> 20
            ),
            0,
        ),
    ] {
        let objects = S3Objects::new(clients.s3.clone()).ranged_from(ranged_from);
        let started = Instant::now();
        let reader = objects.open(bucket, key, None).await?;
        let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            std::io::copy(&mut { reader }, &mut std::io::sink())
        })
        .await??;
        let seconds = started.elapsed().as_secs_f64();
        anyhow::ensure!(bytes == object_mb << 20, "{how}: {bytes} bytes read");
        println!(
            "{how:<34} {seconds:>8.2} {:>8.0}",
            bytes as f64 / seconds / 1e6
        );
    }
    moto.stop();
    Ok(())
}

/// A TCP proxy to moto at `port` that sends each connection's responses at most
/// `bytes_per_second`.
async fn throttling_proxy(port: u16, bytes_per_second: f64) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", port)).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let started = Instant::now();
                let mut sent = 0f64;
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = server_read.read(&mut buf).await {
                    if n == 0 || client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    sent += n as f64;
                    let due = Duration::from_secs_f64(sent / bytes_per_second);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                upstream.abort();
            });
        }
    });
    Ok(addr)
}
