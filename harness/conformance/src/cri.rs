//! (Scaffolding: its owner replaces this.)
