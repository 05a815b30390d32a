//! [`checked_lock_impls!`](crate::checked_lock_impls): what every checked
//! lock type has whatever its kind, written once for `Mutex`, `RwSem` and
//! kernsync-percpu's `PercpuRwSem`.

/// Emits the kind-independent part of a checked lock type.
///
/// `$Lock(path::to::LockApiType, $Raw)` names a type
/// `$Lock<T: ?Sized> { inner: LockApiType<Checked<$Raw>, T> }` with a private
/// `fn raw(&self) -> &Checked<$Raw>`; `$Raw` has a `const fn new()`, and
/// `try = $try` is the method that takes the lock (shared, where there is a
/// shared mode) if it can at once. Emitted:
///
/// - `new` (of the caller's line), `named` (of the caller's line and a
///   name), `with_class` and `with_map`, all `const`, and `into_inner`;
/// - `get_mut`, `data_ptr`, `assert_held` and `assert_not_held`;
/// - `Default` and `From<T>`, both of the caller's line, and `Debug`, which
///   shows the data if `$try` gets it and `<locked>` otherwise.
///
/// The expanding crate depends on `kernsync_lockdep` (every lock crate does)
/// and on the lock_api whose path it names.
#[doc(hidden)]
#[macro_export]
macro_rules! checked_lock_impls {
    ($Lock:ident($($inner:ident)::+, $Raw:ty), try = $try:ident, kind = $KIND:path) => {
        impl<T> $Lock<T> {
            /// A lock holding `value`, of the class named by the caller's line.
            #[inline]
            #[track_caller]
            pub const fn new(value: T) -> $Lock<T> {
                $Lock::with_map(
                    value,
                    ::kernsync_lockdep::LockMap::at_site(::core::panic::Location::caller()),
                )
            }

            /// A lock holding `value`, of its own class named `name` in
            /// reports: the class is the caller's line *and* `name`, so two
            /// locks made at one line (a `#[derive(Default)]` struct's
            /// fields, a constructor helper) are of different classes when
            /// their names differ, and can be nested without annotation.
            #[inline]
            #[track_caller]
            pub const fn named(name: &'static str, value: T) -> $Lock<T> {
                $Lock::with_map(
                    value,
                    ::kernsync_lockdep::LockMap::at_site_named(::core::panic::Location::caller(), name),
                )
            }

            /// A lock holding `value`, with the validator handle `map` (a
            /// named or owned class, see [`LockMap`](::kernsync_lockdep::LockMap)),
            /// described to the validator as this type's lock unless `map`
            /// carries a description already (a type built on this one).
            #[inline]
            pub const fn with_map(value: T, map: ::kernsync_lockdep::LockMap) -> $Lock<T> {
                let map = map.or_kind(&$KIND);
                $Lock {
                    inner: $($inner)::+::from_raw($crate::Checked::with_map(<$Raw>::new(), map), value),
                }
            }

            /// What this type offers, as its reports' hints see it: every
            /// method it names exists on this type.
            pub const fn kind() -> &'static ::kernsync_lockdep::LockKind {
                &$KIND
            }

            /// A lock holding `value`, of class `class` (for statics, and for
            /// locks made in one place on behalf of many callers).
            #[inline]
            pub const fn with_class(
                value: T,
                class: &'static ::kernsync_lockdep::LockClass,
            ) -> $Lock<T> {
                $Lock::with_map(value, ::kernsync_lockdep::LockMap::new(class))
            }

            /// The data, consuming the lock.
            #[inline]
            pub fn into_inner(self) -> T {
                self.inner.into_inner()
            }
        }

        impl<T: ?Sized> $Lock<T> {
            /// The data, through the unique borrow (no locking needed).
            #[inline]
            pub fn get_mut(&mut self) -> &mut T {
                self.inner.get_mut()
            }

            /// A raw pointer to the data, without locking: dereferencing it is
            /// the caller's responsibility (as with parking_lot's `data_ptr`).
            #[inline]
            pub fn data_ptr(&self) -> *mut T {
                self.inner.data_ptr()
            }

            /// Reports unless the current thread holds this lock
            /// (`lockdep_assert_held`).
            #[inline]
            #[track_caller]
            pub fn assert_held(&self) {
                self.raw().map().assert_held();
            }

            /// Reports if the current thread holds this lock.
            #[inline]
            #[track_caller]
            pub fn assert_not_held(&self) {
                self.raw().map().assert_not_held();
            }
        }

        impl<T: Default> Default for $Lock<T> {
            /// A lock of `T::default()`, of the class named by the caller's line.
            #[inline]
            #[track_caller]
            fn default() -> $Lock<T> {
                $Lock::new(T::default())
            }
        }

        impl<T> From<T> for $Lock<T> {
            #[inline]
            #[track_caller]
            fn from(value: T) -> $Lock<T> {
                $Lock::new(value)
            }
        }

        impl<T: ?Sized + ::core::fmt::Debug> ::core::fmt::Debug for $Lock<T> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let mut d = f.debug_struct(stringify!($Lock));
                match self.$try() {
                    Some(guard) => d.field("data", &&*guard),
                    None => d.field("data", &format_args!("<locked>")),
                };
                d.finish()
            }
        }
    };
}
