//! The image builder. So far: the Dockerfile word layer ([`words`]), which
//! gives instruction arguments Docker's quoting, escaping and variable
//! expansion on top of the `parse-dockerfile` parser.

pub mod words;
