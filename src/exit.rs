//! Exit statuses (sysexits.h), documented in the README and the man page.

pub const OK: u8 = 0;
/// `import`: something of the old configuration could not be carried over (each is listed).
pub const INCOMPLETE: u8 = 1;
pub const USAGE: u8 = 64;
pub const DATA_ERR: u8 = 65;
pub const UNAVAILABLE: u8 = 69;
pub const CANT_CREATE: u8 = 73;
pub const IO_ERR: u8 = 74;
pub const TEMP_FAIL: u8 = 75;
pub const PROTOCOL: u8 = 76;
pub const NO_PERM: u8 = 77;
pub const CONFIG: u8 = 78;
/// `fetch` stopped by SIGINT (128 + 2, as shells report it).
pub const INTERRUPTED: u8 = 130;
/// `fetch` stopped by SIGTERM (128 + 15).
pub const TERMINATED: u8 = 143;
