//! The libraries Redis adds to Lua: cjson, struct, cmsgpack and bit, written in Rust over
//! the C API with the behaviour (and error texts) of the C libraries Redis bundles.

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

use std::ffi::CStr;

use super::ffi::*;

/// Opens every library as a global table.
pub(crate) unsafe fn open_all(l: State) {
    unsafe {
        register(l, c"cjson", cjson::FUNCTIONS);
        cjson::add_null(l);
        register(l, c"struct", structlib::FUNCTIONS);
        register(l, c"cmsgpack", cmsgpack::FUNCTIONS);
        register(l, c"bit", bit::FUNCTIONS);
    }
}

pub(crate) type Functions = &'static [(&'static CStr, lua_CFunction)];

unsafe fn register(l: State, name: &CStr, fns: Functions) {
    unsafe {
        lua_newtable(l);
        for (n, f) in fns {
            lua_pushcfunction(l, *f);
            set_field(l, -1, n);
        }
        lua_setglobal(l, name.as_ptr());
    }
}
