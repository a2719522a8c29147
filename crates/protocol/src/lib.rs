//! Tickwire wire protocol.
