//! Image and layer storage: content-addressed layers extracted safely into
//! a graph driver (overlay2 or vfs), and the images that reference them.

pub mod driver;
pub mod extract;
pub mod images;
pub mod layers;
pub mod reference;
pub mod trash;
