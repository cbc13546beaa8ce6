//! What the op modules share: the input checks of their entry points
//! ([`check`]) and the precision their CPU kernels compute in
//! ([`precision`]).

pub(crate) mod check;
pub(crate) mod precision;
