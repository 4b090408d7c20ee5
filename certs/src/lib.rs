//! Certificate authority and TLS settings shared by agent, controller and
//! CLI. Filled in by the TLS issue (rcgen for issuing, rustls for serving).
