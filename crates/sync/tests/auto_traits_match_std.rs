//! `Send`, `Sync`, `UnwindSafe` and `RefUnwindSafe` hold of each type
//! exactly when they hold of std's, for data types that have each or not.
#![allow(dead_code)]

use std::cell::{Cell, UnsafeCell};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::rc::Rc;

/// Whether `$t` has each auto trait: an inherent const exists only when
/// the bound holds and is found before the trait's default (`false`).
macro_rules! traits {
    ($t:ty) => {{
        use std::marker::PhantomData as P;
        trait No {
            const YES: bool = false;
        }
        struct IsSend<T: ?Sized>(P<T>);
        struct IsSync<T: ?Sized>(P<T>);
        struct IsUw<T: ?Sized>(P<T>);
        struct IsRuw<T: ?Sized>(P<T>);
        impl<T: ?Sized> No for IsSend<T> {}
        impl<T: ?Sized> No for IsSync<T> {}
        impl<T: ?Sized> No for IsUw<T> {}
        impl<T: ?Sized> No for IsRuw<T> {}
        impl<T: ?Sized + Send> IsSend<T> {
            const YES: bool = true;
        }
        impl<T: ?Sized + Sync> IsSync<T> {
            const YES: bool = true;
        }
        impl<T: ?Sized + UnwindSafe> IsUw<T> {
            const YES: bool = true;
        }
        impl<T: ?Sized + RefUnwindSafe> IsRuw<T> {
            const YES: bool = true;
        }
        [
            IsSend::<$t>::YES,
            IsSync::<$t>::YES,
            IsUw::<$t>::YES,
            IsRuw::<$t>::YES,
        ]
    }};
}

/// Asserts each kernsync type has the auto traits of its std twin.
macro_rules! same {
    ($($kern:ty => $std:ty),* $(,)?) => {
        $(
            assert_eq!(traits!($kern), traits!($std), "{}", stringify!($kern));
        )*
    };
}

macro_rules! for_data {
    ($($d:ty),*) => {
        $(
            same!(
                kernsync_sync::Mutex<$d> => std::sync::Mutex<$d>,
                kernsync_sync::MutexGuard<'static, $d> => std::sync::MutexGuard<'static, $d>,
                kernsync_sync::RwLock<$d> => std::sync::RwLock<$d>,
                kernsync_sync::RwLockReadGuard<'static, $d> => std::sync::RwLockReadGuard<'static, $d>,
                kernsync_sync::RwLockWriteGuard<'static, $d> => std::sync::RwLockWriteGuard<'static, $d>,
            );
        )*
    };
}

#[test]
fn auto_traits_of_locks_and_guards_match_std() {
    for_data!(
        u8,
        Cell<u8>,
        UnsafeCell<u8>,
        Rc<u8>,
        *mut u8,
        Vec<u8>,
        std::sync::MutexGuard<'static, u8>
    );
}

#[test]
fn auto_traits_of_condvar_and_wait_timeout_result_match_std() {
    same!(
        kernsync_sync::Condvar => std::sync::Condvar,
        kernsync_sync::WaitTimeoutResult => std::sync::WaitTimeoutResult,
    );
}

#[test]
fn auto_traits_of_once_cells_match_std() {
    macro_rules! cells {
        ($($d:ty),*) => {
            $(
                same!(
                    kernsync_sync::OnceLock<$d> => std::sync::OnceLock<$d>,
                    kernsync_sync::LazyLock<$d> => std::sync::LazyLock<$d>,
                    kernsync_sync::LazyLock<u8, $d> => std::sync::LazyLock<u8, $d>,
                    kernsync_sync::LazyLock<$d, Box<dyn FnOnce() -> $d>>
                        => std::sync::LazyLock<$d, Box<dyn FnOnce() -> $d>>,
                );
            )*
        };
    }
    cells!(
        u8,
        Cell<u8>,
        UnsafeCell<u8>,
        Rc<u8>,
        *mut u8,
        &'static mut u8,
        std::sync::MutexGuard<'static, u8>
    );
    same!(kernsync_sync::Once => std::sync::Once);
}

#[test]
fn the_probe_tells_traits_apart() {
    assert_eq!(traits!(u8), [true, true, true, true]);
    assert_eq!(traits!(Rc<u8>), [false, false, true, true]);
    assert_eq!(traits!(Cell<u8>), [true, false, true, false]);
    assert_eq!(traits!(&mut u8), [true, true, false, true]);
}
