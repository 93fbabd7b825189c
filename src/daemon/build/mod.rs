//! `POST /build`: the classic builder. A tar context in, an image out.
