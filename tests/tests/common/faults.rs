//! A fault-injecting HTTP proxy for the tests: it stands between the AWS SDK and moto server and, on
//! a share of requests, answers with 500s, throttling, slow responses, dropped connections (before
//! or after the request reached the server) and bodies cut off half way.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// The faults the proxy injects, one counter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 InternalError (S3) / InternalServerError (DynamoDB), the request never reaching the server.
    ServerError,
    /// 503 SlowDown (S3) / 400 ThrottlingException (DynamoDB).
    Throttle,
    /// Forwarded after a delay of 50 to 400 ms.
    Slow,
    /// The connection closed before the request reached the server.
    DropBefore,
    /// The request reached the server, then the connection closed with no response.
    DropAfter,
    /// A response whose body stops half way (only on responses with a body worth cutting).
    Truncate,
}

pub const FAULTS: [Fault; 6] = [
    Fault::ServerError,
    Fault::Throttle,
    Fault::Slow,
    Fault::DropBefore,
    Fault::DropAfter,
    Fault::Truncate,
];

#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    /// Requests to DynamoDB (they carry `X-Amz-Target`).
    pub dynamodb_requests: AtomicU64,
    counts: [AtomicU64; 6],
}

impl Stats {
    pub fn count(&self, f: Fault) -> u64 {
        self.counts[f as usize].load(Ordering::Relaxed)
    }
    pub fn injected(&self) -> u64 {
        FAULTS.iter().map(|f| self.count(*f)).sum()
    }
    pub fn summary(&self) -> String {
        let parts: Vec<String> = FAULTS
            .iter()
            .map(|f| format!("{f:?}={}", self.count(*f)))
            .collect();
        format!(
            "{} requests, {} faults injected ({})",
            self.requests.load(Ordering::Relaxed),
            self.injected(),
            parts.join(", ")
        )
    }
}

/// How often and with what the proxy fails requests.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Out of 1000 requests, how many get a fault.
    pub per_mille: u64,
    pub seed: u64,
    /// The faults to draw from, evenly.
    pub kinds: &'static [Fault],
}

struct State {
    upstream: String,
    plan: Plan,
    rng: Mutex<u64>,
    stats: Arc<Stats>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl State {
    /// xorshift64*: deterministic per seed, no dependency.
    fn next(&self) -> u64 {
        let mut s = self.rng.lock().unwrap();
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick(&self) -> Option<Fault> {
        if self.next() % 1000 >= self.plan.per_mille {
            return None;
        }
        let kinds = self.plan.kinds;
        Some(kinds[(self.next() % kinds.len() as u64) as usize])
    }

    fn record(&self, f: Fault) {
        self.stats.counts[f as usize].fetch_add(1, Ordering::Relaxed);
    }
}

pub struct FaultProxy {
    pub endpoint: String,
    pub stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream` (`http://127.0.0.1:port`).
    pub async fn start(upstream: &str, plan: Plan) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            plan,
            rng: Mutex::new(plan.seed.max(1)),
            stats: stats.clone(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
                    // A connection that ends in an injected drop ends with an error: expected.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://{addr}"),
            stats,
            task,
        }
    }
}

type ProxyBody = BoxBody<Bytes, std::io::Error>;

fn full(b: impl Into<Bytes>) -> ProxyBody {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A body that yields its first half, then fails: the connection is cut mid-response.
struct Cut(Option<Bytes>);

impl Body for Cut {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.0.take() {
            Some(half) => Poll::Ready(Some(Ok(Frame::data(half)))),
            None => Poll::Ready(Some(Err(std::io::Error::other("injected: connection cut")))),
        }
    }
}

fn dropped() -> std::io::Error {
    std::io::Error::other("injected: connection dropped")
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, std::io::Error> {
    state.stats.requests.fetch_add(1, Ordering::Relaxed);
    let dynamodb = req.headers().contains_key("x-amz-target");
    if dynamodb {
        state
            .stats
            .dynamodb_requests
            .fetch_add(1, Ordering::Relaxed);
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let mut fault = state.pick();
    match fault {
        Some(Fault::ServerError) => {
            state.record(Fault::ServerError);
            return Ok(error_response(dynamodb, false));
        }
        Some(Fault::Throttle) => {
            state.record(Fault::Throttle);
            return Ok(error_response(dynamodb, true));
        }
        Some(Fault::DropBefore) => {
            state.record(Fault::DropBefore);
            return Err(dropped());
        }
        Some(Fault::Slow) => {
            state.record(Fault::Slow);
            let ms = 50 + state.next() % 350;
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        _ => {}
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut up = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{}{path}", state.upstream));
    for (k, v) in &parts.headers {
        up = up.header(k, v);
    }
    let up = up.body(Full::new(body)).map_err(std::io::Error::other)?;
    let resp = state
        .client
        .request(up)
        .await
        .map_err(std::io::Error::other)?;
    let (rparts, rbody) = resp.into_parts();
    let rbody = rbody
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if fault == Some(Fault::Truncate) && rbody.len() < 32 {
        fault = None; // nothing worth cutting: let it through
    }
    match fault {
        Some(Fault::DropAfter) => {
            state.record(Fault::DropAfter);
            Err(dropped())
        }
        Some(Fault::Truncate) => {
            state.record(Fault::Truncate);
            let half = rbody.slice(..rbody.len() / 2);
            Ok(Response::from_parts(rparts, Cut(Some(half)).boxed()))
        }
        _ => Ok(Response::from_parts(rparts, full(rbody))),
    }
}

fn error_response(dynamodb: bool, throttle: bool) -> Response<ProxyBody> {
    let (status, ctype, body) = match (dynamodb, throttle) {
        (true, true) => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
        ),
        (true, false) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#,
        ),
        (false, true) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>FAULT</RequestId></Error>",
        ),
        (false, false) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>FAULT</RequestId></Error>",
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(full(body))
        .unwrap()
}
