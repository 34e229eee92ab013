//! # Referees for the course's exercises
//!
//! Every chapter in `docs/` ends with exercises. Each exercise whose
//! result can be seen from outside (a status code, a header, a close code,
//! an echo) has a *referee* here: a test that fails until the exercise is
//! done, and passes when it is done right. They are `#[ignore]`d, so
//! `cargo test` stays green while nobody has done them; a student runs one
//! by name:
//!
//! ```text
//! cargo test --test exercises -- --ignored ch03_ex2
//! ```
//!
//! A referee talks to the real server over real sockets (the helpers in
//! `tests/common/`), or uses public items that exist today, so this file
//! compiles before any exercise is done. It checks the whole requirement,
//! including what must *not* change: a subprotocol for `/echo` must not
//! leak to `/chat`.
//!
//! `tests/exercises.sh` keeps the referees honest: it runs them all on the
//! current tree and expects every one to fail, then applies the reference
//! solutions kept in `tests/exercises/solutions/` (never in `src/`, never
//! in the docs) to a copy of the tree and expects their referees to pass.
//!
//! The one test here that is not ignored, `every_exercise_names_its_referee`,
//! checks that the chapters and this folder agree.

#[path = "../common/mod.rs"]
mod common;

mod ch01;
mod ch02;
mod ch03;
mod ch04;
mod ch05;
mod ch06;
mod ch07;
mod ch08;
mod ch10;
mod chapters;
mod site;
mod wire;
