//! Dispatch: deliveries rendered and sent to the CRM, in order per call, with retries.

pub mod lanes;
