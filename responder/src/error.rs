//! Errors of the responder library.

/// What can stop the responder from starting or from answering.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lab or its database.
    #[error(transparent)]
    Lab(#[from] testca::Error),
    /// A lab file that cannot be read, or a lab that is not there.
    #[error(transparent)]
    Labcore(#[from] labcore::Error),
    /// A signer's key and certificate do not fit together.
    #[error("signer: {0}")]
    Signer(#[from] crate::signer::SignerError),
    /// A certificate did not parse.
    #[error("certificate: {0}")]
    Der(#[from] der::Error),
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// Building a response failed.
    #[error("building a response: {0}")]
    Response(#[from] crate::response::ResponseError),
    /// The listening socket.
    #[error("cannot listen on {addr}: {source}; is another process using the port? Pass --listen")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result with the responder's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
