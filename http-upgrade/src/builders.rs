//! `with_*` builder methods for `#[non_exhaustive]` settings structs, for
//! this family's crates (not part of the public API).

/// Generates, for each `field: Type => with_field;`, a method
/// `with_field(self, value: Type) -> Self` that sets the field and returns
/// the struct: what code outside the crate uses instead of a struct
/// literal, which `#[non_exhaustive]` forbids.
#[doc(hidden)]
#[macro_export]
macro_rules! with_builders {
    ($ty:ident { $($field:ident: $fty:ty => $with:ident;)* }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](", stringify!($ty), "::", stringify!($field), ").")]
                #[must_use]
                pub fn $with(mut self, value: $fty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}
