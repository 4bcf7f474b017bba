//! The HTTP side of `serve`: hyper (HTTP/1.1) under an axum router, on a tokio runtime of its
//! own.
//!
//! * `service`: one request, from the token check to the plugin thread and back.
//! * `body`: reading a body under its size cap and timeouts.
//! * `dashboard`: the dashboard's embedded files.
//! * `events`: `GET /events`, the server-sent event stream of plugin signals.
//!
//! Slow or hostile clients cost an idle task each, never a thread: headers must arrive within
//! [`HttpOptions::header_timeout`], a body within [`HttpOptions::body_deadline`] with no gap
//! longer than [`HttpOptions::body_idle_timeout`] (tower-http), and at most
//! [`HttpOptions::max_in_flight`] requests are in progress (tower's global concurrency
//! limit). Plugin work runs on at most [`HttpOptions::plugin_threads`] blocking threads.
//!
//! Shutdown: [`HttpServer::drain`] waits for the plugin work in hand while new requests are
//! answered 503 `shutting-down`; [`HttpServer::stop`] then stops accepting, lets every
//! connection finish its response and closes it.

mod body;
pub mod dashboard;
pub mod events;
mod service;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::oneshot;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::timeout::RequestBodyTimeoutLayer;

pub use body::BodyLimits;

use super::api::MAX_BODY_BYTES;
use super::shared::Shared;

/// How the HTTP server is set up.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Where to listen.
    pub listen: String,
    /// Threads that run plugin work (RPC calls, admin changes).
    pub plugin_threads: usize,
    /// A request's headers must arrive within this.
    pub header_timeout: Duration,
    /// Longest gap between two chunks of a body.
    pub body_idle_timeout: Duration,
    /// A whole body must arrive within this.
    pub body_deadline: Duration,
    /// Most requests in progress at once (more wait for a slot).
    pub max_in_flight: usize,
    /// How long a stop waits for open connections to finish their responses.
    pub close_grace: Duration,
}

impl Default for HttpOptions {
    /// Loopback on the default port, 4 plugin threads, 5 s for headers, 5 s between body
    /// chunks, 10 s for a whole body, 512 requests in progress, 5 s to close.
    fn default() -> Self {
        HttpOptions {
            listen: super::DEFAULT_LISTEN.into(),
            plugin_threads: 4,
            header_timeout: Duration::from_secs(5),
            body_idle_timeout: Duration::from_secs(5),
            body_deadline: Duration::from_secs(10),
            max_in_flight: 512,
            close_grace: Duration::from_secs(5),
        }
    }
}

/// A running HTTP server.
pub struct HttpServer {
    addr: SocketAddr,
    in_flight: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `options.listen` and serves `shared` on a runtime thread of its own.
    pub fn start(shared: Arc<Shared>, options: &HttpOptions) -> anyhow::Result<HttpServer> {
        let listener = std::net::TcpListener::bind(&options.listen)
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(options.plugin_threads.max(1))
            .thread_name("slo-host-http")
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start the HTTP runtime")?;
        let in_flight = Arc::new(AtomicUsize::new(0));
        let app = service::App {
            shared,
            limits: BodyLimits {
                max_bytes: MAX_BODY_BYTES,
                deadline: options.body_deadline,
            },
            in_flight: in_flight.clone(),
        };
        let (stop, stopped) = oneshot::channel();
        let options = options.clone();
        let thread = std::thread::Builder::new()
            .name("slo-host-http-main".into())
            .spawn(move || runtime.block_on(serve(listener, app, options, stopped)))?;
        Ok(HttpServer {
            addr,
            in_flight,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits at least `linger` and until no request is doing plugin work (at most `limit`).
    /// Call it after shutdown began: new requests are then answered 503 `shutting-down`, and
    /// the linger lets clients already on their way get that answer instead of a closed
    /// socket.
    pub fn drain(&self, linger: Duration, limit: Duration) {
        let started = Instant::now();
        let until = started + limit;
        while (started.elapsed() < linger || self.in_flight.load(Ordering::SeqCst) > 0)
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops accepting connections, lets open ones finish their responses (within the close
    /// grace), and stops the runtime.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The accept loop: one hyper connection task per client until told to stop, then a graceful
/// close of every connection.
async fn serve(
    listener: std::net::TcpListener,
    app: service::App,
    options: HttpOptions,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("the HTTP listener could not be registered: {e}");
            return;
        }
    };
    let router = axum::Router::new()
        .fallback(service::handle)
        .with_state(app);
    let service = ServiceBuilder::new()
        .layer(GlobalConcurrencyLimitLayer::new(
            options.max_in_flight.max(1),
        ))
        .layer(RequestBodyTimeoutLayer::new(options.body_idle_timeout))
        .service(router);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors, say: wait a little rather than spin.
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = http.serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service.clone()),
                );
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("a connection ended with an error: {e}");
                    }
                });
            }
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(options.close_grace) => {
            tracing::warn!("some connections were still open after {:?}; closing them", options.close_grace);
        }
    }
}
