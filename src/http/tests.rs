//! The client against small servers of the tests' own on loopback.
use super::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Instant;

/// A one-connection server that answers with `reply` and returns the request it saw.
pub(crate) fn serve_once(reply: &'static [u8]) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = n.trim().parse().unwrap();
            }
            request.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        request.push_str(&String::from_utf8(body).unwrap());
        (&stream).write_all(reply).unwrap();
        request
    });
    (url, handle)
}

fn client() -> HttpClient {
    HttpClient::new(&Trust::default()).unwrap()
}

#[test]
fn every_status_comes_back_with_headers_and_body() {
    let (url, server) = serve_once(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\nX-Thing: 7\r\n\r\n{\"errors\":[]}",
    );
    let target = format!("{url}/v1/secret/data/x");
    let response = client()
        .send(
            Request::new(Method::Post, &target, Duration::from_secs(5))
                .header("x-vault-token", "s.abc")
                .json(b"{\"a\":1}"),
        )
        .unwrap();
    assert_eq!(response.status, 404);
    assert!(!response.is_success());
    assert_eq!(response.header("x-thing"), Some("7"));
    assert_eq!(&response.body[..], b"{\"errors\":[]}");
    let seen = server.join().unwrap();
    assert!(
        seen.starts_with("POST /v1/secret/data/x HTTP/1.1\r\n"),
        "{seen}"
    );
    assert!(seen.contains("x-vault-token: s.abc\r\n"), "{seen}");
    assert!(seen.ends_with("{\"a\":1}"), "{seen}");
}

#[test]
fn list_is_sent_as_its_own_method() {
    let (url, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    let target = format!("{url}/v1/secret/metadata/");
    let response = client()
        .send(Request::new(Method::List, &target, Duration::from_secs(5)))
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(
        server
            .join()
            .unwrap()
            .starts_with("LIST /v1/secret/metadata/ ")
    );
}

#[test]
fn redirects_are_not_followed() {
    let (url, server) = serve_once(
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://192.0.2.1/\r\nContent-Length: 0\r\n\r\n",
    );
    let response = client()
        .send(Request::new(Method::Get, &url, Duration::from_secs(5)))
        .unwrap();
    assert_eq!(response.status, 307);
    server.join().unwrap();
}

#[test]
fn a_server_that_never_answers_times_out_on_time() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let started = Instant::now();
    let error = client()
        .send(Request::new(Method::Get, &url, Duration::from_millis(500)))
        .err()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(error, HttpError::TimedOut { .. }), "{error}");
    assert!(error.is_unreachable());
    drop(listener);
}

#[test]
fn a_closed_port_is_a_connect_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let error = client()
        .send(Request::new(Method::Get, &url, Duration::from_secs(2)))
        .err()
        .unwrap();
    assert!(matches!(error, HttpError::Connect { .. }), "{error}");
    assert!(error.to_string().contains(&url));
}

#[test]
fn plain_http_goes_only_to_loopback() {
    for url in [
        "http://127.0.0.1:8200/v1/x",
        "http://127.1.2.3/",
        "http://[::1]:80/",
        "http://localhost:5000",
        "https://bao.example:8200/v1/x",
        "https://10.0.0.1/",
    ] {
        assert!(check_cleartext(url).is_ok(), "{url}");
    }
    for url in [
        "http://bao.example:8200/v1/x",
        "http://10.0.0.1/",
        "http://[fd00::1]:8200/",
        "http://localhost.evil.example/",
        "http://127.0.0.1@evil.example/",
        "http://0.0.0.0:8200/",
    ] {
        assert!(check_cleartext(url).is_err(), "{url}");
    }
    // And at the last moment, whatever a caller checked before.
    let error = client()
        .send(Request::new(
            Method::Get,
            "http://192.0.2.1:8200/v1/x",
            Duration::from_secs(1),
        ))
        .err()
        .unwrap();
    assert!(matches!(error, HttpError::Cleartext { .. }), "{error}");
}

#[test]
fn the_hub_url_setting_follows_the_same_rule() {
    assert!(crate::config::check_hub_url("http://127.0.0.1:8080/").is_ok());
    assert!(crate::config::check_hub_url("https://hub.docker.com").is_ok());
    let message = crate::config::check_hub_url("http://hub.example").unwrap_err();
    assert!(message.contains("loopback"), "{message}");
}

#[test]
fn durations_are_shown_as_configured() {
    assert_eq!(shown_duration(Duration::from_secs(5)), "5 s");
    assert_eq!(shown_duration(Duration::from_millis(4999)), "5.0 s");
    assert_eq!(shown_duration(Duration::from_millis(1500)), "1.5 s");
    assert_eq!(shown_duration(Duration::from_millis(250)), "250 ms");
    let error = HttpError::TimedOut {
        url: "https://hub.docker.com/v2/x".into(),
        after: Duration::from_secs(5),
    };
    assert_eq!(
        error.to_string(),
        "https://hub.docker.com/v2/x did not answer within 5 s"
    );
}

#[test]
fn a_connection_cut_after_the_request_is_not_taken_for_nothing_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/x", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        // Closed with unread bytes pending is a reset; a plain close is an end of file.
        drop(stream);
    });
    let error = client()
        .send(Request::new(Method::Post, &url, Duration::from_secs(5)).json(b"{}"))
        .err()
        .unwrap();
    server.join().unwrap();
    assert!(error.is_unreachable(), "{error}");
    assert!(!error.nothing_sent(), "{error:?}");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = client()
        .send(Request::new(
            Method::Post,
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_secs(2),
        ))
        .err()
        .unwrap();
    assert!(error.nothing_sent(), "{error:?}");
}

#[test]
fn a_timeout_after_sending_may_have_reached_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let error = client()
        .send(Request::new(Method::Post, &url, Duration::from_millis(300)))
        .err()
        .unwrap();
    assert!(matches!(error, HttpError::TimedOut { .. }), "{error:?}");
    assert!(!error.nothing_sent());
    assert!(error.to_string().ends_with("within 300 ms"), "{error}");
    drop(listener);
}

#[test]
fn bad_urls_and_ca_files_are_clear_errors() {
    let error = client()
        .send(Request::new(
            Method::Get,
            "ftp://x/",
            Duration::from_secs(1),
        ))
        .err()
        .unwrap();
    assert!(matches!(error, HttpError::BadUrl { .. }));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let error = HttpClient::new(&Trust {
        ca_file: Some(ca.clone()),
    })
    .err()
    .unwrap();
    assert!(error.to_string().contains("no PEM certificate"), "{error}");
    let error = HttpClient::new(&Trust {
        ca_file: Some(dir.path().join("missing.pem")),
    })
    .err()
    .unwrap();
    assert!(matches!(error, HttpError::CaFile { .. }));
}
