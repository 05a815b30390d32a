//! [`const_fn!`](crate::const_fn): one constructor, `const` where it can be.

/// Writes each constructor given once: as the `const fn` it is written as
/// in a build, and as a plain `fn` under `--cfg loom`, whose atomics cannot
/// be built in a `const`. Attributes (docs included) and visibility are
/// kept; a constructor has no generics of its own (its `impl` block may).
///
/// ```
/// # struct Flag(kernsync_primitive::atomic::AtomicBool);
/// impl Flag {
///     kernsync_primitive::const_fn! {
///         /// A flag that is down.
///         pub const fn new() -> Flag {
///             Flag(kernsync_primitive::atomic::AtomicBool::new(false))
///         }
///     }
/// }
/// ```
#[cfg(not(loom))]
#[doc(hidden)]
#[macro_export]
macro_rules! const_fn {
    ($($item:tt)*) => { $crate::__fn_with_qualifier! { [const] $($item)* } };
}

/// Under loom: the same constructors, not `const`.
#[cfg(loom)]
#[doc(hidden)]
#[macro_export]
macro_rules! const_fn {
    ($($item:tt)*) => { $crate::__fn_with_qualifier! { [] $($item)* } };
}

/// Emits `const fn` items with `const` replaced by the bracketed qualifier,
/// one at a time.
#[doc(hidden)]
#[macro_export]
macro_rules! __fn_with_qualifier {
    ([$($qualifier:tt)*]) => {};
    (
        [$($qualifier:tt)*]
        $(#[$attr:meta])*
        $vis:vis const fn $name:ident($($param:tt)*) -> $ret:ty $body:block
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        $vis $($qualifier)* fn $name($($param)*) -> $ret $body
        $crate::__fn_with_qualifier! { [$($qualifier)*] $($rest)* }
    };
}
