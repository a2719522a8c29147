pub mod arena;
pub mod world;
