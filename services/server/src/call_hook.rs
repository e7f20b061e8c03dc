//! One tower layer for the code that watches every gRPC call from outside the services
//! (metrics, status corrections): a hook sees the request, then the response.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What a layer does around each call.
pub trait CallHook: Clone + Send + Sync + 'static {
    /// What `before` takes from the request for `after`.
    type Seen: Send + 'static;
    fn before<B>(&self, request: &http::Request<B>) -> Self::Seen;
    /// `response` is `None` when the transport failed.
    fn after<R>(&self, seen: Self::Seen, response: Option<&mut http::Response<R>>);
}

#[derive(Clone)]
pub struct HookLayer<H>(pub H);

impl<S, H: CallHook> tower_layer::Layer<S> for HookLayer<H> {
    type Service = Hooked<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        Hooked { inner, hook: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Hooked<S, H> {
    inner: S,
    hook: H,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, H, B, R> tower_service::Service<http::Request<B>> for Hooked<S, H>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    H: CallHook,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The ready service handles this call; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let hook = self.hook.clone();
        let seen = hook.before(&request);
        Box::pin(async move {
            let mut response = inner.call(request).await;
            hook.after(seen, response.as_mut().ok());
            response
        })
    }
}
