//! WebSocket compression extensions (RFC 7692 permessage-deflate, deflate-frame, deflate-stream).
#![cfg_attr(not(feature = "std"), no_std)]
