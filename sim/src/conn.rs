//! Access to the TCP connection under a request, so faults can drop it without answering.
//!
//! actix-web offers no way for a handler to abort its connection. `on_connect` sees the
//! socket, so we keep a duplicate of its descriptor in the connection's data; shutting that
//! down ends the real connection (a shutdown acts on the socket, not on one descriptor).

use std::any::Any;
use std::net::Shutdown;

use actix_web::dev::Extensions;
use actix_web::HttpRequest;

/// A duplicate handle of the request's TCP socket.
pub struct ConnSocket(std::net::TcpStream);

impl ConnSocket {
    /// Another handle to the same socket (for connections that outlive the request).
    pub fn try_clone(&self) -> Option<ConnSocket> {
        self.0.try_clone().ok().map(ConnSocket)
    }

    /// Ends the connection in both directions: the peer sees EOF with no answer.
    pub fn shutdown(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// The `HttpServer::on_connect` callback that stores a [`ConnSocket`].
pub fn on_connect(io: &dyn Any, data: &mut Extensions) {
    #[cfg(unix)]
    if let Some(stream) = io.downcast_ref::<actix_web::rt::net::TcpStream>() {
        use std::os::fd::AsFd;
        if let Ok(fd) = stream.as_fd().try_clone_to_owned() {
            data.insert(ConnSocket(std::net::TcpStream::from(fd)));
        }
    }
    #[cfg(not(unix))]
    let _ = (io, data);
}

/// Drops the request's connection; false when that is not possible on this platform.
pub fn drop_connection(req: &HttpRequest) -> bool {
    match req.conn_data::<ConnSocket>() {
        Some(sock) => {
            sock.shutdown();
            true
        }
        None => false,
    }
}
