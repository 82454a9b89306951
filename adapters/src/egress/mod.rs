//! The egress policy: the one gate every outbound destination a tenant can influence passes
//! before Switchboard connects to it or hands it to a platform: the SMTP server of an smtp
//! integration, attachment URLs, and the `api_base` (and OAuth base) overrides of the HTTP
//! senders.
//!
//! - [`EgressPolicy`] holds the rules ([`address`]) and the operator's allow-list
//!   ([`allow_list`]); it is built from the allow-list text, e.g.
//!   `EgressPolicy::from_config(Some("127.0.0.0/8,[::1]/128,mail.example:2525"))`, and the
//!   default policy allows nothing special: public addresses over https only.
//! - [`EgressHttp`] is the HTTP client pair the senders use: it checks every URL, resolves
//!   host names through the policy ([`PolicyResolver`]) so the checked addresses are the ones
//!   connected to, follows no redirects and has timeouts; [`read_capped`] reads bodies with a
//!   ceiling.
//! - [`EgressPolicy::resolve`] gives the checked socket addresses for non-HTTP protocols
//!   (SMTP connects to them); [`EgressPolicy::mail_tls`] the roots mail servers' certificates
//!   are verified against ([`MailTls`], with the operator's private CAs).
//!
//! A refusal is an [`EgressDenied`] whose text names the reason, e.g. "address 127.0.0.1 is
//! loopback and not in the egress allow-list"; senders report it as a permanent failure.

pub mod address;
pub mod allow_list;
pub mod body;
pub mod http;
pub mod lookup;
pub mod mail_tls;
pub mod policy;
pub mod resolver;

pub use allow_list::{AllowList, AllowListError};
pub use body::{read_capped, BodyError, MAX_RESPONSE_BYTES};
pub use http::EgressHttp;
pub use lookup::{Lookup, StaticLookup, SystemLookup};
pub use mail_tls::{MailTls, MailTlsError};
pub use policy::{denial_in, EgressDenied, EgressError, EgressPolicy, Route};
pub use resolver::PolicyResolver;
