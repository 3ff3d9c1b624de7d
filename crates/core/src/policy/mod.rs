//! The decisions. Each function's "why was this key touched?" is answered in one file here.

pub mod age;
pub mod age_email;
pub mod containment;
pub mod detector;
pub mod policies;
pub mod rotation;
pub mod sweep;
pub mod translator;
pub mod undo;
