//! Requests that are not valid protobuf (bytes that do not decode, a string field that is
//! not UTF-8) are the caller's fault: tonic answers them INTERNAL, this layer makes them
//! INVALID_ARGUMENT with tonic's description of the field at fault.

use http::HeaderValue;

use crate::call_hook::{CallHook, HookLayer};

/// What tonic's codec says when a request message does not decode.
const DECODE_FAILURE: &str = "failed to decode Protobuf message";

/// The hook behind [`DecodeErrorsLayer`].
#[derive(Clone, Copy, Default)]
pub struct DecodeErrors;

pub type DecodeErrorsLayer = HookLayer<DecodeErrors>;

pub fn decode_errors_layer() -> DecodeErrorsLayer {
    HookLayer(DecodeErrors)
}

impl CallHook for DecodeErrors {
    type Seen = ();

    fn before<B>(&self, _request: &http::Request<B>) {}

    fn after<R>(&self, (): (), response: Option<&mut http::Response<R>>) {
        if let Some(response) = response {
            reclassify(response.headers_mut());
        }
    }
}

/// Rewrites a trailers-only INTERNAL decode failure (the status sits in the headers) to
/// INVALID_ARGUMENT naming the request.
fn reclassify(headers: &mut http::HeaderMap) {
    let internal = headers.get("grpc-status").is_some_and(|v| v == "13");
    let message = headers.get("grpc-message").and_then(|v| v.to_str().ok()).map(percent_decode);
    if let (true, Some(message)) = (internal, message)
        && message.starts_with(DECODE_FAILURE)
    {
        let text = format!("request: not a valid message ({message})");
        headers.insert("grpc-status", HeaderValue::from_static("3"));
        if let Ok(value) = HeaderValue::from_str(&percent_encode(&text)) {
            headers.insert("grpc-message", value);
        }
    }
}

/// The grpc-message header is percent-encoded (gRPC over HTTP/2, "Responses").
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' '..=b'~' if b != b'%' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_failures_become_invalid_argument() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("13"));
        let message =
            percent_encode("failed to decode Protobuf message: IngestMessageRequest.text: invalid string");
        headers.insert("grpc-message", HeaderValue::from_str(&message).unwrap());
        reclassify(&mut headers);
        assert_eq!(headers["grpc-status"], "3");
        let text = percent_decode(headers["grpc-message"].to_str().unwrap());
        assert!(text.starts_with("request: not a valid message (failed to decode"), "{text}");
        assert!(text.contains("IngestMessageRequest.text"), "{text}");
    }

    #[test]
    fn other_internal_errors_stay() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("13"));
        headers.insert("grpc-message", HeaderValue::from_static("store%20failed"));
        reclassify(&mut headers);
        assert_eq!(headers["grpc-status"], "13");
        assert_eq!(percent_decode("a%20b%25c%"), "a b%c%");
    }
}
